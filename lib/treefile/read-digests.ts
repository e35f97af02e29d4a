import { readFile } from 'node:fs/promises';
import { sha256Bytes } from '../cache/hash.ts';
import { canonicalStringify } from '../util/canonical-json.ts';
import { directoryListing } from '../util/directory-listing.ts';
import { displayPath } from './errors.ts';
import type { ReadRecorder } from './flatten.ts';

/** sha256 of a directory's listing (see {@link directoryListing}). */
async function digestDirectory(directory: string): Promise<string> {
  return sha256Bytes(canonicalStringify(await directoryListing(directory)));
}

/** Digest of every recorded file and directory, by path relative to `projectDir`. */
export async function digestReads(reads: ReadRecorder, projectDir: string): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  const entries = [...reads].sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
  for (const [file, kind] of entries) {
    const key = displayPath(file, projectDir);
    digests[key] =
      kind === 'directory' ? `tree:${await digestDirectory(file)}` : sha256Bytes(await readFile(file));
  }
  return digests;
}
