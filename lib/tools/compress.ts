/**
 * xz, gzip and zstd with reproducible output. Measured (xz 5.4.1, zstd 1.5.4): xz's multi-threaded
 * output is the same for any number of threads from 2 up when the block size is fixed, but its
 * single-threaded output differs, so xz always runs at least 2 threads with `--block-size`; zstd's
 * output is the same for any `-T` (its frames carry no name or time); gzip drops the input's name
 * and time with `-n`. Each replaces FILE by FILE.<ext>.
 */
import { availableParallelism } from 'node:os';
import type { Compression } from '../platform.ts';
import type { ToolExec } from './tool-exec.ts';

/** File name extension each compression adds. */
export const COMPRESSION_EXTENSIONS: Readonly<Record<Exclude<Compression, 'none'>, string>> = {
  gzip: 'gz',
  xz: 'xz',
  zstd: 'zst',
};

/** Compresses `file` in place with `compression`; returns the new path (`file` itself for none). */
export async function compressFile(exec: ToolExec, file: string, compression: Compression): Promise<string> {
  switch (compression) {
    case 'none':
      return file;
    case 'gzip':
      await exec('gzip', ['-n', '-6', '--force', file]);
      break;
    case 'xz':
      await exec('xz', [
        `--threads=${Math.max(2, availableParallelism())}`,
        '--block-size=16MiB',
        '-6',
        '--force',
        file,
      ]);
      break;
    case 'zstd':
      await exec('zstd', ['-q', '-T0', '-10', '--rm', '--force', file]);
      break;
  }
  return `${file}.${COMPRESSION_EXTENSIONS[compression]}`;
}
