/** Cross-process locks: exclusion between real processes, stale locks of dead owners, cancellation. */
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { sha256Bytes } from '../../lib/cache/hash.ts';
import { acquireLock, lockPath, readLockOwner, withLock } from '../../lib/cache/lock.ts';
import { exists, spawnFixture, temporaryDirectory, waitForExit, waitUntil } from './helpers.ts';

/** What each lock worker appended to the report file. */
interface WorkerReport {
  pid: number;
  requestedAt: number;
  acquiredAt: number;
  releasedAt: number;
  outcome: 'ran' | 'hit';
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await waitForExit(child);
  return child.pid!;
}

describe('acquireLock across processes', () => {
  it('runs an action once: the others wait on the lock, then hit the action cache', async () => {
    const root = await temporaryDirectory();
    const barrier = await temporaryDirectory();
    const report = path.join(barrier, 'report.jsonl');
    const key = sha256Bytes('shared action');
    const workers = [0, 1, 2].map(() => spawnFixture('lock-worker.ts', [root, key, report, '400', barrier]));
    // Release all workers at once, after each has started, so that they really contend.
    await waitUntil(
      async () => (await readdir(barrier)).filter((name) => name.startsWith('ready-')).length === 3,
    );
    await writeFile(path.join(barrier, 'go'), '');
    for (const worker of workers) expect((await waitForExit(worker)).code).toBe(0);

    const lines = (await readFile(report, 'utf8')).trim().split('\n');
    const reports = lines
      .map((line) => JSON.parse(line) as WorkerReport)
      .sort((a, b) => a.acquiredAt - b.acquiredAt);
    expect(reports).toHaveLength(3);
    for (let index = 1; index < reports.length; index += 1) {
      // Mutual exclusion: each holder took the lock only after the previous one let it go.
      expect(reports[index]!.acquiredAt).toBeGreaterThanOrEqual(reports[index - 1]!.releasedAt);
    }
    // The last holder asked for the lock while the first still held it: it waited.
    expect(reports[2]!.requestedAt).toBeLessThan(reports[0]!.releasedAt);
    expect(reports.map((entry) => entry.outcome)).toEqual(['ran', 'hit', 'hit']);
    expect(await exists(lockPath(root, `action-${key}`))).toBe(false);
  }, 20_000);

  it('breaks the lock of a process killed while holding it', async () => {
    const root = await temporaryDirectory();
    const marker = path.join(await temporaryDirectory(), 'held');
    const holder = spawnFixture('lock-holder.ts', [root, 'compose', marker]);
    await waitUntil(() => exists(marker));
    expect(await readLockOwner(root, 'compose')).toMatchObject({ pid: holder.pid, hostname: hostname() });

    // While the holder lives, the lock is not taken.
    await expect(
      acquireLock(root, 'compose', { signal: AbortSignal.timeout(300), pollMs: 20 }),
    ).rejects.toMatchObject({
      name: 'TimeoutError',
    });

    holder.kill('SIGKILL');
    await waitForExit(holder);
    const started = Date.now();
    const release = await acquireLock(root, 'compose', { pollMs: 20 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await readLockOwner(root, 'compose')).toMatchObject({ pid: process.pid });
    await release();
    expect(await readLockOwner(root, 'compose')).toBeUndefined();
  }, 20_000);
});

describe('acquireLock in one process', () => {
  it('breaks a stale lock file left by a dead pid of this host', async () => {
    const root = await temporaryDirectory();
    await mkdir(path.join(root, 'locks'));
    const stale = {
      pid: await deadPid(),
      hostname: hostname(),
      token: 'old',
      acquiredAt: new Date().toISOString(),
    };
    await writeFile(lockPath(root, 'stale'), JSON.stringify(stale));
    const release = await acquireLock(root, 'stale', { signal: AbortSignal.timeout(2_000) });
    expect((await readLockOwner(root, 'stale'))?.token).not.toBe('old');
    await release();
  });

  it('never breaks a lock of another host', async () => {
    const root = await temporaryDirectory();
    await mkdir(path.join(root, 'locks'));
    const foreign = {
      pid: await deadPid(),
      hostname: `not-${hostname()}`,
      token: 't',
      acquiredAt: new Date().toISOString(),
    };
    await writeFile(lockPath(root, 'foreign'), JSON.stringify(foreign));
    await expect(
      acquireLock(root, 'foreign', { signal: AbortSignal.timeout(200), pollMs: 20 }),
    ).rejects.toThrow();
    expect((await readLockOwner(root, 'foreign'))?.token).toBe('t');
  });

  it('excludes concurrent holders within one process too, and releases on failure', async () => {
    const root = await temporaryDirectory();
    let inside = 0;
    let maximum = 0;
    const task = async (): Promise<void> => {
      inside += 1;
      maximum = Math.max(maximum, inside);
      await sleep(20);
      inside -= 1;
    };
    await Promise.all([1, 2, 3, 4].map(() => withLock(root, 'local', task, { pollMs: 5 })));
    expect(maximum).toBe(1);
    await expect(withLock(root, 'local', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await readLockOwner(root, 'local')).toBeUndefined();
    expect(() => lockPath(root, '../escape')).toThrow(/not a valid lock name/);
  });
});
