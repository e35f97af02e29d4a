/**
 * One run at a time per output directory: two fcos-run processes writing one events.jsonl,
 * outputs.json and artifacts/ would garble them. The second run waits for the first (a CI job
 * started twice expects waiting, not a failure), with the cache's lock files, which break the
 * lock of a run that died: `<outdir>/locks/fcos-run.lock`.
 */
import { acquireLock, type LockOwner, type ReleaseLock, readLockOwner } from '../cache/lock.ts';
import { currentHostname, isProcessAlive } from '../cache/process-liveness.ts';

/** Name of the output directory's lock (under `<outdir>/locks/`). */
const OUTDIR_LOCK = 'fcos-run';

/** Options of {@link lockOutputDirectory}. */
export interface OutputDirectoryLockOptions {
  /** Stops waiting (Ctrl-C): the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Told once, before waiting, who holds the directory. */
  readonly onWait?: (owner: LockOwner) => void;
}

/** Waits until this process alone runs in `outdir`; resolves to the release function. */
export async function lockOutputDirectory(
  outdir: string,
  options: OutputDirectoryLockOptions = {},
): Promise<ReleaseLock> {
  const owner = await readLockOwner(outdir, OUTDIR_LOCK);
  // A dead owner's lock is broken at once by acquireLock: nothing to wait for, nothing to say.
  const waiting = owner !== undefined && (owner.hostname !== currentHostname() || isProcessAlive(owner.pid));
  if (owner && waiting) options.onWait?.(owner);
  return acquireLock(outdir, OUTDIR_LOCK, {
    ...(options.signal ? { signal: options.signal } : {}),
    pollMs: 200,
  });
}
