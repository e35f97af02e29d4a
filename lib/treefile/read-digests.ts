/**
 * Digests of what flattening read, for the Manifest's fingerprint: each file's sha256, and for a
 * directory (an ostree layer) the sha256 of its listing — every entry's path, type, executable
 * bit and content digest or symlink target — keyed by path relative to the project.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { canonicalStringify } from '../canonical-json.ts';
import { displayPath } from './errors.ts';
import type { ReadRecorder } from './flatten.ts';

/** Hex sha256 of `data`. */
function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of a directory's listing: relative path → type, executable bit, content or target digest. */
async function digestDirectory(directory: string): Promise<string> {
  const names = (await readdir(directory, { recursive: true })).map(String).sort();
  const listing: Record<string, string> = {};
  for (const name of names) {
    const entry = path.join(directory, name);
    const status = await lstat(entry);
    const key = name.split(path.sep).join('/');
    if (status.isSymbolicLink()) listing[key] = `symlink:${await readlink(entry)}`;
    else if (status.isDirectory()) listing[key] = 'directory';
    else if (status.isFile()) {
      const executable = (status.mode & 0o111) !== 0;
      listing[key] = `file:${executable ? 'x' : '-'}:${sha256(await readFile(entry))}`;
    } else listing[key] = 'other';
  }
  return sha256(canonicalStringify(listing));
}

/** Digest of every recorded file and directory, by path relative to `projectDir`. */
export async function digestReads(reads: ReadRecorder, projectDir: string): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  const entries = [...reads].sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
  for (const [file, kind] of entries) {
    const key = displayPath(file, projectDir);
    digests[key] =
      kind === 'directory' ? `tree:${await digestDirectory(file)}` : sha256(await readFile(file));
  }
  return digests;
}
