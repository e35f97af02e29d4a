/**
 * sha256 of files and byte strings. Digests are lowercase hex without an algorithm prefix; files
 * are streamed in bounded memory (see {@link forEachChunk}). A file is read once per process while
 * it is unchanged: a runner that hashes its output (an image's sha256 goes into its metadata) and
 * the cache that stores it would otherwise read a 10 GiB image twice. Unchanged means the same
 * inode with the same size, mtime and ctime to the nanosecond; ctime cannot be set from user space,
 * so a rewrite that restores the mtime is still seen.
 */
import { createHash } from 'node:crypto';
import { type BigIntStats, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { forEachChunk } from './chunked-read.ts';
import { InvalidDigestError } from './errors.ts';

/** A sha256 digest: 64 lowercase hex digits. */
export const DIGEST_PATTERN = /^[0-9a-f]{64}$/;

/** The digest and byte count of some content. */
export interface ContentDigest {
  /** sha256, lowercase hex. */
  readonly digest: string;
  /** Size in bytes. */
  readonly size: number;
}

/** Whether `value` has the form of a sha256 digest. */
export function isDigest(value: string): boolean {
  return DIGEST_PATTERN.test(value);
}

/** Throws {@link InvalidDigestError} unless `value` has the form of a sha256 digest. */
export function assertDigest(value: string): void {
  if (!isDigest(value)) throw new InvalidDigestError(value);
}

/** sha256 of a string (as UTF-8) or bytes. */
export function sha256Bytes(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Files this process hashed, by device and inode: their stats then, and their content. */
const hashedHere = new Map<string, { readonly stamp: string; readonly content: ContentDigest }>();

/** Bytes read by {@link sha256File} in this process. */
let bytesRead = 0;

/** Key of a file in {@link hashedHere}. */
function inodeOf(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}`;
}

/** What only a change of the file moves: size, mtime and ctime in nanoseconds. */
function stampOf(stats: BigIntStats): string {
  return `${stats.size} ${stats.mtimeNs} ${stats.ctimeNs}`;
}

/** The content of `stats`' file if this process hashed it and it has not changed since. */
function knownFor(stats: BigIntStats): ContentDigest | undefined {
  const known = hashedHere.get(inodeOf(stats));
  return known?.stamp === stampOf(stats) ? known.content : undefined;
}

/**
 * The content of `filePath` if this process hashed it and it has not changed since, else
 * undefined. A caller about to rename or chmod the file (which moves its ctime) asks first.
 */
export function knownContent(filePath: string): ContentDigest | undefined {
  const stats = statSync(filePath, { bigint: true, throwIfNoEntry: false });
  return stats?.isFile() ? knownFor(stats) : undefined;
}

/** Bytes {@link sha256File} has read in this process (benchmarks and tests count passes with it). */
export function bytesHashed(): number {
  return bytesRead;
}

/**
 * Streams a file through sha256, unless this process hashed it unchanged before; aborting
 * `signal` stops between chunks and rejects.
 */
export async function sha256File(
  filePath: string,
  options: { signal?: AbortSignal } = {},
): Promise<ContentDigest> {
  const handle = await open(filePath, 'r');
  try {
    const before = await handle.stat({ bigint: true });
    const known = knownFor(before);
    if (known) return known;
    const hash = createHash('sha256');
    const size = await forEachChunk(handle, (chunk) => void hash.update(chunk), {
      sizeHint: Number(before.size),
      signal: options.signal,
    });
    bytesRead += size;
    const content = { digest: hash.digest('hex'), size };
    // Remembered only when nothing changed the file while it was read.
    const after = await handle.stat({ bigint: true });
    if (stampOf(after) === stampOf(before))
      hashedHere.set(inodeOf(after), { stamp: stampOf(after), content });
    return content;
  } finally {
    await handle.close();
  }
}
