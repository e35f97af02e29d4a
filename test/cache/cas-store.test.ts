/** The content-addressed blob store: atomic puts, read-only blobs, trees, links out, and corruption handling. */
import { randomBytes } from 'node:crypto';
import {
  access,
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BLOB_MODE, CasStore } from '../../lib/cache/cas-store.ts';
import { BlobNotFoundError, CorruptTreeError, UnsupportedFileError } from '../../lib/cache/errors.ts';
import { bytesHashed, sha256Bytes, sha256File } from '../../lib/cache/hash.ts';
import { serializeTreeManifest } from '../../lib/cache/tree-manifest.ts';
import { listFiles, spawnFixture, temporaryDirectory, waitForExit, waitUntil } from './helpers.ts';

/** A store in a fresh temporary root (fsync off: durability is not what these tests measure). */
async function newStore(): Promise<{ store: CasStore; root: string; work: string }> {
  const root = await temporaryDirectory();
  const work = await temporaryDirectory();
  const store = new CasStore(root, { fsync: false });
  await store.init();
  return { store, root, work };
}

/**
 * Writes a sparse file of `size` bytes with one non-zero byte in every MiB, so that copying it
 * writes real data (no chunk is all zeros) while creating it costs almost nothing.
 */
async function writeDottedSparseFile(file: string, size: number): Promise<void> {
  const handle = await open(file, 'w');
  await handle.truncate(size);
  for (let offset = 0; offset < size; offset += 1024 * 1024)
    await handle.write(Buffer.from([1]), 0, 1, offset);
  await handle.close();
}

/** Files left under blobs/ and tmp/ of a store. */
async function storeContents(store: CasStore): Promise<{ blobs: string[]; staging: string[] }> {
  return { blobs: await listFiles(store.blobsDirectory), staging: await readdir(store.stagingDirectory) };
}

describe('CasStore blobs', () => {
  it('stores bytes at blobs/sha256/<2>/<digest>, read-only, and reads them back', async () => {
    const { store } = await newStore();
    const { digest, size } = await store.putBytes('hello');
    expect(digest).toBe(sha256Bytes('hello'));
    expect(size).toBe(5);
    expect(store.blobPath(digest)).toBe(path.join(store.root, 'blobs', 'sha256', digest.slice(0, 2), digest));
    expect(await store.has(digest)).toBe(true);
    expect((await stat(store.blobPath(digest))).mode & 0o777).toBe(BLOB_MODE);
    expect((await store.readBlob(digest)).toString()).toBe('hello');
    expect(await store.has(sha256Bytes('other'))).toBe(false);
    await expect(store.readBlob(sha256Bytes('other'))).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it('stores identical content once: one file on disk, shared by every link out', async () => {
    const { store, work } = await newStore();
    const content = randomBytes(100_000);
    await writeFile(path.join(work, 'a'), content);
    await writeFile(path.join(work, 'b'), content);
    const first = await store.putFile(path.join(work, 'a'));
    const second = await store.putFile(path.join(work, 'b'));
    const third = await store.putBytes(content);
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(await listFiles(store.blobsDirectory)).toEqual([`${first.digest.slice(0, 2)}/${first.digest}`]);
    const blob = await stat(store.blobPath(first.digest));
    expect(blob.nlink).toBe(1);
    expect(await readdir(store.stagingDirectory)).toEqual([]);

    await store.linkOut(first.digest, path.join(work, 'out', 'deep', 'one'));
    await store.linkOut(first.digest, path.join(work, 'out', 'two'));
    const linked = await stat(path.join(work, 'out', 'deep', 'one'));
    expect(linked.ino).toBe(blob.ino);
    expect((await stat(store.blobPath(first.digest))).nlink).toBe(3);
    expect(await store.totalSize()).toBe(100_000);
  });

  it('moves a file into the store without copying it, and consumes the source', async () => {
    const { store, work } = await newStore();
    const source = path.join(work, 'output.img');
    await writeFile(source, randomBytes(50_000));
    const { ino } = await stat(source);
    const { digest } = await store.putFile(source, { move: true });
    await expect(access(source)).rejects.toThrow();
    const blob = await stat(store.blobPath(digest));
    expect(blob.ino).toBe(ino);
    expect(blob.mode & 0o777).toBe(BLOB_MODE);

    // Moving identical content again keeps the existing blob and still consumes the source.
    await writeFile(source, await store.readBlob(digest));
    await store.putFile(source, { move: true });
    await expect(access(source)).rejects.toThrow();
    expect((await stat(store.blobPath(digest))).ino).toBe(ino);
  });

  it('does not read again a moved file that this process hashed unchanged (a runner hashing its image)', async () => {
    const { store, work } = await newStore();
    const source = path.join(work, 'image.vhd');
    await writeFile(source, randomBytes(300_000));
    const hashedByRunner = await sha256File(source);
    const before = bytesHashed();
    const { digest } = await store.putFile(source, { move: true });
    expect(bytesHashed()).toBe(before);
    expect(digest).toBe(hashedByRunner.digest);
    expect(sha256Bytes(await store.readBlob(digest))).toBe(digest);

    // Changed after the runner hashed it: the store reads it and files it under what it holds.
    const changed = path.join(work, 'changed.vhd');
    await writeFile(changed, randomBytes(300_000));
    const stale = await sha256File(changed);
    await writeFile(changed, randomBytes(300_000));
    const beforeChanged = bytesHashed();
    const put = await store.putFile(changed, { move: true });
    expect(bytesHashed()).toBe(beforeChanged + 300_000);
    expect(put.digest).not.toBe(stale.digest);
    expect(sha256Bytes(await store.readBlob(put.digest))).toBe(put.digest);
  });

  it('gives a moved file back, with its mode, when the put is aborted', async () => {
    const { store, work } = await newStore();
    const source = path.join(work, 'big.raw');
    await writeDottedSparseFile(source, 2 * 1024 * 1024 * 1024);
    const before = await stat(source);
    const put = store.putFile(source, { move: true, signal: AbortSignal.timeout(100) });
    await expect(put).rejects.toMatchObject({ name: 'TimeoutError' });
    const after = await stat(source);
    expect(after.ino).toBe(before.ino);
    expect(after.mode).toBe(before.mode);
    expect(await storeContents(store)).toEqual({ blobs: [], staging: [] });
  }, 20_000);

  it('keeps sparse files sparse', async () => {
    const { store, work } = await newStore();
    const source = path.join(work, 'disk.raw');
    const handle = await open(source, 'w');
    await handle.truncate(64 * 1024 * 1024);
    await handle.write(Buffer.from('superblock'), 0, 10, 8 * 1024 * 1024);
    await handle.close();
    const { digest, size } = await store.putFile(source);
    const blob = await stat(store.blobPath(digest));
    expect(size).toBe(64 * 1024 * 1024);
    expect(blob.size).toBe(64 * 1024 * 1024);
    expect(blob.blocks * 512).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(await store.verifyBlob(digest)).toBe(true);
  });

  it('leaves nothing under blobs/ or tmp/ when a put is aborted mid-copy', async () => {
    const { store, work } = await newStore();
    const source = path.join(work, 'big.raw');
    await writeDottedSparseFile(source, 2 * 1024 * 1024 * 1024);
    const controller = new AbortController();
    const put = store.putFile(source, { signal: controller.signal });
    // Abort once the staging file has received data: the copy is under way.
    await waitUntil(async () => {
      const [name] = await readdir(store.stagingDirectory);
      return name !== undefined && (await stat(path.join(store.stagingDirectory, name))).size > 0;
    });
    controller.abort();
    await expect(put).rejects.toMatchObject({ name: 'AbortError' });
    expect(await storeContents(store)).toEqual({ blobs: [], staging: [] });
  }, 20_000);

  it('never shows a partial blob when the process is killed mid-copy; init() sweeps its staging file', async () => {
    const { store, root, work } = await newStore();
    const source = path.join(work, 'big.raw');
    await writeDottedSparseFile(source, 2 * 1024 * 1024 * 1024);
    const child = spawnFixture('put-worker.ts', [root, source]);
    await waitUntil(async () => {
      const [name] = await readdir(store.stagingDirectory);
      return name !== undefined && (await stat(path.join(store.stagingDirectory, name))).size > 0;
    }, 15_000);
    child.kill('SIGKILL');
    expect((await waitForExit(child)).signal).toBe('SIGKILL');
    const after = await storeContents(store);
    expect(after.blobs).toEqual([]);
    expect(after.staging).toHaveLength(1);
    expect(after.staging[0]).toContain(`staging-${child.pid}-`);
    await store.init();
    expect(await storeContents(store)).toEqual({ blobs: [], staging: [] });
  }, 20_000);

  it('detects a corrupt blob, evicts it, and reports a missing one as invalid', async () => {
    const { store } = await newStore();
    const { digest } = await store.putBytes(randomBytes(4096));
    expect(await store.verifyBlob(digest)).toBe(true);
    const blob = store.blobPath(digest);
    await chmod(blob, 0o644);
    const handle = await open(blob, 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 100);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, 100);
    await handle.close();
    expect(await store.verifyBlob(digest)).toBe(false);
    expect(await store.has(digest)).toBe(false);
    expect(await store.verifyBlob(digest)).toBe(false);
  });

  it('replaces a stored blob whose size shows it is damaged when the content is put again', async () => {
    const { store } = await newStore();
    const { digest } = await store.putBytes('complete content');
    const blob = store.blobPath(digest);
    await chmod(blob, 0o644);
    await writeFile(blob, 'compl');
    await store.putBytes('complete content');
    expect((await readFile(blob)).toString()).toBe('complete content');
  });

  it('links out over an existing destination atomically, and copies across filesystems', async () => {
    const { store, work } = await newStore();
    const { digest } = await store.putBytes('new content');
    const destination = path.join(work, 'dest.txt');
    await writeFile(destination, 'old content');
    await store.linkOut(digest, destination);
    expect(await readFile(destination, 'utf8')).toBe('new content');
    expect((await stat(destination)).ino).toBe((await stat(store.blobPath(digest))).ino);
    expect((await readdir(work)).sort()).toEqual(['dest.txt']);

    await store.linkOut(digest, path.join(work, 'tool'), { executable: true });
    const tool = await stat(path.join(work, 'tool'));
    expect(tool.mode & 0o777).toBe(0o555);
    expect(tool.ino).not.toBe((await stat(store.blobPath(digest))).ino);

    await expect(store.linkOut(sha256Bytes('absent'), path.join(work, 'absent'))).rejects.toBeInstanceOf(
      BlobNotFoundError,
    );
    expect((await readdir(work)).sort()).toEqual(['dest.txt', 'tool']);
  });

  it.skipIf(!(process.platform === 'linux'))(
    'falls back to a copy when the destination is on another filesystem',
    async () => {
      const { store } = await newStore();
      const otherFilesystem = await mkdtemp('/dev/shm/fcos-cache-test-').catch(() => undefined);
      if (!otherFilesystem) return;
      try {
        const { digest } = await store.putBytes('cross-device');
        const destination = path.join(otherFilesystem, 'copy.txt');
        await store.linkOut(digest, destination);
        expect(await readFile(destination, 'utf8')).toBe('cross-device');
        expect((await stat(destination)).dev).not.toBe((await stat(store.blobPath(digest))).dev);
      } finally {
        await rm(otherFilesystem, { recursive: true, force: true });
      }
    },
  );

  it('rejects digests that are not sha256 hex (no path traversal)', async () => {
    const { store } = await newStore();
    expect(() => store.blobPath('../../../etc/passwd')).toThrow(/not a sha256 digest/);
  });
});

/** Builds a small tree with an executable, duplicates, an empty directory and symlinks. */
async function buildTree(directory: string): Promise<void> {
  await mkdir(path.join(directory, 'usr', 'bin'), { recursive: true });
  await mkdir(path.join(directory, 'empty', 'nested'), { recursive: true });
  await writeFile(path.join(directory, 'usr', 'bin', 'tool'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await writeFile(path.join(directory, 'usr', 'readme'), 'same bytes');
  await writeFile(path.join(directory, 'copy-of-readme'), 'same bytes');
  await writeFile(path.join(directory, 'empty-file'), '');
  await symlink('usr/readme', path.join(directory, 'link-to-readme'));
  await symlink('/etc/hostname', path.join(directory, 'absolute-link'));
  await symlink('bin', path.join(directory, 'usr', 'sbin'));
}

/** type, mode bits, content or target of every entry of a tree, for comparison. */
async function describeTree(directory: string): Promise<Record<string, string>> {
  const description: Record<string, string> = {};
  for (const name of (await readdir(directory, { recursive: true })).sort()) {
    const file = path.join(directory, name);
    const stats = await lstat(file);
    if (stats.isSymbolicLink()) description[name] = `symlink -> ${await readlink(file)}`;
    else if (stats.isDirectory()) description[name] = 'directory';
    else description[name] = `file x=${(stats.mode & 0o111) !== 0} ${await readFile(file, 'utf8')}`;
  }
  return description;
}

describe('CasStore trees', () => {
  it('round-trips a tree with modes, symlinks and empty directories', async () => {
    const { store, work } = await newStore();
    const source = path.join(work, 'source');
    await buildTree(source);
    const stored = await store.putTree(source);
    expect(stored.files).toBe(4);
    expect(stored.size).toBe('#!/bin/sh\necho hi\n'.length + 2 * 'same bytes'.length);

    const manifest = await store.readTree(stored.digest);
    expect(manifest.entries.map((entry) => `${entry.type} ${entry.path}`)).toEqual([
      'symlink absolute-link',
      'file copy-of-readme',
      'directory empty',
      'file empty-file',
      'directory empty/nested',
      'symlink link-to-readme',
      'directory usr',
      'directory usr/bin',
      'file usr/bin/tool',
      'file usr/readme',
      'symlink usr/sbin',
    ]);
    expect(manifest.entries.find((entry) => entry.path === 'usr/bin/tool')).toMatchObject({
      executable: true,
    });
    // Two files with the same bytes share one blob; the empty file is a blob too.
    const fileDigests = manifest.entries.flatMap((entry) => (entry.type === 'file' ? [entry.digest] : []));
    expect(new Set(fileDigests).size).toBe(3);

    const destination = path.join(work, 'restored');
    await store.materializeTree(stored.digest, destination);
    expect(await describeTree(destination)).toEqual(await describeTree(source));
    const readme = await stat(path.join(destination, 'usr', 'readme'));
    expect(readme.ino).toBe((await stat(store.blobPath(sha256Bytes('same bytes')))).ino);

    // Materializing over an existing tree replaces it whole, leaving no staging directory.
    await writeFile(path.join(destination, 'stray'), 'not in the tree');
    await store.materializeTree(stored.digest, destination);
    expect(await describeTree(destination)).toEqual(await describeTree(source));
    expect(await readdir(work)).toEqual(expect.arrayContaining(['restored', 'source']));
    expect(await readdir(work)).toHaveLength(2);
  });

  it('gives the same digest for the same tree, and another when only a mode bit changes', async () => {
    const { store, work } = await newStore();
    const source = path.join(work, 'source');
    await buildTree(source);
    const first = await store.putTree(source);
    expect((await store.putTree(source)).digest).toBe(first.digest);
    await chmod(path.join(source, 'usr', 'readme'), 0o755);
    expect((await store.putTree(source)).digest).not.toBe(first.digest);
  });

  it('refuses manifests that would write outside the destination', async () => {
    const { store } = await newStore();
    const file = { type: 'file' as const, executable: false, size: 0, digest: sha256Bytes('') };
    const escaping = await store.putBytes(
      serializeTreeManifest({ schemaVersion: 1, entries: [{ ...file, path: '../escape' }] }),
    );
    await expect(store.readTree(escaping.digest)).rejects.toBeInstanceOf(CorruptTreeError);
    const throughSymlink = await store.putBytes(
      serializeTreeManifest({
        schemaVersion: 1,
        entries: [
          { type: 'symlink', path: 'etc', target: '/etc' },
          { ...file, path: 'etc/passwd' },
        ],
      }),
    );
    await expect(store.materializeTree(throughSymlink.digest, '/tmp/never')).rejects.toBeInstanceOf(
      CorruptTreeError,
    );
    await expect(store.readTree(sha256Bytes('missing'))).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it('refuses special files', async () => {
    const { store, work } = await newStore();
    await execa('mkfifo', [path.join(work, 'pipe')]);
    await expect(store.putTree(work)).rejects.toBeInstanceOf(UnsupportedFileError);
    await expect(store.putFile(path.join(work, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
