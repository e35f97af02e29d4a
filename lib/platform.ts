/**
 * What a platform target declares: the disk format it ships, the arches and sector sizes it
 * accepts, its default compression and, for clouds, the schema of its upload options. Each
 * platform is one module in targets/ exporting one of these; targets/index.ts lists them.
 */
import type { z } from 'zod';
import type { Arch } from './artifacts.ts';

/** Compressions a platform image may be shipped with. */
export const COMPRESSIONS = ['none', 'gzip', 'xz', 'zstd'] as const;
/** One of {@link COMPRESSIONS}. */
export type Compression = (typeof COMPRESSIONS)[number];

/** Disk formats produced from the raw disk. */
export type DiskFormat = 'raw' | 'qcow2' | 'vmdk' | 'vhd' | 'gce-tar' | 'ova';

/** A platform: the data every synthesis-time check needs. */
export interface PlatformTarget {
  /** Platform id, as in `ignition.platform.id=` and cosa's meta.json (`aws`, `qemu` ...). */
  readonly name: string;
  /** Disk format of the image. */
  readonly format: DiskFormat;
  /** File name extension of the uncompressed image (`qcow2`, `vmdk`, `tar.gz` ...). */
  readonly extension: string;
  /** Architectures Fedora CoreOS ships this platform for. */
  readonly arches: readonly Arch[];
  /** Logical sector sizes the platform boots from. */
  readonly sectorSizes: readonly (512 | 4096)[];
  /** Compressions that make sense on top of the format (a tar.gz is already compressed). */
  readonly compressions: readonly Compression[];
  /** Compression used when the PlatformImage does not say. */
  readonly defaultCompression: Compression;
  /** For clouds: the schema of Upload's `options`. Absent: the platform cannot be uploaded. */
  readonly uploadOptions?: z.ZodType<Record<string, unknown>, Record<string, unknown>>;
}
