/**
 * A test's `data/` directory as kola copies it to the guest (`tar chf -`: symbolic links followed,
 * so fedora-coreos-config's `data/commonlib.sh -> ../../data/commonlib.sh` arrives as the file).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/** Where kola puts a test's data in the guest; a non-exclusive test's gets `-<number>` appended. */
export const GUEST_DATA_DIRECTORY = '/var/opt/kola/extdata';

/** One file of a data directory. */
export interface DataFile {
  /** Path relative to the data directory, `/`-separated. */
  readonly relativePath: string;
  /** Contents. */
  readonly contents: Buffer;
  /** Permission bits (executables stay executable). */
  readonly mode: number;
}

/** Every file under `directory`, links followed, sorted by path. */
export async function readDataFiles(directory: string): Promise<DataFile[]> {
  const files: DataFile[] = [];
  // Walks one directory level; `seen` guards against a link back to an ancestor.
  const walk = async (current: string, relative: string, seen: ReadonlySet<string>) => {
    for (const name of (await readdir(current)).sort()) {
      const file = path.join(current, name);
      const entry = await stat(file);
      const relativePath = relative ? `${relative}/${name}` : name;
      if (entry.isDirectory()) {
        const key = `${entry.dev}:${entry.ino}`;
        if (!seen.has(key)) await walk(file, relativePath, new Set([...seen, key]));
      } else if (entry.isFile()) {
        files.push({ relativePath, contents: await readFile(file), mode: entry.mode & 0o777 });
      }
    }
  };
  const root = await stat(directory);
  await walk(directory, '', new Set([`${root.dev}:${root.ino}`]));
  return files;
}
