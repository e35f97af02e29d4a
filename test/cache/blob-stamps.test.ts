/**
 * Blob stamps: a rewrite that keeps inode, size and mtime is seen (ctime); the store's own links,
 * re-puts and tree materializations keep the stamps they change; a verified re-hash refreshes a
 * stamp; consumed content is hashed as it is copied, and a damaged file is named and evicted.
 */
import { existsSync, statSync } from 'node:fs';
import { chmod, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CasStore } from '../../lib/cache/cas-store.ts';
import { CorruptBlobError } from '../../lib/cache/errors.ts';
import { temporaryDirectory } from './helpers.ts';

/** A fresh store in a temporary root. */
async function newStore(): Promise<{ root: string; store: CasStore; work: string }> {
  const root = await temporaryDirectory();
  const store = new CasStore(root, { fsync: false });
  await store.init();
  const work = await temporaryDirectory();
  return { root, store, work };
}

/** Rewrites `file` with same-size `content` and puts its mtime back with `touch -r`. */
async function rewriteKeepingMtime(file: string, content: string): Promise<void> {
  const reference = `${file}.reference`;
  await writeFile(reference, '');
  await execa('touch', ['-r', file, reference]);
  await chmod(file, 0o644);
  await writeFile(file, content);
  await chmod(file, 0o444);
  await execa('touch', ['-r', reference, file]);
  await rm(reference);
}

describe('blob stamps', () => {
  it('a stored blob is trusted; a same-size rewrite with its mtime restored is seen, and a re-hash evicts it', async () => {
    const { store } = await newStore();
    const { digest } = await store.putBytes('original content');
    expect(store.stampState(digest)).toBe('trusted');
    const before = statSync(store.blobPath(digest), { bigint: true });
    await rewriteKeepingMtime(store.blobPath(digest), 'tampered content');
    const after = statSync(store.blobPath(digest), { bigint: true });
    expect([after.ino, after.size, after.mtimeNs]).toEqual([before.ino, before.size, before.mtimeNs]);
    expect(store.stampState(digest)).toBe('changed');
    expect(await store.verifyBlob(digest)).toBe(false);
    expect(store.stampState(digest)).toBe('missing');
    expect(existsSync(store.stamps.stampPath(digest))).toBe(false);
  });

  it("the store's own ctime changes keep the stamp: links out, a replaced link, a tree materialized twice, a re-put", async () => {
    const { store, work } = await newStore();
    const { digest } = await store.putBytes('linked content');
    await store.linkOut(digest, path.join(work, 'one'));
    await store.linkOut(digest, path.join(work, 'two'));
    expect(store.stampState(digest)).toBe('trusted');
    const other = await store.putBytes('other content');
    await store.linkOut(other.digest, path.join(work, 'one'));
    expect(store.stampState(other.digest)).toBe('trusted');
    // The link replaced belonged to a blob the store cannot name from the file: that blob's
    // ctime moved, so it costs one re-hash when it is next used (a node whose output changed).
    expect(store.stampState(digest)).toBe('changed');
    expect(await store.verifyBlob(digest)).toBe(true);

    const tree = path.join(work, 'tree');
    await mkdir(path.join(tree, 'Packages'), { recursive: true });
    await writeFile(path.join(tree, 'Packages/a.rpm'), 'rpm a');
    await writeFile(path.join(tree, 'repomd.xml'), '<repomd/>');
    const stored = await store.putTree(tree);
    const files = (await store.readTree(stored.digest)).entries.flatMap((entry) =>
      entry.type === 'file' ? [entry.digest] : [],
    );
    const destination = path.join(work, 'out', 'repo');
    await store.materializeTree(stored.digest, destination);
    expect(await store.isTreeInPlace(stored.digest, destination)).toBe(true);
    await store.materializeTree(stored.digest, destination);
    for (const file of files) expect(store.stampState(file)).toBe('trusted');

    // A re-put of existing content marks it for gc (ctime) and keeps its mtime and stamp.
    const mtime = statSync(store.blobPath(digest)).mtimeMs;
    await store.putBytes('linked content');
    expect(statSync(store.blobPath(digest)).mtimeMs).toBe(mtime);
    expect(store.stampState(digest)).toBe('trusted');
  });

  it('a re-put replaces an existing blob its stamp does not vouch for with the verified content', async () => {
    const { store } = await newStore();
    const { digest } = await store.putBytes('right bytes');
    await rewriteKeepingMtime(store.blobPath(digest), 'wrong bytes');
    await store.putBytes('right bytes');
    expect(await readFile(store.blobPath(digest), 'utf8')).toBe('right bytes');
    expect(store.stampState(digest)).toBe('trusted');
  });

  it('a copied store (new inodes) re-hashes each blob once; the re-hash refreshes its stamp', async () => {
    const { root, store } = await newStore();
    const { digest } = await store.putBytes('copied content');
    const copyRoot = path.join(await temporaryDirectory(), 'copy');
    await cp(root, copyRoot, { recursive: true });
    const copy = new CasStore(copyRoot, { fsync: false });
    expect(copy.stampState(digest)).toBe('changed');
    expect(await copy.verifyBlob(digest)).toBe(true);
    expect(copy.stampState(digest)).toBe('trusted');
    expect(new CasStore(copyRoot).stampState(digest)).toBe('trusted');
  });

  it('verifyForUse hashes a blob once per process: what this store stored or hashed is not read again', async () => {
    const { root, store } = await newStore();
    const { digest } = await store.putBytes('input content');
    expect(await store.verifyForUse(digest)).toBe('verified-before');
    const later = new CasStore(root, { fsync: false });
    const [first, second] = await Promise.all([later.verifyForUse(digest), later.verifyForUse(digest)]);
    expect([first, second].sort()).toEqual(['hashed', 'verified-before']);
    expect(await later.verifyForUse(digest)).toBe('verified-before');
    await rewriteKeepingMtime(later.blobPath(digest), 'INPUT CONTENT');
    expect(await later.verifyForUse(digest)).toBe('corrupt');
    expect(await later.verifyForUse(digest)).toBe('missing');
  });

  it('copyTreeVerified hashes each file as it copies it; a damaged file is named, evicted, and nothing is left', async () => {
    const { root, store, work } = await newStore();
    const tree = path.join(work, 'tree');
    await mkdir(path.join(tree, 'Packages'), { recursive: true });
    await writeFile(path.join(tree, 'Packages/a.rpm'), 'a'.repeat(5000));
    await writeFile(path.join(tree, 'Packages/b.rpm'), 'b'.repeat(5000));
    const stored = await store.putTree(tree);
    const consumer = new CasStore(root, { fsync: false });
    const copied = await consumer.copyTreeVerified(stored.digest, path.join(work, 'input'));
    expect(copied).toEqual({ hashedFiles: 2, hashedBytes: 10_000 });
    expect(await readFile(path.join(work, 'input/Packages/b.rpm'), 'utf8')).toBe('b'.repeat(5000));
    // A copy, not a link: consuming leaves the blob's inode (and its stamp) alone.
    const entry = (await store.readTree(stored.digest)).entries.find(
      (item) => item.path === 'Packages/b.rpm',
    );
    if (entry?.type !== 'file') throw new Error('expected a file entry');
    expect(statSync(path.join(work, 'input/Packages/b.rpm')).ino).not.toBe(
      statSync(store.blobPath(entry.digest)).ino,
    );
    expect(await consumer.copyTreeVerified(stored.digest, path.join(work, 'again'))).toEqual({
      hashedFiles: 0,
      hashedBytes: 0,
    });

    // Bit rot no stat shows: the blob changes and its stamp is taken again as if nothing happened.
    await rewriteKeepingMtime(store.blobPath(entry.digest), 'B'.repeat(5000));
    const damaged = new CasStore(root, { fsync: false });
    await damaged.stamps.recordVerified(entry.digest, damaged.blobPath(entry.digest));
    const fresh = new CasStore(root, { fsync: false });
    const failure = await fresh.copyTreeVerified(stored.digest, path.join(work, 'damaged')).catch((e) => e);
    expect(failure).toBeInstanceOf(CorruptBlobError);
    expect(failure.message).toContain(
      `the file 'Packages/b.rpm' (blob ${entry.digest}) does not match its digest`,
    );
    expect(existsSync(store.blobPath(entry.digest))).toBe(false);
    expect(existsSync(path.join(work, 'damaged'))).toBe(false);
  });
});

describe('blob stamps and gc', () => {
  it('gc deletes the stamps of the blobs it deletes, and stamps whose blob is gone', async () => {
    const { root, store } = await newStore();
    const kept = await store.putBytes('kept by no record, but within the grace period');
    const removedByHand = await store.putBytes('removed by hand');
    await rm(store.blobPath(removedByHand.digest));
    const { collectGarbage } = await import('../../lib/cache/gc.ts');
    await collectGarbage(root, { maxSizeBytes: Number.MAX_SAFE_INTEGER });
    expect(existsSync(store.stamps.stampPath(removedByHand.digest))).toBe(false);
    expect(store.stampState(kept.digest)).toBe('trusted');
    await collectGarbage(root, { maxSizeBytes: Number.MAX_SAFE_INTEGER, unreferencedGraceMs: 0 });
    expect(existsSync(store.blobPath(kept.digest))).toBe(false);
    expect(existsSync(store.stamps.stampPath(kept.digest))).toBe(false);
  });
});
