/**
 * sha256 of files and byte strings. Digests are lowercase hex without an algorithm prefix; files
 * are streamed in bounded memory (see {@link forEachChunk}).
 */
import { createHash } from 'node:crypto';
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

/** Streams a file through sha256; aborting `signal` stops between chunks and rejects. */
export async function sha256File(
  filePath: string,
  options: { signal?: AbortSignal } = {},
): Promise<ContentDigest> {
  const handle = await open(filePath, 'r');
  try {
    const hash = createHash('sha256');
    const { size: sizeHint } = await handle.stat();
    const size = await forEachChunk(handle, (chunk) => void hash.update(chunk), {
      sizeHint,
      signal: options.signal,
    });
    return { digest: hash.digest('hex'), size };
  } finally {
    await handle.close();
  }
}
