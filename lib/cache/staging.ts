/**
 * Staging files: everything the cache writes is first written under `<root>/tmp/` with a name
 * that records the writing process, then renamed or linked into place, so that a crash never
 * leaves a partial file under a final name. Staging files of dead processes are swept.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { isErrno } from './fs-helpers.ts';
import { currentHostname, isProcessAlive } from './process-liveness.ts';

/** Name of the staging directory under a cache root. */
export const STAGING_DIRECTORY = 'tmp';

const STAGING_NAME = /^staging-(\d+)-[0-9a-f]+-(.+)$/;

/** A fresh, unique staging path in `stagingDirectory`, naming this process and host. */
export function stagingPath(stagingDirectory: string): string {
  const unique = randomBytes(8).toString('hex');
  return path.join(stagingDirectory, `staging-${process.pid}-${unique}-${currentHostname()}`);
}

/**
 * Removes the staging files left by processes of this host that no longer run (crashed puts).
 * Resolves to the number of entries removed.
 */
export async function sweepStaging(stagingDirectory: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(stagingDirectory);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return 0;
    throw error;
  }
  const host = currentHostname();
  let removed = 0;
  for (const name of names) {
    const match = STAGING_NAME.exec(name);
    if (!match || match[2] !== host || isProcessAlive(Number(match[1]))) continue;
    await rm(path.join(stagingDirectory, name), { recursive: true, force: true });
    removed += 1;
  }
  return removed;
}

/**
 * Writes `data` to `destination` atomically: into a staging file (flushed to disk when `fsync`),
 * then renamed over the destination. Readers see the old content or the new, never a part.
 */
export async function writeFileAtomic(
  destination: string,
  data: string | Uint8Array,
  options: { stagingDirectory: string; fsync: boolean },
): Promise<void> {
  const staging = stagingPath(options.stagingDirectory);
  try {
    const handle = await open(staging, 'wx', 0o644);
    try {
      await handle.writeFile(data);
      if (options.fsync) await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(staging, destination);
  } catch (error) {
    await rm(staging, { force: true });
    throw error;
  }
}
