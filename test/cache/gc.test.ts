/** Cache maintenance: least-recently-used garbage collection, grace periods and verification. */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  ACTION_RECORD_SCHEMA_VERSION,
  ActionCache,
  type ActionRecord,
} from '../../lib/cache/action-cache.ts';
import { CasStore } from '../../lib/cache/cas-store.ts';
import { collectGarbage, listCache, verifyCache } from '../../lib/cache/gc.ts';
import { sha256Bytes } from '../../lib/cache/hash.ts';
import { runCacheCommand } from '../../lib/cli/cache.ts';
import { temporaryDirectory } from './helpers.ts';

/** A record of node `name` with the given outputs, last used `minutesAgo` minutes ago. */
async function putRecord(
  actions: ActionCache,
  name: string,
  outputs: ActionRecord['outputs'],
  minutesAgo: number,
  logDigest?: string,
): Promise<string> {
  const key = sha256Bytes(name);
  await actions.put({
    schemaVersion: ACTION_RECORD_SCHEMA_VERSION,
    key,
    node: `Pipeline/${name}`,
    kind: 'Test',
    outputs,
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:00:01.000Z',
    durationMs: 1000,
    ...(logDigest ? { logDigest } : {}),
    keyMaterial: { name },
  });
  const when = new Date(Date.now() - minutesAgo * 60_000);
  await utimes(actions.recordPath(key), when, when);
  return key;
}

/**
 * A cache with three records, least recently used first after the touch: second, third, first.
 *  - first: blob `a` (1000 B), `shared` (500 B), and an ostree commit (not a blob)
 *  - second: blob `b` (2000 B) and a log (100 B)
 *  - third: `shared` and a tree holding one 300 B file
 * plus a stray blob no record references (50 B).
 */
async function populatedCache() {
  const root = await temporaryDirectory();
  const store = new CasStore(root, { fsync: false });
  await store.init();
  const actions = new ActionCache(root, { fsync: false });
  const blob = (bytes: number) => store.putBytes(randomBytes(bytes));
  const a = await blob(1000);
  const shared = await blob(500);
  const b = await blob(2000);
  const log = await blob(100);
  const stray = await blob(50);
  const treeDirectory = path.join(await temporaryDirectory(), 'tree');
  await mkdir(treeDirectory);
  await writeFile(path.join(treeDirectory, 'file'), randomBytes(300));
  const tree = await store.putTree(treeDirectory);
  const treeManifestSize = (await store.readBlob(tree.digest)).length;
  const treeFile = (await store.readTree(tree.digest)).entries[0]!;
  if (treeFile.type !== 'file') throw new Error('expected a file entry');

  const file = (content: { digest: string; size: number }) => ({ ...content, storage: 'file' as const });
  const first = await putRecord(
    actions,
    'first',
    {
      a: file(a),
      shared: file(shared),
      commit: { digest: sha256Bytes('commit'), storage: 'ostree-commit', size: 0 },
    },
    30,
  );
  const second = await putRecord(actions, 'second', { b: file(b) }, 20, log.digest);
  const third = await putRecord(
    actions,
    'third',
    { shared: file(shared), tree: { digest: tree.digest, storage: 'tree', size: tree.size } },
    10,
  );
  await actions.touch(first);
  const oldBlobs = new Date(Date.now() - 3_600_000);
  for await (const stored of store.listBlobs())
    await utimes(store.blobPath(stored.digest), oldBlobs, oldBlobs);

  const total = 1000 + 500 + 2000 + 100 + treeManifestSize + 300;
  return {
    root,
    store,
    actions,
    keys: { first, second, third },
    digests: { a, shared, b, log, stray, tree, treeFile },
    total,
  };
}

describe('collectGarbage', () => {
  it('evicts least recently used records until the referenced blobs fit, and deletes unreferenced blobs', async () => {
    const { root, store, actions, keys, digests, total } = await populatedCache();
    const result = await collectGarbage(root, { maxSizeBytes: total - 2100, unreferencedGraceMs: 0 });
    expect(result).toEqual({
      removedRecords: 1,
      removedBlobs: 3,
      freedBytes: 2000 + 100 + 50,
      remainingBytes: total - 2100,
    });
    expect(await actions.get(keys.second)).toBeUndefined();
    expect(await actions.get(keys.first)).toBeDefined();
    expect(await actions.get(keys.third)).toBeDefined();
    for (const gone of [digests.b, digests.log, digests.stray])
      expect(await store.has(gone.digest)).toBe(false);
    for (const kept of [digests.a, digests.shared, digests.tree, digests.treeFile]) {
      expect(await store.has(kept.digest)).toBe(true);
    }
    expect(await store.totalSize()).toBe(total - 2100);
  });

  it('keeps unreferenced blobs stored within the grace period, counting deduplicated re-puts', async () => {
    const { root, store, actions, keys, digests } = await populatedCache();
    await actions.remove(keys.second);
    await sleep(1_100);
    // Stored again (deduplicated) by an action still running, whose record is not written yet:
    // the re-put refreshes the blob's ctime but leaves its mtime alone. (The ageing utimes above
    // is a change the store did not make: the blob is adopted once a re-hash vouches for it.)
    expect(await store.verifyBlob(digests.stray.digest)).toBe(true);
    const strayBefore = await stat(store.blobPath(digests.stray.digest));
    await store.putBytes(await store.readBlob(digests.stray.digest));
    expect((await stat(store.blobPath(digests.stray.digest))).mtimeMs).toBe(strayBefore.mtimeMs);
    const fresh = await store.putBytes('written by an action still running');
    const result = await collectGarbage(root, {
      maxSizeBytes: Number.MAX_SAFE_INTEGER,
      unreferencedGraceMs: 1_000,
    });
    expect(result).toMatchObject({ removedRecords: 0, removedBlobs: 2, freedBytes: 2000 + 100 });
    expect(await store.has(digests.b.digest)).toBe(false);
    expect(await store.has(digests.log.digest)).toBe(false);
    expect(await store.has(digests.stray.digest)).toBe(true);
    expect(await store.has(fresh.digest)).toBe(true);
  });

  it('empties the cache with a zero budget, oldest first', async () => {
    const { root, store, actions } = await populatedCache();
    const result = await collectGarbage(root, { maxSizeBytes: 0, unreferencedGraceMs: 0 });
    expect(result.removedRecords).toBe(3);
    expect(result.remainingBytes).toBe(0);
    expect(await actions.list()).toEqual([]);
    expect(await store.totalSize()).toBe(0);
  });
});

describe('collectGarbage: allocated bytes, and what it cannot free', () => {
  it('counts the blocks a sparse blob takes, not its apparent size', async () => {
    const root = await temporaryDirectory();
    const store = new CasStore(root, { fsync: false });
    await store.init();
    const actions = new ActionCache(root, { fsync: false });
    const size = 64 * 1024 * 1024;
    const disk = await store.putBytes(Buffer.alloc(size));
    // The same zeros as a hole, the way a raw disk is stored.
    const blobPath = store.blobPath(disk.digest);
    await chmod(blobPath, 0o644);
    await truncate(blobPath, 0);
    await truncate(blobPath, size);
    await chmod(blobPath, 0o444);
    expect((await stat(blobPath)).blocks * 512).toBeLessThan(1024 * 1024);
    const key = await putRecord(actions, 'disk', { disk: { ...disk, storage: 'file' } }, 5);
    const result = await collectGarbage(root, { maxSizeBytes: 1024 * 1024, unreferencedGraceMs: 0 });
    expect(result.removedRecords).toBe(0);
    expect(result.freedBytes).toBe(0);
    expect(result.remainingBytes).toBeLessThan(1024 * 1024);
    expect(await actions.get(key)).toBeDefined();
    expect(await store.has(disk.digest)).toBe(true);
  });

  it('cache gc evicts the records, says what it kept (blobs in the grace period) and why, and warns that it is still over', async () => {
    const { root, actions, keys } = await populatedCache();
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCacheCommand(['gc', '--cache', root, '--max-size', '1K'], {
      stdout: (text) => out.push(text),
      stderr: (text) => err.push(text),
    });
    expect(code).toBe(0);
    // Every record is over the bound and evicted; their blobs were all just stored, so they stay.
    for (const key of Object.values(keys)) expect(await actions.get(key)).toBeUndefined();
    const stdout = out.join('');
    expect(stdout).toMatch(/^removed 3 records and 0 blobs, freed 0 B; .* left \(limit 1\.0 KiB\)$/m);
    expect(stdout).toMatch(/^kept .* in 7 unreferenced blobs stored less than 10 min ago \(grace period/m);
    expect(err.join('')).toMatch(
      new RegExp(
        `^cache gc: warning: cannot bring ${root} under 1\\.0 KiB: .* left, blobs stored less than 10 min ago are kept \\(grace period\\)`,
      ),
    );
  });

  it('cache gc exits 0 and reports the bytes freed when the cache fits', async () => {
    const { root } = await populatedCache();
    const out: string[] = [];
    const code = await runCacheCommand(['gc', '--cache', root, '--max-size', '1G'], {
      stdout: (text) => out.push(text),
      stderr: (text) => out.push(text),
    });
    expect(code).toBe(0);
    expect(out.join('')).toMatch(/^removed 0 records and 0 blobs, freed 0 B; .* left \(limit 1\.0 GiB\)$/m);
  });
});

describe('verifyCache and listCache', () => {
  it('evicts corrupt blobs and reports the records that now miss them', async () => {
    const { root, store, keys, digests } = await populatedCache();
    const corrupt = store.blobPath(digests.treeFile.digest);
    await chmod(corrupt, 0o644);
    await writeFile(corrupt, randomBytes(300));
    const result = await verifyCache(root);
    expect(result.checkedBlobs).toBe(7);
    expect(result.corruptBlobs).toEqual([digests.treeFile.digest]);
    expect(result.recordsMissingBlobs).toEqual([
      { key: keys.third, node: 'Pipeline/third', missingDigests: [digests.treeFile.digest] },
    ]);
    expect(await store.has(digests.treeFile.digest)).toBe(false);
  });

  it('lists records most recently used first, with node, kind, size and last use', async () => {
    const { root, digests } = await populatedCache();
    const listing = await listCache(root);
    expect(listing.map((entry) => [entry.node, entry.kind, entry.size])).toEqual([
      ['Pipeline/first', 'Test', 1500],
      ['Pipeline/third', 'Test', 500 + digests.tree.size],
      ['Pipeline/second', 'Test', 2000],
    ]);
    expect(listing[0]!.outputs).toEqual(['a', 'commit', 'shared']);
    expect(listing[0]!.lastUsedAt.getTime()).toBeGreaterThan(listing[1]!.lastUsedAt.getTime());
  });
});
