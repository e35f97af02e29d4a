/**
 * LiveImage: Fedora CoreOS's bare-metal boot media of one commit, as coreos-assembler's
 * buildextend-live makes them: the PXE trio (kernel, initramfs, rootfs image holding the deployed
 * OS as a squashfs) and a hybrid live ISO that boots them from a CD or a USB stick under BIOS and
 * UEFI, with the metal images inside for offline installs and an embed area for an Ignition config
 * (`fcos-iso ignition embed`). Built by runner.ts.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import type { ValidationIssue } from '../../lib/errors.ts';
import { defineKind } from '../../lib/kind.ts';
import { kernelArgumentSchema, simpleNameSchema } from '../../lib/schemas.ts';
import { serialConsole } from '../../lib/serial-console.ts';
import { Step } from '../../lib/step.ts';

/** Props of {@link LiveImage}. */
export interface LiveImageProps {
  /** The ostree commit the live system runs. */
  readonly commit: Artifact<'ostree-commit'>;
  /** The metal image (512-byte sectors) of the same commit: coreos-installer's offline image. */
  readonly metal: Artifact<'platform-image'>;
  /**
   * The 4Kn metal image of the same commit, installed offline to disks with 4096-byte sectors.
   * @default none (such disks need --image-url or --stream)
   */
  readonly metal4k?: Artifact<'platform-image'>;
  /**
   * Kernel arguments of the live system, after `coreos.liveiso=`, `ignition.firstboot` and
   * `ignition.platform.id=metal`. The default shows the boot on a serial console too, as a server's
   * (and QEMU's) console is; Fedora CoreOS leaves that to `coreos-installer iso kargs modify`.
   * @default ['console=tty0', 'console=<the arch's serial console>'] (`ttyS0,115200n8` on x86_64,
   *   `ttyAMA0,115200n8` on aarch64)
   */
  readonly kargs?: readonly string[];
  /**
   * ostree stateroot (os name) of the deployment, and the files' name prefix.
   * @default 'fedora-coreos'
   */
  readonly osName?: string;
}

const schema = z
  .object({
    commit: artifactSchema('ostree-commit'),
    metal: artifactSchema('platform-image'),
    metal4k: artifactSchema('platform-image').optional(),
    kargs: z.array(kernelArgumentSchema),
    osName: simpleNameSchema.default('fedora-coreos'),
  })
  .strict();

/** Parsed props of {@link LiveImage}. */
export type LiveImageConfig = z.output<typeof schema>;

/** The LiveImage kind. */
export const liveImageKind = defineKind({
  kind: 'LiveImage',
  version: 1,
  schema: schema as unknown as z.ZodType<LiveImageConfig, LiveImageProps>,
  resources: () => ({ class: 'cpu' }),
  runner: new URL('./runner.ts', import.meta.url),
});

/** The live ISO and PXE artifacts of a commit. */
export class LiveImage extends Step<LiveImageProps, LiveImageConfig> {
  /** The directory of the four files (`<os>-<version>-live-iso.<arch>.iso`, `-live-kernel.<arch>` ...). */
  readonly live: Artifact<'live-image'>;

  constructor(scope: Construct, id: string, props: LiveImageProps) {
    // The default console is the commit's arch's serial console (checked as an artifact by the schema).
    const commitArch = (props.commit as Partial<Artifact<'ostree-commit'>> | undefined)?.attributes?.arch;
    super(scope, id, liveImageKind, {
      ...props,
      kargs: props.kargs ?? ['console=tty0', `console=${serialConsole(commitArch ?? 'x86_64')}`],
    });
    const { arch } = this.props.commit.attributes;
    this.live = this.addOutput('live', 'live-image', { arch });
    this.addCheck(() => {
      const issues: ValidationIssue[] = [];
      const images = [
        ['metal', this.props.metal, 512],
        ['metal4k', this.props.metal4k, 4096],
      ] as const;
      for (const [field, image, sectorSize] of images) {
        if (image === undefined) continue;
        const { platform, sectorSize: actual, arch: imageArch } = image.attributes;
        if (platform !== 'metal')
          issues.push(this.issue(field, `expected a metal image, got the ${platform} image`));
        if (actual !== sectorSize)
          issues.push(this.issue(field, `expected ${sectorSize}-byte sectors, got a ${actual}-byte image`));
        if (imageArch !== arch)
          issues.push(this.issue(field, `the image is for ${imageArch}, the commit for ${arch}`));
      }
      return issues;
    });
  }
}
