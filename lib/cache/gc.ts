/**
 * Maintenance of a cache root: size-bounded garbage collection (least recently used records
 * first), verification of every blob, and a listing of what is cached.
 */
import { existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { ActionCache, type ActionRecord, type DeletedActionRecord } from './action-cache.ts';
import { CasStore } from './cas-store.ts';
import { mapWithLimit } from './concurrency.ts';
import { readdirIfExists } from './fs-helpers.ts';
import { isDigest } from './hash.ts';
import { withLock } from './lock.ts';
import { sweepStaging } from './staging.ts';

/** Name of the lock that serializes collections on one root. */
export const GC_LOCK_NAME = 'gc';

/** Options of {@link collectGarbage}. */
export interface CollectGarbageOptions {
  /** Bound on the bytes the blobs left take (allocated bytes: holes of sparse files do not count). */
  readonly maxSizeBytes: number;
  /**
   * Unreferenced blobs stored (or re-stored, or linked out) more recently than this are kept, in
   * milliseconds: they may belong to an action whose record is not written yet.
   * @default 600000 (10 minutes)
   */
  readonly unreferencedGraceMs?: number;
}

/** What {@link collectGarbage} did. Sizes are allocated bytes (see {@link allocatedBytes}). */
export interface CollectGarbageResult {
  /** Action records evicted. */
  readonly removedRecords: number;
  /** Blobs deleted (no longer referenced by any record). */
  readonly removedBlobs: number;
  /** Bytes of the deleted blobs. */
  readonly freedBytes: number;
  /** Bytes of the blobs left. */
  readonly remainingBytes: number;
}

/** Blobs left for one reason, and what they take. */
export interface KeptBlobs {
  /** How many. */
  readonly blobs: number;
  /** Their allocated bytes. */
  readonly bytes: number;
}

/** What {@link collectGarbageWithReport} did, and why what is left was kept. */
export interface GarbageCollectionReport extends CollectGarbageResult {
  /** The bound asked for, in bytes. */
  readonly maxSizeBytes: number;
  /** Whether what is left fits in `maxSizeBytes`. */
  readonly fits: boolean;
  /** Records left in the cache. */
  readonly keptRecords: number;
  /** Blobs kept because a record left in the cache references them. */
  readonly keptReferenced: KeptBlobs;
  /** Blobs kept because they were stored within the grace period (no record references them now). */
  readonly keptInGrace: KeptBlobs;
  /** The grace period applied, in milliseconds. */
  readonly graceMs: number;
}

/** What {@link verifyCache} found. */
export interface VerifyCacheResult {
  /** Blobs re-hashed. */
  readonly checkedBlobs: number;
  /** Digests of the blobs whose content did not match, now evicted. */
  readonly corruptBlobs: readonly string[];
  /** Action records read (the valid ones and the deleted ones). */
  readonly checkedRecords: number;
  /** Action records that did not parse (truncated, overwritten) or sat under the wrong key, now deleted. */
  readonly deletedRecords: readonly DeletedActionRecord[];
  /** Records that reference blobs no longer stored: they will fail to materialize. */
  readonly recordsMissingBlobs: ReadonlyArray<{ key: string; node: string; missingDigests: string[] }>;
}

/** One line of {@link listCache}. */
export interface CacheListing {
  /** Action key. */
  readonly key: string;
  /** Construct path of the node. */
  readonly node: string;
  /** Kind of the node. */
  readonly kind: string;
  /** Sum of the sizes of its outputs, in bytes. */
  readonly size: number;
  /** Output names, sorted. */
  readonly outputs: readonly string[];
  /** Last time the record was written or used. */
  readonly lastUsedAt: Date;
}

/**
 * The bytes a file takes on its filesystem: its allocated blocks, capped at its apparent size. A
 * sparse blob (a raw disk) takes far less than its apparent size, and counting the holes would
 * evict records to free space that was never used; the cap leaves out the rounding of a small
 * file up to a whole block, so that a blob's size does not depend on the filesystem's block size.
 */
export function allocatedBytes(stats: { readonly size: number; readonly blocks: number }): number {
  return Math.min(stats.size, stats.blocks * 512);
}

/**
 * Evicts least-recently-used action records until the blobs left fit in `maxSizeBytes`, then
 * deletes every blob no record references and not stored within the grace period. Sizes are
 * allocated bytes. Runs under the `gc` lock; staging files of dead processes are swept too.
 */
export async function collectGarbage(
  root: string,
  options: CollectGarbageOptions,
): Promise<CollectGarbageResult> {
  const { removedRecords, removedBlobs, freedBytes, remainingBytes } = await collectGarbageWithReport(
    root,
    options,
  );
  return { removedRecords, removedBlobs, freedBytes, remainingBytes };
}

/** {@link collectGarbage}, reporting too what was kept and why, and whether the bound is met. */
export async function collectGarbageWithReport(
  root: string,
  options: CollectGarbageOptions,
): Promise<GarbageCollectionReport> {
  return withLock(root, GC_LOCK_NAME, async () => {
    const store = new CasStore(root);
    const actions = new ActionCache(root);
    await sweepStaging(store.stagingDirectory);
    const graceMs = options.unreferencedGraceMs ?? 600_000;
    const now = Date.now();
    const blobs = new Map<string, { bytes: number; inGrace: boolean }>();
    for await (const blob of store.listBlobs()) {
      const storedAt = Math.max(blob.modifiedAt.getTime(), blob.changedAt.getTime());
      const bytes = await blobAllocatedBytes(store, blob.digest, blob.size);
      if (bytes !== undefined) blobs.set(blob.digest, { bytes, inGrace: now - storedAt < graceMs });
    }
    await sweepOrphanStamps(store);
    const entries = await actions.list();
    const treeFiles = new Map<string, readonly string[]>();
    const referencesByRecord = new Map<string, Set<string>>();
    const referenceCounts = new Map<string, number>();
    for (const { record } of entries) {
      const references = await referencedBlobs(record, store, treeFiles);
      referencesByRecord.set(record.key, references);
      for (const digest of references) referenceCounts.set(digest, (referenceCounts.get(digest) ?? 0) + 1);
    }
    // The bound applies to what the records kept reference; unreferenced blobs within the grace
    // period stay too (a run may be about to reference them), and are reported as kept for that.
    let referencedBytes = 0;
    for (const digest of referenceCounts.keys()) referencedBytes += blobs.get(digest)?.bytes ?? 0;

    let removedRecords = 0;
    for (const { record } of entries) {
      if (referencedBytes <= options.maxSizeBytes) break;
      await actions.remove(record.key);
      removedRecords += 1;
      for (const digest of referencesByRecord.get(record.key) ?? []) {
        const count = (referenceCounts.get(digest) ?? 1) - 1;
        if (count > 0) {
          referenceCounts.set(digest, count);
          continue;
        }
        referenceCounts.delete(digest);
        referencedBytes -= blobs.get(digest)?.bytes ?? 0;
      }
    }

    let removedBlobs = 0;
    let freedBytes = 0;
    const keptReferenced = { blobs: 0, bytes: 0 };
    const keptInGrace = { blobs: 0, bytes: 0 };
    for (const [digest, blob] of blobs) {
      const kept = referenceCounts.has(digest) ? keptReferenced : blob.inGrace ? keptInGrace : undefined;
      if (kept) {
        kept.blobs += 1;
        kept.bytes += blob.bytes;
        continue;
      }
      if (await store.removeBlob(digest)) {
        removedBlobs += 1;
        freedBytes += blob.bytes;
      }
    }
    const remainingBytes = keptReferenced.bytes + keptInGrace.bytes;
    return {
      removedRecords,
      removedBlobs,
      freedBytes,
      remainingBytes,
      maxSizeBytes: options.maxSizeBytes,
      fits: remainingBytes <= options.maxSizeBytes,
      keptRecords: entries.length - removedRecords,
      keptReferenced,
      keptInGrace,
      graceMs,
    };
  });
}

/** The allocated bytes of a stored blob; undefined when it vanished since it was listed. */
async function blobAllocatedBytes(
  store: CasStore,
  digest: string,
  size: number,
): Promise<number | undefined> {
  try {
    return allocatedBytes({ size, blocks: (await stat(store.blobPath(digest))).blocks });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Re-hashes every blob, evicting the corrupt ones (and refreshing the stamps of the others),
 * deletes the action records that do not parse, then reports the records that now reference
 * missing blobs (the executor will treat those as misses and re-run them).
 */
export async function verifyCache(
  root: string,
  options: { signal?: AbortSignal } = {},
): Promise<VerifyCacheResult> {
  const store = new CasStore(root);
  const actions = new ActionCache(root);
  const digests: string[] = [];
  for await (const blob of store.listBlobs()) digests.push(blob.digest);
  const valid = await mapWithLimit(digests, availableParallelism(), (digest) =>
    store.verifyBlob(digest, options),
  );
  const corruptBlobs = digests.filter((_, index) => !valid[index]);
  await sweepOrphanStamps(store);
  const deletedRecords: DeletedActionRecord[] = [];
  const entries = await actions.list({ onDeleted: (deleted) => deletedRecords.push(deleted) });
  const recordsMissingBlobs: Array<{ key: string; node: string; missingDigests: string[] }> = [];
  for (const { record } of entries) {
    const missingDigests: string[] = [];
    for (const digest of [...(await referencedBlobs(record, store))].sort()) {
      if (!(await store.has(digest))) missingDigests.push(digest);
    }
    if (missingDigests.length > 0)
      recordsMissingBlobs.push({ key: record.key, node: record.node, missingDigests });
  }
  return {
    checkedBlobs: digests.length,
    corruptBlobs,
    checkedRecords: entries.length + deletedRecords.length,
    deletedRecords,
    recordsMissingBlobs,
  };
}

/** Deletes the stamps of blobs that are no longer stored (removed by hand, or by an older version). */
async function sweepOrphanStamps(store: CasStore): Promise<void> {
  for (const shard of await readdirIfExists(store.stamps.directory)) {
    for (const digest of await readdirIfExists(path.join(store.stamps.directory, shard))) {
      if (!isDigest(digest) || existsSync(store.blobPath(digest))) continue;
      await rm(store.stamps.stampPath(digest), { force: true });
    }
  }
}

/** Every cached record with its node, kind, size and last use, most recently used first. */
export async function listCache(root: string): Promise<CacheListing[]> {
  const entries = await new ActionCache(root).list();
  return entries.reverse().map(({ record, lastUsedAt }) => ({
    key: record.key,
    node: record.node,
    kind: record.kind,
    size: Object.values(record.outputs).reduce((total, output) => total + output.size, 0),
    outputs: Object.keys(record.outputs).sort(),
    lastUsedAt,
  }));
}

/**
 * The blobs a record needs: file outputs, tree manifests and the files they list, and the log.
 * A tree whose manifest is missing or corrupt contributes only the manifest's digest. Ostree
 * commits live in the ostree repository, not in the blob store.
 */
export async function referencedBlobs(
  record: ActionRecord,
  store: CasStore,
  treeFiles: Map<string, readonly string[]> = new Map(),
): Promise<Set<string>> {
  const references = new Set<string>();
  if (record.logDigest) references.add(record.logDigest);
  for (const output of Object.values(record.outputs)) {
    if (output.storage === 'ostree-commit') continue;
    references.add(output.digest);
    if (output.storage !== 'tree') continue;
    let files = treeFiles.get(output.digest);
    if (!files) {
      files = await filesOfTree(store, output.digest);
      treeFiles.set(output.digest, files);
    }
    for (const digest of files) references.add(digest);
  }
  return references;
}

/** Digests of the files a tree manifest lists; none when the manifest is missing or corrupt. */
async function filesOfTree(store: CasStore, digest: string): Promise<string[]> {
  try {
    const manifest = await store.readTree(digest);
    return manifest.entries.flatMap((entry) => (entry.type === 'file' ? [entry.digest] : []));
  } catch {
    return [];
  }
}
