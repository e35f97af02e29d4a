/**
 * What a directory holds, for fingerprints: every entry by path relative to the directory (forward
 * slashes), as its type plus, for a file, its executable bit and content digest, for a symlink, its
 * target. Cheap enough to run before deciding whether a node must run.
 */
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { sha256Bytes } from '../cache/hash.ts';

/** `path → file:x|-:<sha256> | symlink:<target> | directory | other` for everything under `directory`. */
export async function directoryListing(directory: string): Promise<Record<string, string>> {
  const listing: Record<string, string> = {};
  for (const name of (await readdir(directory, { recursive: true })).map(String).sort()) {
    const entry = path.join(directory, name);
    const status = await lstat(entry);
    const key = name.split(path.sep).join('/');
    if (status.isSymbolicLink()) listing[key] = `symlink:${await readlink(entry)}`;
    else if (status.isDirectory()) listing[key] = 'directory';
    else if (status.isFile()) {
      const executable = (status.mode & 0o111) !== 0;
      listing[key] = `file:${executable ? 'x' : '-'}:${sha256Bytes(await readFile(entry))}`;
    } else listing[key] = 'other';
  }
  return listing;
}
