/**
 * DiskImage: an ostree commit deployed into a raw GPT disk with the Fedora CoreOS layout
 * (BIOS-BOOT on x86_64, EFI-SYSTEM, boot, root), bootable by BIOS and UEFI. Built by runner.ts.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Arch, type Artifact, archSchema, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { kernelArgumentSchema, simpleNameSchema } from '../../lib/schemas.ts';
import { Step } from '../../lib/step.ts';

/** Props of {@link DiskImage}. */
export interface DiskImageProps {
  /** The ostree commit to deploy. */
  readonly commit: Artifact<'ostree-commit'>;
  /**
   * Architecture of the disk; must match the commit's.
   * @default the commit's architecture
   */
  readonly arch?: Arch;
  /**
   * Disk size in GiB (the root partition takes what the others leave).
   * @default 10 (fedora-coreos-config's image-base.yaml)
   */
  readonly sizeGiB?: number;
  /**
   * Kernel arguments added to the BLS entry, after the ones every FCOS image has.
   * @default ['mitigations=auto,nosmt'] (image-base.yaml's extra-kargs)
   */
  readonly kargs?: readonly string[];
  /**
   * Root filesystem. FCOS ships XFS; ext4 is the default here because mkfs.ext4 -d builds a
   * reproducible image without mounting, which mkfs.xfs's protofile does not.
   * @default 'ext4'
   */
  readonly rootFilesystem?: 'ext4' | 'xfs';
  /**
   * Logical sector size: 4096 gives the `metal4k` variant.
   * @default 512
   */
  readonly sectorSize?: 512 | 4096;
  /**
   * ostree stateroot (os name) of the deployment.
   * @default 'fedora-coreos'
   */
  readonly osName?: string;
}

const schema = z
  .object({
    commit: artifactSchema('ostree-commit'),
    arch: archSchema.optional(),
    sizeGiB: z.number().int().min(1).max(1024).default(10),
    kargs: z.array(kernelArgumentSchema).default(['mitigations=auto,nosmt']),
    rootFilesystem: z.enum(['ext4', 'xfs']).default('ext4'),
    sectorSize: z.union([z.literal(512), z.literal(4096)]).default(512),
    osName: simpleNameSchema.default('fedora-coreos'),
  })
  .strict()
  .transform((props) => ({ ...props, arch: props.arch ?? props.commit.attributes.arch }));

/** Parsed props of {@link DiskImage}. */
export type DiskImageConfig = z.output<typeof schema>;

/** The DiskImage kind. */
export const diskImageKind = defineKind({
  kind: 'DiskImage',
  version: 1,
  schema,
  resources: () => ({ class: 'io' }),
  runner: new URL('./runner.ts', import.meta.url),
});

/** A raw GPT disk with an ostree deployment. */
export class DiskImage extends Step<DiskImageProps, DiskImageConfig> {
  /** The raw disk. */
  readonly disk: Artifact<'disk-image'>;

  constructor(scope: Construct, id: string, props: DiskImageProps) {
    super(scope, id, diskImageKind, props);
    this.disk = this.addOutput('disk', 'disk-image', {
      arch: this.props.arch,
      sectorSize: this.props.sectorSize,
    });
    this.addCheck(() => {
      const commitArch = this.props.commit.attributes.arch;
      if (commitArch === this.props.arch) return [];
      return [
        this.issue(
          'arch',
          `the disk is for ${this.props.arch} but its commit (${this.props.commit.describe()}) is for ${commitArch}`,
        ),
      ];
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Runner: deploy the commit into a directory, make each filesystem from its part of the tree
// inside the disk file (no loop device, no mount), then the GPT and the bootloaders.
// ---------------------------------------------------------------------------------------------
