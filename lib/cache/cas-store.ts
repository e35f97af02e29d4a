/**
 * The content-addressed blob store of the local cache. A blob is a read-only (0444) file at
 * `<root>/blobs/sha256/<first 2 hex>/<digest>`; identical content is stored once. Content is
 * written to a staging file under `<root>/tmp/` and linked into place only when complete, so a
 * crash at any moment leaves either no blob or a whole one. Directory outputs are stored as a
 * tree manifest (see tree-manifest.ts) whose files are blobs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import {
  chmod,
  copyFile,
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
} from 'node:fs/promises';
import path from 'node:path';
import { forEachChunk, MAX_CHUNK_BYTES } from './chunked-read.ts';
import { mapWithLimit } from './concurrency.ts';
import { BlobNotFoundError, CorruptTreeError, UnsupportedFileError } from './errors.ts';
import { errnoCode, isErrno, readdirIfExists } from './fs-helpers.ts';
import { assertDigest, type ContentDigest, isDigest, sha256Bytes, sha256File } from './hash.ts';
import { STAGING_DIRECTORY, stagingPath, sweepStaging } from './staging.ts';
import {
  createTreeManifest,
  serializeTreeManifest,
  type TreeEntry,
  type TreeManifest,
  treeManifestSchema,
} from './tree-manifest.ts';

/** Mode of every stored blob: read-only, so that a hardlinked copy is not edited by accident. */
export const BLOB_MODE = 0o444;
/** Mode of a materialized executable file (always a copy, since its blob is not executable). */
export const EXECUTABLE_MODE = 0o555;

/** Options of a {@link CasStore}. */
export interface CasStoreOptions {
  /**
   * Flush staged content to disk before it becomes visible, so that a power loss cannot leave a
   * blob whose name is durable but whose content is not.
   * @default true
   */
  readonly fsync?: boolean;
  /**
   * Files hashed or linked at once by {@link CasStore.putTree} and {@link CasStore.materializeTree}.
   * @default 8
   */
  readonly treeConcurrency?: number;
}

/** Options of {@link CasStore.putFile}. */
export interface PutFileOptions {
  /**
   * Take the file instead of copying it: it is renamed into the store (on the same filesystem),
   * so the source path no longer exists afterwards. Falls back to a copy, then removes the source,
   * when the source is on another filesystem or has other hardlinks.
   * @default false
   */
  readonly move?: boolean;
  /** Aborts the put; nothing is left under blobs/ and the staging file is removed. */
  readonly signal?: AbortSignal;
}

/** Options of {@link CasStore.linkOut}. */
export interface LinkOutOptions {
  /**
   * Materialize the file as executable (0555). Blobs are shared by executable and plain files,
   * so an executable is always a copy (a reflink where the filesystem supports it).
   * @default false
   */
  readonly executable?: boolean;
}

/** What {@link CasStore.putTree} returns: the manifest's digest and totals of the tree. */
export interface TreeDigest {
  /** Digest of the tree manifest blob: identifies the whole tree. */
  readonly digest: string;
  /** Total size in bytes of the tree's regular files. */
  readonly size: number;
  /** Number of regular files in the tree. */
  readonly files: number;
}

/** A stored blob, as listed by {@link CasStore.listBlobs}. */
export interface BlobInfo {
  /** Its digest. */
  readonly digest: string;
  /** Its size in bytes (apparent size: holes of sparse files count). */
  readonly size: number;
  /** Last time its content was written (mtime; never changed by the store after publishing). */
  readonly modifiedAt: Date;
  /**
   * Last time it was stored, re-stored (deduplicated) or hardlinked out (ctime): what gc's grace
   * period for unreferenced blobs is measured from.
   */
  readonly changedAt: Date;
}

/** Errors of `link(2)` that mean the filesystem cannot hardlink here. */
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** A content-addressed store of blobs and trees under one root directory. */
export class CasStore {
  /** Root directory of the cache. */
  readonly root: string;
  /** Directory holding the blob shards: `<root>/blobs/sha256`. */
  readonly blobsDirectory: string;
  /** Directory of staging files: `<root>/tmp`. */
  readonly stagingDirectory: string;
  private readonly fsync: boolean;
  private readonly treeConcurrency: number;
  private readonly createdShards = new Set<string>();
  private stagingReady = false;

  constructor(root: string, options: CasStoreOptions = {}) {
    this.root = path.resolve(root);
    this.blobsDirectory = path.join(this.root, 'blobs', 'sha256');
    this.stagingDirectory = path.join(this.root, STAGING_DIRECTORY);
    this.fsync = options.fsync ?? true;
    this.treeConcurrency = options.treeConcurrency ?? 8;
  }

  /** Creates the store's directories and removes staging files left by crashed processes. */
  async init(): Promise<void> {
    await mkdir(this.blobsDirectory, { recursive: true });
    await mkdir(this.stagingDirectory, { recursive: true });
    await sweepStaging(this.stagingDirectory);
  }

  /** Where the blob `digest` is (or would be) stored. */
  blobPath(digest: string): string {
    assertDigest(digest);
    return path.join(this.blobsDirectory, digest.slice(0, 2), digest);
  }

  /** Whether the blob `digest` is stored (without checking its content; see {@link verifyBlob}). */
  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    }
  }

  /** Stores a string (as UTF-8) or bytes. */
  async putBytes(data: string | Uint8Array): Promise<ContentDigest> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const digest = sha256Bytes(bytes);
    const size = bytes.byteLength;
    if (await this.refreshExisting(digest, size)) return { digest, size };
    const staging = await this.newStagingPath();
    try {
      const handle = await open(staging, 'wx', BLOB_MODE);
      try {
        await handle.writeFile(bytes);
        if (this.fsync) await handle.datasync();
      } finally {
        await handle.close();
      }
      await this.publish(staging, digest, size);
    } finally {
      await rm(staging, { force: true });
    }
    return { digest, size };
  }

  /**
   * Stores a regular file (symlinks are followed when copying) and returns its digest and size.
   * The copy is hashed as it is written, in bounded memory; runs of zero chunks are not written,
   * so sparse files (disk images) stay sparse in the store.
   */
  async putFile(source: string, options: PutFileOptions = {}): Promise<ContentDigest> {
    const { signal } = options;
    signal?.throwIfAborted();
    if (options.move) {
      const moved = await this.moveIntoStore(source, signal);
      if (moved) return moved;
    }
    const staging = await this.newStagingPath();
    try {
      const stored = await this.copyIntoStaging(source, staging, signal);
      await this.publish(staging, stored.digest, stored.size);
      if (options.move) await rm(source, { force: true });
      return stored;
    } finally {
      await rm(staging, { force: true });
    }
  }

  /** Reads a whole blob into memory; meant for small blobs (tree manifests, logs). */
  async readBlob(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.blobPath(digest));
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw new BlobNotFoundError(digest);
      throw error;
    }
  }

  /**
   * Re-hashes the blob. On a mismatch (corruption) the blob is evicted; resolves to whether the
   * blob is present with the right content.
   */
  async verifyBlob(digest: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const blob = this.blobPath(digest);
    try {
      const actual = await sha256File(blob, options);
      if (actual.digest === digest) return true;
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
      return false;
    }
    await rm(blob, { force: true });
    return false;
  }

  /** Deletes a blob; resolves to whether it was there. Hardlinked copies elsewhere survive. */
  async removeBlob(digest: string): Promise<boolean> {
    const blob = this.blobPath(digest);
    try {
      await rm(blob);
      return true;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    }
  }

  /**
   * Materializes the blob at `destination`: a hardlink (the file is then read-only and shares
   * the blob's inode), or a reflink/copy when hardlinks fail (another filesystem, too many
   * links). Parent directories are created; an existing destination file is replaced atomically.
   */
  async linkOut(digest: string, destination: string, options: LinkOutOptions = {}): Promise<void> {
    const blob = this.blobPath(digest);
    const directory = path.dirname(destination);
    await mkdir(directory, { recursive: true });
    const temporary = path.join(directory, `.${path.basename(destination)}.fcos-${randomHex()}`);
    try {
      await this.placeBlob(digest, blob, temporary, options.executable ?? false);
      await rename(temporary, destination);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  /**
   * Stores a directory: every regular file as a blob, then the tree manifest (directories, files
   * with their executable bit, symlinks with their targets) as a blob of its own.
   */
  async putTree(directory: string, options: { signal?: AbortSignal } = {}): Promise<TreeDigest> {
    const { signal } = options;
    const root = path.resolve(directory);
    const rootStats = await lstat(root);
    if (!rootStats.isDirectory()) throw new UnsupportedFileError(root, 'not a directory');
    const found = await walkTree(root);
    const files = found.filter((item) => item.type === 'file');
    const stored = await mapWithLimit(files, this.treeConcurrency, (item) =>
      this.putFile(path.join(root, ...item.path.split('/')), { signal }),
    );
    let fileIndex = 0;
    const entries: TreeEntry[] = found.map((item) => {
      if (item.type !== 'file') return item;
      const content = stored[fileIndex++]!;
      return { ...item, digest: content.digest, size: content.size };
    });
    const manifest = createTreeManifest(entries);
    const { digest } = await this.putBytes(serializeTreeManifest(manifest));
    const size = stored.reduce((total, content) => total + content.size, 0);
    return { digest, size, files: files.length };
  }

  /** Reads and validates a tree manifest; a missing blob or bad manifest is a typed error. */
  async readTree(digest: string): Promise<TreeManifest> {
    const bytes = await this.readBlob(digest);
    if (sha256Bytes(bytes) !== digest)
      throw new CorruptTreeError(digest, 'its content does not match its digest');
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new CorruptTreeError(digest, 'it is not JSON');
    }
    const parsed = treeManifestSchema.safeParse(json);
    if (!parsed.success)
      throw new CorruptTreeError(digest, parsed.error.issues[0]?.message ?? 'invalid manifest');
    return parsed.data;
  }

  /**
   * Recreates a stored tree at `destination`: directories, files (hardlinks to blobs; executables
   * as copies) and symlinks. The tree is built in a sibling staging directory and swapped in, so
   * `destination` is never seen half-built; an existing destination is replaced.
   */
  async materializeTree(digest: string, destination: string): Promise<void> {
    const manifest = await this.readTree(digest);
    const target = path.resolve(destination);
    await mkdir(path.dirname(target), { recursive: true });
    const staging = `${target}.fcos-staging-${randomHex()}`;
    await mkdir(staging);
    try {
      for (const entry of manifest.entries) {
        if (entry.type === 'directory') await mkdir(path.join(staging, entry.path), { recursive: true });
      }
      const files = manifest.entries.filter((entry) => entry.type === 'file');
      await mapWithLimit(files, this.treeConcurrency, async (entry) => {
        const file = path.join(staging, entry.path);
        await mkdir(path.dirname(file), { recursive: true });
        await this.placeBlob(entry.digest, this.blobPath(entry.digest), file, entry.executable);
      });
      for (const entry of manifest.entries) {
        if (entry.type !== 'symlink') continue;
        const link = path.join(staging, entry.path);
        await mkdir(path.dirname(link), { recursive: true });
        await symlink(entry.target, link);
      }
      await swapIntoPlace(staging, target);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  }

  /** Every stored blob, shard by shard. */
  async *listBlobs(): AsyncGenerator<BlobInfo> {
    for (const shard of await readdirIfExists(this.blobsDirectory)) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      const shardDirectory = path.join(this.blobsDirectory, shard);
      for (const name of await readdirIfExists(shardDirectory)) {
        if (!isDigest(name) || !name.startsWith(shard)) continue;
        try {
          const stats = await stat(path.join(shardDirectory, name));
          if (stats.isFile())
            yield { digest: name, size: stats.size, modifiedAt: stats.mtime, changedAt: stats.ctime };
        } catch (error) {
          if (!isErrno(error, 'ENOENT')) throw error;
        }
      }
    }
  }

  /** Total size in bytes of all stored blobs. */
  async totalSize(): Promise<number> {
    let total = 0;
    for await (const blob of this.listBlobs()) total += blob.size;
    return total;
  }

  /**
   * The `move` path of putFile: renames the source into staging, hashes it there (so later writes
   * to the source path cannot change it) and publishes it. Resolves to undefined when the file
   * must be copied instead (other filesystem, or other hardlinks that could modify the blob).
   */
  private async moveIntoStore(
    source: string,
    signal: AbortSignal | undefined,
  ): Promise<ContentDigest | undefined> {
    const stats = await lstat(source);
    if (!stats.isFile()) throw new UnsupportedFileError(source, describeFileType(stats));
    if (stats.nlink > 1) return undefined;
    const staging = await this.newStagingPath();
    try {
      await rename(source, staging);
    } catch (error) {
      if (isErrno(error, 'EXDEV')) return undefined;
      throw error;
    }
    let published = false;
    try {
      await chmod(staging, BLOB_MODE);
      const content = await sha256File(staging, { signal });
      if (this.fsync) await syncFile(staging);
      await this.publish(staging, content.digest, content.size);
      published = true;
      return content;
    } finally {
      // A failed move gives the file back to its owner, with its mode.
      if (!published) {
        await chmod(staging, stats.mode & 0o7777).catch(() => undefined);
        await rename(staging, source).catch(() => rm(staging, { force: true }));
      } else {
        await rm(staging, { force: true });
      }
    }
  }

  /** Copies `source` into the new staging file `staging`, hashing what is written. */
  private async copyIntoStaging(
    source: string,
    staging: string,
    signal: AbortSignal | undefined,
  ): Promise<ContentDigest> {
    const input = await open(source, 'r');
    try {
      const stats = await input.stat();
      if (!stats.isFile()) throw new UnsupportedFileError(source, describeFileType(stats));
      const output = await open(staging, 'wx', BLOB_MODE);
      try {
        const hash = createHash('sha256');
        let offset = 0;
        const size = await forEachChunk(
          input,
          async (chunk) => {
            hash.update(chunk);
            if (!isAllZero(chunk)) await writeFully(output, chunk, offset);
            offset += chunk.length;
          },
          { signal, sizeHint: stats.size },
        );
        await output.truncate(size);
        if (this.fsync) await output.datasync();
        return { digest: hash.digest('hex'), size };
      } finally {
        await output.close();
      }
    } finally {
      await input.close();
    }
  }

  /**
   * Makes the complete staging file visible as blob `digest`. `link(2)` never replaces, so when
   * the blob already exists the existing one is kept (and marked as just stored, for gc), unless its
   * size shows it is damaged, in which case it is replaced atomically by rename.
   */
  private async publish(staging: string, digest: string, size: number): Promise<void> {
    const blob = this.blobPath(digest);
    await this.ensureShard(digest);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        await link(staging, blob);
        return;
      } catch (error) {
        if (isErrno(error, 'EEXIST')) {
          if (await this.refreshExisting(digest, size)) return;
          // The blob vanished (gc) or is damaged: the loop retries, then rename replaces it.
          if (await this.has(digest)) {
            await rename(staging, blob);
            return;
          }
          continue;
        }
        if (!LINK_UNSUPPORTED.has(errnoCode(error) ?? '')) throw error;
        if (!(await this.refreshExisting(digest, size))) await rename(staging, blob);
        return;
      }
    }
    await rename(staging, blob);
  }

  /**
   * If blob `digest` exists with size `size`, marks it as just stored and resolves to true. The
   * mark is a chmod to {@link BLOB_MODE}, which refreshes the ctime that gc's grace period reads
   * while leaving the mtime alone (a changed mtime means "touched" to stamp-based checks); it is
   * best effort, as a blob of another user of a shared cache cannot be chmodded.
   */
  private async refreshExisting(digest: string, size: number): Promise<boolean> {
    const blob = this.blobPath(digest);
    try {
      const stats = await stat(blob);
      if (!stats.isFile() || stats.size !== size) return false;
      await chmod(blob, BLOB_MODE).catch((error: unknown) => {
        if (!isErrno(error, 'EPERM') && !isErrno(error, 'EACCES')) throw error;
      });
      return true;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    }
  }

  /**
   * Creates `target` (which must not exist) with the content of `blob`: a hardlink, or for
   * executables and when linking fails, a reflink-or-copy with the right mode.
   */
  private async placeBlob(digest: string, blob: string, target: string, executable: boolean): Promise<void> {
    try {
      if (!executable) {
        try {
          await link(blob, target);
          return;
        } catch (error) {
          if (isErrno(error, 'ENOENT')) throw error;
        }
      }
      await copyFile(blob, target, fsConstants.COPYFILE_FICLONE);
      await chmod(target, executable ? EXECUTABLE_MODE : BLOB_MODE);
    } catch (error) {
      if (isErrno(error, 'ENOENT') && !(await this.has(digest))) throw new BlobNotFoundError(digest);
      throw error;
    }
  }

  /** A fresh staging path, with the staging directory created. */
  private async newStagingPath(): Promise<string> {
    if (!this.stagingReady) {
      await mkdir(this.stagingDirectory, { recursive: true });
      this.stagingReady = true;
    }
    return stagingPath(this.stagingDirectory);
  }

  /** Creates the shard directory of `digest` once per store instance. */
  private async ensureShard(digest: string): Promise<void> {
    const shard = digest.slice(0, 2);
    if (this.createdShards.has(shard)) return;
    await mkdir(path.join(this.blobsDirectory, shard), { recursive: true });
    this.createdShards.add(shard);
  }
}

/** An entry found by {@link walkTree}, before its files are stored. */
type WalkedEntry =
  | { type: 'directory'; path: string }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'file'; path: string; executable: boolean };

/** Lists every entry under `root` (not `root` itself) with forward-slash relative paths. */
async function walkTree(root: string): Promise<WalkedEntry[]> {
  const entries: WalkedEntry[] = [];
  const pending: string[] = [''];
  while (pending.length > 0) {
    const relativeDirectory = pending.pop()!;
    const names = await readdir(path.join(root, ...splitRelative(relativeDirectory)));
    for (const name of names) {
      const relative = relativeDirectory === '' ? name : `${relativeDirectory}/${name}`;
      const absolute = path.join(root, ...splitRelative(relative));
      const stats = await lstat(absolute);
      if (stats.isDirectory()) {
        entries.push({ type: 'directory', path: relative });
        pending.push(relative);
      } else if (stats.isSymbolicLink()) {
        entries.push({ type: 'symlink', path: relative, target: await readlink(absolute) });
      } else if (stats.isFile()) {
        entries.push({ type: 'file', path: relative, executable: (stats.mode & 0o111) !== 0 });
      } else {
        throw new UnsupportedFileError(absolute, describeFileType(stats));
      }
    }
  }
  return entries;
}

/** Splits a forward-slash relative path into segments (none for the empty path). */
function splitRelative(relative: string): string[] {
  return relative === '' ? [] : relative.split('/');
}

/**
 * Moves the built directory `staging` to `target`. When `target` exists it is moved aside first
 * and removed after the swap (rename cannot replace a non-empty directory).
 */
async function swapIntoPlace(staging: string, target: string): Promise<void> {
  try {
    await rename(staging, target);
    return;
  } catch (error) {
    if (!['ENOTEMPTY', 'EEXIST', 'ENOTDIR', 'EISDIR'].includes(errnoCode(error) ?? '')) throw error;
  }
  const aside = `${target}.fcos-old-${randomHex()}`;
  await rename(target, aside);
  await rename(staging, target);
  await rm(aside, { recursive: true, force: true });
}

let zeroChunk: Buffer | undefined;

/** Whether every byte of `chunk` is zero (compared with a shared zero buffer, i.e. memcmp). */
function isAllZero(chunk: Buffer): boolean {
  zeroChunk ??= Buffer.alloc(MAX_CHUNK_BYTES);
  if (chunk.length > zeroChunk.length) return false;
  return chunk.equals(zeroChunk.subarray(0, chunk.length));
}

/** Writes all of `chunk` at `position`, looping over short writes. */
async function writeFully(handle: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, written, chunk.length - written, position + written);
    written += bytesWritten;
  }
}

/** Flushes a file's data to disk. */
async function syncFile(filePath: string): Promise<void> {
  const handle = await open(filePath, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** What kind of file `stats` describes, for error messages. */
function describeFileType(stats: {
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
}): string {
  if (stats.isDirectory()) return 'a directory (use putTree)';
  if (stats.isSymbolicLink()) return 'a symlink';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  return 'a device';
}

/** 16 random hex digits for temporary names. */
function randomHex(): string {
  return randomBytes(8).toString('hex');
}
