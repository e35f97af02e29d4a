/**
 * Test-only node kind: a platform image taken from a file the test made (a fake vmdk, VHD or
 * tarball), so that Upload can be run through the real executor without building a disk.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Arch, type Artifact, archSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';

/** Props of {@link TestPlatformImage}. */
export interface TestPlatformImageProps {
  /** Absolute path of the image file. */
  readonly file: string;
  /** Platform of the image. */
  readonly platform: string;
  /**
   * Architecture of the image.
   * @default 'x86_64'
   */
  readonly arch?: Arch;
}

const schema = z
  .object({ file: z.string().min(1), platform: z.string().min(1), arch: archSchema.default('x86_64') })
  .strict();

/** The TestPlatformImage kind. */
export const testPlatformImageKind = defineKind({
  kind: 'TestPlatformImage',
  version: 1,
  schema,
  resources: () => ({ class: 'io' }),
  runner: new URL('./test-platform-image-runner.ts', import.meta.url),
});

/** A platform image copied from a file. */
export class TestPlatformImage extends Step<TestPlatformImageProps, z.output<typeof schema>> {
  /** The image. */
  readonly image: Artifact<'platform-image'>;

  constructor(scope: Construct, id: string, props: TestPlatformImageProps) {
    super(scope, id, testPlatformImageKind, props);
    this.image = this.addOutput('image', 'platform-image', {
      arch: this.props.arch,
      platform: this.props.platform,
      sectorSize: 512,
    });
  }
}
