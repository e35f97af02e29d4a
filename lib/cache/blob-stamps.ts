/**
 * Stamps of blobs: what a blob's inode looked like (inode number, size, mtime and ctime, to the
 * nanosecond) when its content was last hashed and found to match its digest. One entry per blob,
 * `<root>/stamps/<first 2>/<digest>`, so that a run refreshes a stamp without rewriting the
 * action records that reference the blob (records are content, shared by a remote cache; stamps
 * are this machine's knowledge of its own files). The entry is a symlink whose target is the
 * stamp text: a null run reads one per cached output, and readlink is one system call where
 * reading a file is four (measured: 10 ms instead of 35 ms for 2,000 stamps).
 *
 * ctime is in the stamp because user space cannot set it: a rewrite that restores the mtime
 * (`touch -r`, a restore tool) still moves it. But the cache's own operations move it too: a
 * hardlink made into fcos.out or removed from it, and gc's chmod mark. Those go through
 * {@link BlobStamps.keepThrough}, which refreshes the stamps that matched just before, so that
 * only a change the cache did not make forces a re-hash. A verified re-hash records a new stamp,
 * so a copied cache (every inode new) is re-hashed once, not on every run.
 *
 * Besides the stamps on disk, the store remembers which blobs this process hashed itself (and
 * their stamp then): what an input must be before a runner consumes it.
 */
import { type BigIntStats, readlinkSync, statSync } from 'node:fs';
import { mkdir, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { isErrno } from './fs-helpers.ts';
import { STAGING_DIRECTORY, stagingPath } from './staging.ts';

/** Name of the stamp directory under a cache root. */
export const STAMPS_DIRECTORY = 'stamps';

/** How a blob compares with its stamp. */
export type StampState = 'trusted' | 'changed' | 'missing';

/** The stamp text of a file's stats: format version, inode, size, mtime and ctime in nanoseconds. */
function stampText(stats: BigIntStats): string {
  return `1 ${stats.ino} ${stats.size} ${stats.mtimeNs} ${stats.ctimeNs}`;
}

/** The stamp text of `file` as it is now, or undefined when it does not exist. */
export function currentStamp(file: string): string | undefined {
  // Synchronous: a stat per cached output, thousands in a null run (see ArtifactStore.linkBlob).
  const stats = statSync(file, { bigint: true, throwIfNoEntry: false });
  return stats?.isFile() ? stampText(stats) : undefined;
}

/** The part of a stamp that only a content change moves: inode, size and mtime (not ctime). */
function identityOf(stamp: string): string {
  return stamp.split(' ').slice(0, 4).join(' ');
}

/** The stamps of the blobs of one cache root. */
export class BlobStamps {
  /** `<root>/stamps`. */
  readonly directory: string;
  private readonly stagingDirectory: string;
  /** Blobs this process hashed, with their stamp right after. */
  private readonly hashedHere = new Map<string, string>();
  private readonly createdShards = new Set<string>();

  constructor(root: string) {
    this.directory = path.join(path.resolve(root), STAMPS_DIRECTORY);
    this.stagingDirectory = path.join(path.resolve(root), STAGING_DIRECTORY);
  }

  /** Where the stamp of `digest` is kept. */
  stampPath(digest: string): string {
    return path.join(this.directory, digest.slice(0, 2), digest);
  }

  /** Whether the blob at `blobPath` is unchanged since its content was last verified, by any process. */
  state(digest: string, blobPath: string): StampState {
    const current = currentStamp(blobPath);
    if (current === undefined) return 'missing';
    return current === this.recorded(digest) ? 'trusted' : 'changed';
  }

  /** Whether this process hashed the blob at `blobPath` and it has not changed since. */
  isVerifiedHere(digest: string, blobPath: string): boolean {
    const here = this.hashedHere.get(digest);
    return here !== undefined && here === currentStamp(blobPath);
  }

  /**
   * Records that the blob's content was just verified. `before` is its stamp taken before the
   * content was read: if the blob changed while it was read, nothing is recorded.
   */
  async recordVerified(digest: string, blobPath: string, before?: string): Promise<void> {
    const now = currentStamp(blobPath);
    if (now === undefined || (before !== undefined && before !== now)) return;
    this.hashedHere.set(digest, now);
    await this.write(digest, now);
  }

  /**
   * Runs `operation`, one of the cache's own changes to the blobs' ctime (a hardlink made or
   * removed, a chmod), and refreshes the stamps that matched before it, unless the inode, size or
   * mtime changed meanwhile (then the blob was rewritten and keeps its stale stamp).
   */
  async keepThrough<T>(
    blobs: ReadonlyArray<{ readonly digest: string; readonly blobPath: string }>,
    operation: () => Promise<T>,
  ): Promise<T> {
    const kept = new Map<string, { blobPath: string; before: string; disk: boolean; here: boolean }>();
    for (const { digest, blobPath } of blobs) {
      if (kept.has(digest)) continue;
      const before = currentStamp(blobPath);
      if (before === undefined) continue;
      const disk = before === this.recorded(digest);
      const here = this.hashedHere.get(digest) === before;
      if (disk || here) kept.set(digest, { blobPath, before, disk, here });
    }
    const result = await operation();
    for (const [digest, { blobPath, before, disk, here }] of kept) {
      const after = currentStamp(blobPath);
      if (after === undefined || after === before || identityOf(after) !== identityOf(before)) continue;
      if (here) this.hashedHere.set(digest, after);
      if (disk) await this.write(digest, after);
    }
    return result;
  }

  /** Forgets the stamp of a blob that was deleted or evicted. */
  async forget(digest: string): Promise<void> {
    this.hashedHere.delete(digest);
    await rm(this.stampPath(digest), { force: true });
  }

  /** The recorded stamp of `digest`, or undefined. */
  private recorded(digest: string): string | undefined {
    try {
      // Synchronous, like currentStamp: one system call on the null run's path.
      return readlinkSync(this.stampPath(digest));
    } catch (error) {
      // EINVAL: not a symlink, so not a stamp this store wrote.
      if (isErrno(error, 'ENOENT') || isErrno(error, 'EINVAL')) return undefined;
      throw error;
    }
  }

  /**
   * Writes a stamp atomically (a symlink made under a staging name, renamed into place), without
   * fsync: a stamp lost in a crash only costs a re-hash.
   */
  private async write(digest: string, stamp: string): Promise<void> {
    const shard = digest.slice(0, 2);
    if (!this.createdShards.has(shard)) {
      await mkdir(path.join(this.directory, shard), { recursive: true });
      await mkdir(this.stagingDirectory, { recursive: true });
      this.createdShards.add(shard);
    }
    const staging = stagingPath(this.stagingDirectory);
    try {
      await symlink(stamp, staging);
      await rename(staging, this.stampPath(digest));
    } catch (error) {
      await rm(staging, { force: true });
      throw error;
    }
  }
}
