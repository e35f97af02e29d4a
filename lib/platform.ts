/**
 * What a platform target declares: the disk format it ships, the arches and sector sizes it
 * accepts, its default compression and, for clouds, the schema of its upload options. Each
 * platform is one module in targets/ exporting one of these; targets/index.ts lists them.
 */
import type { z } from 'zod';
import type { Arch } from './artifacts.ts';
import type { CloudUploader } from './cloud/upload.ts';
import type { ToolExec } from './tools/tool-exec.ts';

/** Compressions a platform image may be shipped with. */
export const COMPRESSIONS = ['none', 'gzip', 'xz', 'zstd'] as const;
/** One of {@link COMPRESSIONS}. */
export type Compression = (typeof COMPRESSIONS)[number];

/** Disk formats produced from the raw disk. */
export type DiskFormat = 'raw' | 'qcow2' | 'vmdk' | 'vhd' | 'gce-tar' | 'ova';

/** What a platform's {@link PlatformTarget.convert} gets from the PlatformImage runner. */
export interface ConvertRequest {
  /** Runs a tool (logged, cancellable). */
  readonly exec: ToolExec;
  /** The raw disk, already set up for the platform (kernel arguments, console); convert may move or delete it. */
  readonly rawDisk: string;
  /** The file to write: the image, uncompressed, with its final name (`<os>-<version>-<platform>.<arch>.<ext>`). */
  readonly output: string;
  /** An empty scratch directory. */
  readonly workDir: string;
  /** Architecture of the disk. */
  readonly arch: Arch;
  /** Size of the raw disk in bytes. */
  readonly diskSize: number;
  /** OS name (`fedora-coreos`), for descriptors that name the product (OVF). */
  readonly osName: string;
  /** The build's version (`41.20231114.0`). */
  readonly version: string;
  /** Seconds since the epoch to stamp where a format records a time (the commit's time). */
  readonly timestamp: number;
  /** A string unique to this disk and platform, to derive the ids a format wants random (VHD UUID, VMDK CID). */
  readonly seed: string;
}

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
  /**
   * The platform's id for Ignition and coreos-assembler (`ignition.platform.id=`, the key of
   * targets/platforms.yaml, the image's file name), where it differs from `name` (gce: `gcp`).
   * @default name
   */
  readonly ignitionPlatformId?: string;
  /** Writes the platform's image file from the platform's raw disk (PlatformImage's runner calls it). */
  readonly convert: (request: ConvertRequest) => Promise<void>;
  /** For clouds: the schema of Upload's `options`. Absent: the platform cannot be uploaded. */
  readonly uploadOptions?: z.ZodType<Record<string, unknown>, Record<string, unknown>>;
  /** For clouds: how Upload finds (by digest) and uploads an image; it loads the cloud's SDK itself. */
  readonly uploader?: CloudUploader;
}
