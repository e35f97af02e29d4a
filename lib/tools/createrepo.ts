/**
 * createrepo_c: repodata for a directory of RPMs, reproducibly. Quirks handled here: primary.xml
 * records each RPM file's mtime (they are set to the revision first), repomd.xml records the
 * current time unless `--set-timestamp-to-revision` (which needs a numeric `--revision`), and the
 * sqlite databases are not byte-stable (dnf does not need them).
 */
import { readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { ToolExec } from '../exec.ts';

/** Options of {@link createRepository}. */
export interface CreateRepositoryOptions {
  /** The directory to index (RPMs anywhere below it); `repodata/` is written into it. */
  readonly directory: string;
  /** Repository revision, seconds since the epoch: also every timestamp of the metadata. */
  readonly revision: number;
}

/** Writes `repodata/` for the RPMs under `directory`. */
export async function createRepository(exec: ToolExec, options: CreateRepositoryOptions): Promise<void> {
  for (const file of await findRpms(options.directory)) {
    await utimes(file, options.revision, options.revision);
  }
  await exec('createrepo_c', [
    '--revision',
    String(options.revision),
    '--set-timestamp-to-revision',
    '--no-database',
    '--workers',
    '1',
    options.directory,
  ]);
  const repodata = path.join(options.directory, 'repodata');
  for (const name of await readdir(repodata)) {
    await utimes(path.join(repodata, name), options.revision, options.revision);
  }
}

/** Every `*.rpm` under `directory`, sorted. */
async function findRpms(directory: string): Promise<string[]> {
  const names = await readdir(directory, { recursive: true });
  return names
    .filter((name) => name.endsWith('.rpm'))
    .map((name) => path.join(directory, name))
    .sort();
}
