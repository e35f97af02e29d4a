/**
 * PlatformImage: the raw disk with `ignition.platform.id=<platform>` and the platform's kernel
 * arguments and console settings, converted to the platform's format (targets/<platform>/).
 * Synthesis records in the node's props what the runner needs of the platform (format, extension,
 * Ignition id, compressions, OVA settings), so runner.ts needs no platform registry.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { COMPRESSIONS, type Compression, type DiskFormat, type Platform } from '../../lib/platform.ts';
import { Step } from '../../lib/step.ts';
import { findPlatform, platformNames } from '../../targets/index.ts';

/** Props of {@link PlatformImage}. */
export interface PlatformImageProps {
  /** The raw disk to convert. */
  readonly disk: Artifact<'disk-image'>;
  /** Platform name: a built-in one of targets/ (`qemu`, `metal`, `aws`, `azure`, `gce` ...) or a registered one. */
  readonly platform: string;
  /**
   * Compression of the shipped file.
   * @default the platform's default (none for most; gzip for digitalocean)
   */
  readonly compression?: Compression;
}

/** What the runner needs of the platform, recorded in the node's props at synthesis (plain JSON). */
export type PlatformImageTarget = {
  /** Disk format (picks the converter). */
  readonly format: DiskFormat;
  /** File name extension of the uncompressed image. */
  readonly extension: string;
  /** `ignition.platform.id=`, the platforms table's key and the file name's platform. */
  readonly ignitionPlatformId: string;
  /** Compressions the platform allows (one, `none`, means the image is shipped as it is). */
  readonly compressions: Compression[];
  /** OVA settings (ova format only). */
  readonly ova?: { readonly osType: string; readonly hardwareVersion: number };
};

/** The part of `platform` a PlatformImage's runner needs. */
export function platformImageTarget(platform: Platform): PlatformImageTarget {
  return {
    format: platform.format,
    extension: platform.extension,
    ignitionPlatformId: platform.ignitionPlatformId,
    compressions: [...platform.compressions],
    ...(platform.ova ? { ova: { ...platform.ova } } : {}),
  };
}

const schema = z
  .object({
    disk: artifactSchema('disk-image'),
    platform: z.string().refine((name) => findPlatform(name) !== undefined, {
      error: (issue) =>
        `unknown platform ${JSON.stringify(issue.input)}; known: ${platformNames().join(', ')}`,
    }),
    compression: z.enum(COMPRESSIONS).optional(),
  })
  .strict()
  .transform((props) => {
    const platform = findPlatform(props.platform)!;
    return {
      ...props,
      compression: props.compression ?? platform.defaultCompression,
      target: platformImageTarget(platform),
    };
  });

/** Parsed props of {@link PlatformImage}. */
export type PlatformImageConfig = z.output<typeof schema>;

/** The PlatformImage kind. */
export const platformImageKind = defineKind({
  kind: 'PlatformImage',
  // v2: the platform's data is recorded in the props (`target`).
  version: 2,
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
    const target = findPlatform(this.props.platform)!;
    this.image = this.addOutput('image', 'platform-image', {
      arch,
      platform: this.props.platform,
      sectorSize,
    });
    this.addCheck(() => {
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
