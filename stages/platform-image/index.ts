/**
 * PlatformImage: the raw disk with `ignition.platform.id=<platform>` and the platform's kernel
 * arguments and console settings, converted to the platform's format (targets/<platform>/).
 * Made by runner.ts.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { COMPRESSIONS, type Compression } from '../../lib/platform.ts';
import { Step } from '../../lib/step.ts';
import { findPlatform, PLATFORM_NAMES } from '../../targets/index.ts';

/** Props of {@link PlatformImage}. */
export interface PlatformImageProps {
  /** The raw disk to convert. */
  readonly disk: Artifact<'disk-image'>;
  /** Platform id: one of the modules in targets/ (`qemu`, `metal`, `aws`, `azure`, `gce` ...). */
  readonly platform: string;
  /**
   * Compression of the shipped file.
   * @default the platform's default (none for most; gzip for digitalocean)
   */
  readonly compression?: Compression;
}

const schema = z
  .object({
    disk: artifactSchema('disk-image'),
    platform: z.string().refine((name) => findPlatform(name) !== undefined, {
      error: (issue) =>
        `unknown platform ${JSON.stringify(issue.input)}; known: ${PLATFORM_NAMES.join(', ')}`,
    }),
    compression: z.enum(COMPRESSIONS).optional(),
  })
  .strict()
  .transform((props) => ({
    ...props,
    compression: props.compression ?? findPlatform(props.platform)!.defaultCompression,
  }));

/** Parsed props of {@link PlatformImage}. */
export type PlatformImageConfig = z.output<typeof schema>;

/** The PlatformImage kind. */
export const platformImageKind = defineKind({
  kind: 'PlatformImage',
  version: 1,
  schema,
  resources: () => ({ class: 'io' }),
  runner: new URL('./runner.ts', import.meta.url),
});

/** A disk image for one platform. */
export class PlatformImage extends Step<PlatformImageProps, PlatformImageConfig> {
  /** The platform image file. */
  readonly image: Artifact<'platform-image'>;

  constructor(scope: Construct, id: string, props: PlatformImageProps) {
    super(scope, id, platformImageKind, props);
    const { arch, sectorSize } = this.props.disk.attributes;
    this.image = this.addOutput('image', 'platform-image', {
      arch,
      platform: this.props.platform,
      sectorSize,
    });
    this.addCheck(() => {
      const target = findPlatform(this.props.platform)!;
      const issues = [];
      if (!target.arches.includes(arch)) {
        issues.push(
          this.issue(
            'platform',
            `${target.name} does not support ${arch} (it supports ${target.arches.join(', ')})`,
          ),
        );
      }
      if (!target.sectorSizes.includes(sectorSize)) {
        issues.push(
          this.issue(
            'disk',
            `${target.name} does not boot from ${sectorSize}-byte sectors; use a 512-byte DiskImage`,
          ),
        );
      }
      if (!target.compressions.includes(this.props.compression)) {
        issues.push(
          this.issue(
            'compression',
            `${target.name} images cannot be compressed with ${this.props.compression} (allowed: ${target.compressions.join(', ')})`,
          ),
        );
      }
      return issues;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Runner: a sparse copy of the disk, the platform's kernel arguments and console written into
// its boot partition with debugfs (no mount), the platform's conversion, then compression.
// ---------------------------------------------------------------------------------------------
