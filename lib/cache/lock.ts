/**
 * Cross-process exclusive locks on a name (an action key, `gc` ...), so that two runs of the same
 * action do not both do the work: the second waits, then re-checks the action cache. A lock is a
 * file `<root>/locks/<name>.lock` created with O_EXCL, holding the owner's pid and hostname. A
 * lock whose owner is not running on this host is stale and is broken; a lock of another host is
 * never broken (its pid means nothing here).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { InvalidLockNameError } from './errors.ts';
import { isErrno } from './fs-helpers.ts';
import { currentHostname, isProcessAlive } from './process-liveness.ts';

/** Name of the locks directory under a cache root. */
export const LOCKS_DIRECTORY = 'locks';

/** A lock file that cannot be parsed this long after it was created is taken as abandoned. */
const UNREADABLE_LOCK_GRACE_MS = 5_000;
/** A breaker lock this old was left by a process that died while breaking a stale lock. */
const BREAKER_GRACE_MS = 10_000;

const LOCK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Zod schema of the content of a lock file. */
export const lockOwnerSchema = z
  .object({
    pid: z.number().int().positive(),
    hostname: z.string(),
    token: z.string(),
    acquiredAt: z.iso.datetime(),
  })
  .strict();

/** Who holds a lock. */
export type LockOwner = z.output<typeof lockOwnerSchema>;

/** Options of {@link acquireLock}. */
export interface AcquireLockOptions {
  /** Stops waiting; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /**
   * Mean delay between two attempts while the lock is held, in milliseconds; each delay is
   * jittered between half and one and a half times this, so that waiters do not move in step.
   * @default 100
   */
  readonly pollMs?: number;
}

/** Releases a lock; calling it again does nothing. */
export type ReleaseLock = () => Promise<void>;

/** Path of the lock file of `name` under the cache root `root`. */
export function lockPath(root: string, name: string): string {
  if (!LOCK_NAME.test(name)) throw new InvalidLockNameError(name);
  return path.join(path.resolve(root), LOCKS_DIRECTORY, `${name}.lock`);
}

/**
 * Waits until this process holds the lock `name` and resolves to its release function. Stale
 * locks (owner pid dead on this host) are broken on the way.
 */
export async function acquireLock(
  root: string,
  name: string,
  options: AcquireLockOptions = {},
): Promise<ReleaseLock> {
  const file = lockPath(root, name);
  const pollMs = options.pollMs ?? 100;
  const { signal } = options;
  await mkdir(path.dirname(file), { recursive: true });
  for (;;) {
    signal?.throwIfAborted();
    const owner = newOwner();
    if (await createExclusive(file, owner)) return releaser(file, owner.token);
    if (await breakIfStale(file)) continue;
    try {
      await sleep(pollMs * (0.5 + Math.random()), undefined, signal ? { signal } : {});
    } catch (error) {
      signal?.throwIfAborted();
      throw error;
    }
  }
}

/** Runs `task` while holding the lock `name`; the lock is released however the task ends. */
export async function withLock<Result>(
  root: string,
  name: string,
  task: () => Promise<Result>,
  options: AcquireLockOptions = {},
): Promise<Result> {
  const release = await acquireLock(root, name, options);
  try {
    return await task();
  } finally {
    await release();
  }
}

/** The current holder of lock `name`, or undefined when it is free (or its file is unreadable). */
export async function readLockOwner(root: string, name: string): Promise<LockOwner | undefined> {
  const state = await readLockFile(lockPath(root, name));
  return state.kind === 'held' ? state.owner : undefined;
}

/** A lock owner record for this process with a fresh token. */
function newOwner(): LockOwner {
  return {
    pid: process.pid,
    hostname: currentHostname(),
    token: randomBytes(12).toString('hex'),
    acquiredAt: new Date().toISOString(),
  };
}

/** Creates `file` with O_EXCL holding `owner`; resolves to false when it already exists. */
async function createExclusive(file: string, owner: LockOwner): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'wx', 0o644);
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  }
  try {
    await handle.writeFile(`${JSON.stringify(owner)}\n`);
  } catch (error) {
    await handle.close();
    await rm(file, { force: true });
    throw error;
  }
  await handle.close();
  return true;
}

/** The release function of a lock taken with `token`: removes the file only if it is still ours. */
function releaser(file: string, token: string): ReleaseLock {
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    const state = await readLockFile(file);
    if (state.kind === 'held' && state.owner.token === token) await rm(file, { force: true });
  };
}

/** What a lock file holds right now. */
type LockFileState =
  | { kind: 'free' }
  | { kind: 'held'; owner: LockOwner }
  | { kind: 'unreadable'; modifiedAt: number };

/** Reads and parses a lock file. */
async function readLockFile(file: string): Promise<LockFileState> {
  let text: string;
  let modifiedAt: number;
  try {
    modifiedAt = (await stat(file)).mtimeMs;
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return { kind: 'free' };
    throw error;
  }
  try {
    const parsed = lockOwnerSchema.safeParse(JSON.parse(text));
    if (parsed.success) return { kind: 'held', owner: parsed.data };
  } catch {
    // Not JSON yet (being written) or damaged: decided by age below.
  }
  return { kind: 'unreadable', modifiedAt };
}

/** Whether a lock in `state` may be broken. */
function isStale(state: LockFileState): boolean {
  if (state.kind === 'free') return false;
  if (state.kind === 'unreadable') return Date.now() - state.modifiedAt > UNREADABLE_LOCK_GRACE_MS;
  return state.owner.hostname === currentHostname() && !isProcessAlive(state.owner.pid);
}

/**
 * Removes the lock file if it is stale; resolves to true when the caller should retry at once
 * (the lock was broken or is already free). Breakers serialize on `<lock>.break`, and re-read the
 * lock under it, so that two waiters cannot both break it and one delete the other's fresh lock.
 */
async function breakIfStale(file: string): Promise<boolean> {
  const seen = await readLockFile(file);
  if (seen.kind === 'free') return true;
  if (!isStale(seen)) return false;
  const breaker = `${file}.break`;
  if (!(await createExclusive(breaker, newOwner()))) {
    const state = await readLockFile(breaker);
    const abandoned =
      isStale(state) ||
      (state.kind === 'held' && Date.now() - Date.parse(state.owner.acquiredAt) > BREAKER_GRACE_MS);
    if (abandoned) await rm(breaker, { force: true });
    return false;
  }
  try {
    const now = await readLockFile(file);
    if (now.kind === 'free') return true;
    const same =
      (now.kind === 'held' && seen.kind === 'held' && now.owner.token === seen.owner.token) ||
      (now.kind === 'unreadable' && seen.kind === 'unreadable');
    if (!same || !isStale(now)) return false;
    await rm(file, { force: true });
    return true;
  } finally {
    await rm(breaker, { force: true });
  }
}
