/**
 * xz, gzip and zstd with reproducible output. Measured (xz 5.4.1, zstd 1.5.4): xz's multi-threaded
 * output is the same for any number of threads from 2 up when the block size is fixed, but its
 * single-threaded output differs, so xz always runs at least 2 threads with `--block-size`; zstd's
 * output is the same for any `-T` (its frames carry no name or time); gzip drops the input's name
 * and time with `-n`. Each replaces FILE by FILE.<ext>, reading the content from stdin. {@link uncompressed} is the project's one
 * way back: it reads the compression from the file's magic bytes and runs the tool's `-dc`.
 */
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import type { ContentDigest } from '../cache/hash.ts';
import type { ToolExec } from '../exec.ts';
import type { Compression } from '../platform.ts';

/** File name extension each compression adds. */
export const COMPRESSION_EXTENSIONS: Readonly<Record<Exclude<Compression, 'none'>, string>> = {
  gzip: 'gz',
  xz: 'xz',
  zstd: 'zst',
};

/** A compressed file, and what went into it. */
export interface CompressedFile {
  /** FILE.<ext>, or FILE itself for none. */
  readonly path: string;
  /**
   * sha256 and size of the uncompressed content, taken as the compressor read it (undefined for
   * none: nothing read it).
   */
  readonly uncompressed: ContentDigest | undefined;
}

/** Each compressor reading stdin and writing stdout, with the settings that make its bytes reproducible. */
const COMPRESS_COMMANDS: Readonly<
  Record<Exclude<Compression, 'none'>, () => readonly [string, ...string[]]>
> = {
  gzip: () => ['gzip', '-n', '-6', '-c'],
  xz: () => ['xz', `--threads=${Math.max(2, availableParallelism())}`, '--block-size=16MiB', '-6', '-c'],
  zstd: () => ['zstd', '-q', '-T0', '-10', '-c'],
};

/**
 * Replaces `file` by FILE.<ext> compressed with `compression` (`file` itself for none). The
 * content reaches the compressor through this process, which hashes it on the way: an image's
 * uncompressed sha256 costs no pass of its own over a file of gigabytes.
 */
export async function compressFile(
  exec: ToolExec,
  file: string,
  compression: Compression,
): Promise<CompressedFile> {
  if (compression === 'none') return { path: file, uncompressed: undefined };
  const output = `${file}.${COMPRESSION_EXTENSIONS[compression]}`;
  const hash = createHash('sha256');
  let size = 0;
  // Opened first: a missing file is an error here, before any tool starts.
  const handle = await open(file, 'r');
  const content = handle.createReadStream({ highWaterMark: 1024 * 1024 });
  const hashed = content.pipe(
    new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    }),
  );
  // A read error ends the compressor's input early: its output is then incomplete, so the error
  // is what this call reports, whatever the tool made of the shortened input.
  let readError: Error | undefined;
  content.on('error', (error) => {
    readError = error;
    hashed.destroy(error);
  });
  hashed.on('error', (error) => {
    readError ??= error;
  });
  const [tool, ...toolArguments] = COMPRESS_COMMANDS[compression]();
  try {
    await exec(tool, toolArguments, { input: hashed, stdoutFile: output, quietStdout: true });
  } finally {
    content.destroy();
    await handle.close().catch(() => undefined);
  }
  if (readError) throw readError;
  await rm(file, { force: true });
  return { path: output, uncompressed: { digest: hash.digest('hex'), size } };
}

/** The compression of `file`, from its magic bytes (`none` for anything else). */
export async function detectCompression(file: string): Promise<Compression> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(6);
    await handle.read(head, 0, 6, 0);
    if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (head.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await handle.close();
  }
}

/** Decompressing command of each compression: `<tool> <args> -- FILE` writes the content to stdout. */
const DECOMPRESS_COMMANDS: Readonly<Record<Exclude<Compression, 'none'>, readonly [string, ...string[]]>> = {
  gzip: ['gzip', '-dc'],
  xz: ['xz', '-dc'],
  zstd: ['zstd', '-qdc'],
};

/**
 * `file` as its uncompressed content: `file` itself when it is not compressed (by its magic bytes),
 * else `<directory>/<name>`, written by xz, gzip or zstd run through `exec` with standard output to
 * that file (streamed: memory stays flat whatever the size; a read-only input is fine).
 */
export async function uncompressed(
  exec: ToolExec,
  file: string,
  directory: string,
  name: string,
): Promise<string> {
  const compression = await detectCompression(file);
  if (compression === 'none') return file;
  const target = path.join(directory, name);
  const [tool, ...args] = DECOMPRESS_COMMANDS[compression];
  await exec(tool, [...args, '--', file], { stdoutFile: target, quietStdout: true });
  return target;
}
