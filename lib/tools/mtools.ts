/**
 * mtools: filling a FAT image without mounting it. Quirks handled here (mtools 4.0.33): directory
 * entries get the clock's time unless SOURCE_DATE_EPOCH is set, file entries the source's mtime
 * with `-m`, and both are written in local time, so TZ is pinned to UTC.
 */
import { utimes } from 'node:fs/promises';
import type { ToolExec } from '../exec.ts';

/** A file to copy into a FAT image. */
export interface FatFile {
  /** The file on the host. */
  readonly source: string;
  /** Absolute path in the image (`/EFI/BOOT/BOOTX64.EFI`). */
  readonly destination: string;
}

/** Options of {@link copyIntoFat}. */
export interface CopyIntoFatOptions {
  /** The FAT image file. */
  readonly image: string;
  /** Directories to create, parents first (`/EFI`, `/EFI/BOOT`). */
  readonly directories: readonly string[];
  /** Files to copy (their mtime is set to `timestamp` first). */
  readonly files: readonly FatFile[];
  /** Seconds since the epoch recorded on every entry. */
  readonly timestamp: number;
}

/** Creates directories and copies files into a FAT image with fixed times (mmd, mcopy -m). */
export async function copyIntoFat(exec: ToolExec, options: CopyIntoFatOptions): Promise<void> {
  const env = { SOURCE_DATE_EPOCH: String(options.timestamp), TZ: 'UTC' };
  if (options.directories.length > 0) {
    await exec('mmd', ['-i', options.image, ...options.directories.map((directory) => `::${directory}`)], {
      env,
    });
  }
  for (const file of options.files) {
    await utimes(file.source, options.timestamp, options.timestamp);
    await exec('mcopy', ['-m', '-i', options.image, file.source, `::${file.destination}`], { env });
  }
}
