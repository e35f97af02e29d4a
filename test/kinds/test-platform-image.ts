/**
 * Test-only node kind: a platform image taken from a file the test made (a fake vmdk, VHD or
 * tarball), so that Upload can be run through the real executor without building a disk.
 */
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Arch, type Artifact, archSchema } from '../../lib/artifacts.ts';
import { registerRunner } from '../../lib/runner.ts';
import { Step, type StepKind } from '../../lib/step.ts';

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

type TestPlatformImageConfig = z.output<typeof schema>;

const testPlatformImageKind: StepKind<TestPlatformImageProps, TestPlatformImageConfig> = {
  kind: 'TestPlatformImage',
  version: 1,
  module: import.meta.url,
  schema,
  resources: () => ({ class: 'io' }),
};

/** A platform image copied from a file. */
export class TestPlatformImage extends Step<TestPlatformImageProps, TestPlatformImageConfig> {
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

registerRunner<TestPlatformImageConfig>({
  kind: 'TestPlatformImage',
  version: 1,
  async run(context) {
    const target = path.join(context.workDir, path.basename(context.props.file));
    await copyFile(context.props.file, target);
    return { image: { storage: 'file', path: target, metadata: { platform: context.props.platform } } };
  },
});
