/**
 * The content-addressed blob store of the local cache. A blob is a read-only (0444) file at
 * `<root>/blobs/sha256/<first 2 hex>/<digest>`; identical content is stored once. Content is
 * written to a staging file under `<root>/tmp/` and linked into place only when complete, so a
 * crash at any moment leaves either no blob or a whole one. Directory outputs are stored as a
 * tree manifest (see tree-manifest.ts) whose files are blobs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, statSync } from 'node:fs';
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
import { BlobStamps, currentStamp, type StampState } from './blob-stamps.ts';
import { forEachChunk, MAX_CHUNK_BYTES } from './chunked-read.ts';
import { mapWithLimit } from './concurrency.ts';
import {
  BlobDigestMismatchError,
  BlobNotFoundError,
  CorruptBlobError,
  CorruptTreeError,
  UnsupportedFileError,
} from './errors.ts';
import { errnoCode, isErrno, readdirIfExists } from './fs-helpers.ts';
import { assertDigest, type ContentDigest, isDigest, knownContent, sha256Bytes, sha256File } from './hash.ts';
import { STAGING_DIRECTORY, stagingPath, sweepStaging } from './staging.ts';
import {
  compareCodeUnits,
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

/**
 * What {@link CasStore.verifyForUse} found: the blob was hashed by this process already and is
 * unchanged, was hashed now and matches, did not match (evicted), or is not stored.
 */
export type VerifyForUseResult = 'verified-before' | 'hashed' | 'corrupt' | 'missing';

/** A file entry of a tree manifest. */
type TreeFileEntry = Extract<TreeEntry, { type: 'file' }>;

/** Largest executable of a tree compared by content by {@link CasStore.isTreeInPlace}. */
const SMALL_EXECUTABLE_BYTES = 64 * 1024;

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
  /** What each blob's inode looked like when its content was last verified (see blob-stamps.ts). */
  readonly stamps: BlobStamps;
  private readonly fsync: boolean;
  private readonly treeConcurrency: number;
  private readonly createdShards = new Set<string>();
  /** Hashes in flight by {@link verifyForUse}, so that two consumers of one blob read it once. */
  private readonly verifying = new Map<string, Promise<VerifyForUseResult>>();
  private stagingReady = false;

  constructor(root: string, options: CasStoreOptions = {}) {
    this.root = path.resolve(root);
    this.blobsDirectory = path.join(this.root, 'blobs', 'sha256');
    this.stagingDirectory = path.join(this.root, STAGING_DIRECTORY);
    this.stamps = new BlobStamps(this.root);
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

  /** The digest of `file` when it is one of this store's blobs (a runner's file input), else undefined. */
  digestOfBlobPath(file: string): string | undefined {
    const resolved = path.resolve(file);
    const name = path.basename(resolved);
    if (!isDigest(name)) return undefined;
    return resolved === this.blobPath(name) ? name : undefined;
  }

  /**
   * Runs `operation`, which links, renames or unlinks hardlinks of `files` elsewhere (a runner
   * publishing its inputs); those of them that are blobs of this store keep their stamps through it.
   */
  async keepFilesTrusted<T>(files: readonly string[], operation: () => Promise<T>): Promise<T> {
    const blobs = files.flatMap((file) => {
      const digest = this.digestOfBlobPath(file);
      return digest === undefined ? [] : [{ digest, blobPath: this.blobPath(digest) }];
    });
    return blobs.length === 0 ? operation() : this.stamps.keepThrough(blobs, operation);
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
    if (await this.adoptExisting(digest)) return { digest, size };
    const staging = await this.newStagingPath();
    try {
      const handle = await open(staging, 'wx', BLOB_MODE);
      try {
        await handle.writeFile(bytes);
        if (this.fsync) await handle.datasync();
      } finally {
        await handle.close();
      }
      await this.publish(staging, digest);
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
      await this.publish(staging, stored.digest);
      if (options.move) await rm(source, { force: true });
      return stored;
    } finally {
      await rm(staging, { force: true });
    }
  }

  /**
   * Stores bytes arriving as a stream (a remote cache's download) only if they hash to
   * `expected`: hashed as they are written, zero chunks left as holes; anything else is refused
   * with a {@link BlobDigestMismatchError} and nothing is stored.
   */
  async putStream(
    chunks: AsyncIterable<Uint8Array>,
    expected: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<ContentDigest> {
    assertDigest(expected);
    const staging = await this.newStagingPath();
    try {
      const output = await open(staging, 'wx', BLOB_MODE);
      let stored: ContentDigest;
      try {
        const hash = createHash('sha256');
        let offset = 0;
        for await (const chunk of chunks) {
          options.signal?.throwIfAborted();
          const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
          hash.update(bytes);
          if (!isAllZero(bytes)) await writeFully(output, bytes, offset);
          offset += bytes.length;
        }
        await output.truncate(offset);
        stored = { digest: hash.digest('hex'), size: offset };
        if (stored.digest !== expected) throw new BlobDigestMismatchError(expected, stored.digest);
        if (this.fsync) await output.datasync();
      } finally {
        await output.close();
      }
      await this.publish(staging, expected);
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
   * Re-hashes the blob. A match records a fresh stamp (so that a stamp changed by a copy of the
   * cache, or anything else that kept the content, costs one re-hash, not one per run); on a
   * mismatch (corruption) the blob is evicted. Resolves to whether the blob is present with the
   * right content.
   */
  async verifyBlob(digest: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const blob = this.blobPath(digest);
    const before = currentStamp(blob);
    if (before === undefined) return false;
    try {
      const actual = await sha256File(blob, options);
      if (actual.digest === digest) {
        await this.stamps.recordVerified(digest, blob, before);
        return true;
      }
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
      return false;
    }
    await this.evict(digest);
    return false;
  }

  /** How the blob compares with its stamp: trusted (unchanged since verified), changed, or missing. */
  stampState(digest: string): StampState {
    return this.stamps.state(digest, this.blobPath(digest));
  }

  /**
   * Makes sure the blob's content matches its digest before it is consumed: a blob this process
   * hashed (stored, verified or copied) and left unchanged since is not read again; any other is
   * re-hashed, and evicted on a mismatch. Concurrent calls for one blob share one hash.
   */
  async verifyForUse(digest: string, options: { signal?: AbortSignal } = {}): Promise<VerifyForUseResult> {
    const blob = this.blobPath(digest);
    if (this.stamps.isVerifiedHere(digest, blob)) return 'verified-before';
    const inFlight = this.verifying.get(digest);
    if (inFlight) {
      // Another consumer is hashing it: share its result, unless its own signal stopped it.
      const shared = await inFlight.catch(() => undefined);
      if (shared !== undefined) return shared === 'hashed' ? 'verified-before' : shared;
      options.signal?.throwIfAborted();
    }
    const verification = (async (): Promise<VerifyForUseResult> => {
      if (!(await this.has(digest))) return 'missing';
      return (await this.verifyBlob(digest, options)) ? 'hashed' : 'corrupt';
    })();
    this.verifying.set(digest, verification);
    try {
      return await verification;
    } finally {
      this.verifying.delete(digest);
    }
  }

  /** Deletes a blob and its stamp; resolves to whether it was there. Hardlinked copies elsewhere survive. */
  async removeBlob(digest: string): Promise<boolean> {
    const blob = this.blobPath(digest);
    try {
      await rm(blob);
      return true;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    } finally {
      await this.stamps.forget(digest);
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
    // A hardlink changes the blob's ctime: its stamp is kept through it.
    await this.stamps.keepThrough([{ digest, blobPath: blob }], async () => {
      try {
        await this.placeBlob(digest, blob, temporary, options.executable ?? false);
        await rename(temporary, destination);
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
    });
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
   * `destination` is never seen half-built; an existing destination is replaced. The links made
   * and the old tree's links removed change the blobs' ctimes: their stamps are kept through it.
   */
  async materializeTree(digest: string, destination: string): Promise<void> {
    const manifest = await this.readTree(digest);
    const files = manifest.entries.flatMap((entry) => (entry.type === 'file' ? [entry] : []));
    const blobs = files.map((entry) => ({ digest: entry.digest, blobPath: this.blobPath(entry.digest) }));
    await this.stamps.keepThrough(blobs, () =>
      this.buildTree(manifest, destination, (entry, file) =>
        this.placeBlob(entry.digest, this.blobPath(entry.digest), file, entry.executable),
      ),
    );
  }

  /**
   * Recreates a stored tree at `destination` as copies, each file hashed as it is copied (the
   * same pass, no extra read) unless this process verified its blob already: what a runner
   * consumes. A file whose content does not match the manifest has its blob evicted and fails
   * the copy with a {@link CorruptBlobError} naming it; nothing is left at `destination`.
   * Resolves to the files and bytes hashed. Copies leave the blobs' ctimes (and stamps) alone.
   */
  async copyTreeVerified(
    digest: string,
    destination: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ readonly hashedFiles: number; readonly hashedBytes: number }> {
    const manifest = await this.readTree(digest);
    let hashedFiles = 0;
    let hashedBytes = 0;
    await this.buildTree(manifest, destination, async (entry, file) => {
      if (await this.copyVerified(entry, file, options.signal)) {
        hashedFiles += 1;
        hashedBytes += entry.size;
      }
    });
    return { hashedFiles, hashedBytes };
  }

  /**
   * Whether `destination` already holds exactly the stored tree as {@link materializeTree} makes
   * it: the same entries, each file a hardlink of its blob (an executable, a small copy with the
   * same bytes). A null run leaves such a tree alone instead of linking it again.
   */
  async isTreeInPlace(digest: string, destination: string): Promise<boolean> {
    const target = path.resolve(destination);
    const rootStats = statSync(target, { throwIfNoEntry: false });
    if (!rootStats?.isDirectory()) return false;
    const manifest = await this.readTree(digest);
    const found = (await walkTree(target)).sort((left, right) => compareCodeUnits(left.path, right.path));
    if (found.length !== manifest.entries.length) return false;
    for (const [index, entry] of manifest.entries.entries()) {
      const present = found[index]!;
      if (present.path !== entry.path || present.type !== entry.type) return false;
      if (entry.type === 'symlink' && present.type === 'symlink' && present.target !== entry.target)
        return false;
      if (entry.type !== 'file') continue;
      const file = path.join(target, entry.path);
      const blob = statSync(this.blobPath(entry.digest), { throwIfNoEntry: false });
      if (!blob) return false;
      if (!entry.executable) {
        if (statSync(file).ino !== blob.ino) return false;
        continue;
      }
      if (entry.size > SMALL_EXECUTABLE_BYTES || statSync(file).size !== entry.size) return false;
      const [copy, stored] = await Promise.all([readFile(file), readFile(this.blobPath(entry.digest))]);
      if (!copy.equals(stored)) return false;
    }
    return true;
  }

  /**
   * Builds a stored tree's entries in a sibling staging directory, each file placed by
   * `placeFile` at a path that does not exist yet, then swaps it in at `destination`.
   */
  private async buildTree(
    manifest: TreeManifest,
    destination: string,
    placeFile: (entry: TreeFileEntry, file: string) => Promise<void>,
  ): Promise<void> {
    const target = path.resolve(destination);
    await mkdir(path.dirname(target), { recursive: true });
    const staging = `${target}.fcos-staging-${randomHex()}`;
    await mkdir(staging);
    try {
      for (const entry of manifest.entries) {
        if (entry.type === 'directory') await mkdir(path.join(staging, entry.path), { recursive: true });
      }
      const files = manifest.entries.flatMap((entry) => (entry.type === 'file' ? [entry] : []));
      await mapWithLimit(files, this.treeConcurrency, async (entry) => {
        const file = path.join(staging, entry.path);
        await mkdir(path.dirname(file), { recursive: true });
        await placeFile(entry, file);
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

  /**
   * Copies the blob of a tree file to `target` (which must not exist) with the entry's mode. A
   * blob this process verified is cloned; any other is hashed while it is copied, and evicted
   * when it does not match (a {@link CorruptBlobError}). Resolves to whether it was hashed.
   */
  private async copyVerified(
    entry: TreeFileEntry,
    target: string,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const blob = this.blobPath(entry.digest);
    const mode = entry.executable ? EXECUTABLE_MODE : BLOB_MODE;
    if (this.stamps.isVerifiedHere(entry.digest, blob)) {
      await copyFile(blob, target, fsConstants.COPYFILE_FICLONE);
      await chmod(target, mode);
      return false;
    }
    const before = currentStamp(blob);
    if (before === undefined) throw new BlobNotFoundError(entry.digest);
    const input = await open(blob, 'r');
    let copied: ContentDigest;
    try {
      const output = await open(target, 'wx', mode);
      try {
        copied = await copySparseHashing(input, output, signal, entry.size);
      } finally {
        await output.close();
      }
    } finally {
      await input.close();
    }
    await chmod(target, mode);
    if (copied.digest !== entry.digest) {
      await this.evict(entry.digest);
      throw new CorruptBlobError(entry.digest, entry.path);
    }
    await this.stamps.recordVerified(entry.digest, blob, before);
    return true;
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
    // Hashed by its runner already (an image's sha256 is in its metadata): the rename and chmod
    // below move its ctime, so what this process knows of it is asked for now.
    const known = knownContent(source);
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
      const content = known ?? (await sha256File(staging, { signal }));
      if (this.fsync) await syncFile(staging);
      await this.publish(staging, content.digest);
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
        const copied = await copySparseHashing(input, output, signal, stats.size);
        if (this.fsync) await output.datasync();
        return copied;
      } finally {
        await output.close();
      }
    } finally {
      await input.close();
    }
  }

  /**
   * Makes the complete staging file, whose content was hashed as `digest`, visible as that blob
   * and stamps it as verified. `link(2)` never replaces, so when the blob already exists the
   * existing one is kept (and marked as just stored, for gc) if its stamp vouches for it;
   * otherwise (damaged, or never verified since it last changed) the verified staging file
   * replaces it atomically by rename.
   */
  private async publish(staging: string, digest: string): Promise<void> {
    const blob = this.blobPath(digest);
    await this.ensureShard(digest);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      let linked = false;
      try {
        await link(staging, blob);
        linked = true;
      } catch (error) {
        if (isErrno(error, 'EEXIST')) {
          if (await this.adoptExisting(digest)) return;
          // The blob vanished (gc): link again; else it is untrusted: replace it below.
          if (await this.has(digest)) break;
          continue;
        }
        if (!LINK_UNSUPPORTED.has(errnoCode(error) ?? '')) throw error;
        if (await this.adoptExisting(digest)) return;
        break;
      }
      if (linked) {
        // The staging name goes now, not in the caller's cleanup: dropping that link changes the
        // blob's ctime, which the stamp must already include.
        await rm(staging, { force: true });
        await this.stamps.recordVerified(digest, blob);
        return;
      }
    }
    await rename(staging, blob);
    await this.stamps.recordVerified(digest, blob);
  }

  /**
   * If blob `digest` exists and its stamp vouches for its content, marks it as just stored and
   * resolves to true. The mark is a chmod to {@link BLOB_MODE}, which refreshes the ctime that
   * gc's grace period reads while leaving the mtime alone; the stamp is kept through it. It is
   * best effort, as a blob of another user of a shared cache cannot be chmodded.
   */
  private async adoptExisting(digest: string): Promise<boolean> {
    const blob = this.blobPath(digest);
    if (this.stamps.state(digest, blob) !== 'trusted') return false;
    try {
      await this.stamps.keepThrough([{ digest, blobPath: blob }], () =>
        chmod(blob, BLOB_MODE).catch((error: unknown) => {
          if (!isErrno(error, 'EPERM') && !isErrno(error, 'EACCES')) throw error;
        }),
      );
      return true;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    }
  }

  /** Deletes a blob whose content does not match its digest, with its stamp. */
  private async evict(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
    await this.stamps.forget(digest);
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

/**
 * Copies `input` to `output` in bounded memory, hashing what is read: runs of zero chunks are
 * not written (the output is truncated to the full size), so sparse files stay sparse.
 */
async function copySparseHashing(
  input: FileHandle,
  output: FileHandle,
  signal: AbortSignal | undefined,
  sizeHint: number,
): Promise<ContentDigest> {
  const hash = createHash('sha256');
  let offset = 0;
  const size = await forEachChunk(
    input,
    async (chunk) => {
      hash.update(chunk);
      if (!isAllZero(chunk)) await writeFully(output, chunk, offset);
      offset += chunk.length;
    },
    { signal, sizeHint },
  );
  await output.truncate(size);
  return { digest: hash.digest('hex'), size };
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
