/**
 * Maintenance of a cache root: size-bounded garbage collection (least recently used records
 * first), verification of every blob, and a listing of what is cached.
 */
import { availableParallelism } from 'node:os';
import { ActionCache, type ActionRecord } from './action-cache.ts';
import { CasStore } from './cas-store.ts';
import { mapWithLimit } from './concurrency.ts';
import { withLock } from './lock.ts';
import { sweepStaging } from './staging.ts';

/** Name of the lock that serializes collections on one root. */
export const GC_LOCK_NAME = 'gc';

/** Options of {@link collectGarbage}. */
export interface CollectGarbageOptions {
  /** Bound on the total size of the blobs referenced by the records kept, in bytes. */
  readonly maxSizeBytes: number;
  /**
   * Unreferenced blobs stored (or re-stored, or linked out) more recently than this are kept, in
   * milliseconds: they may belong to an action whose record is not written yet.
   * @default 600000 (10 minutes)
   */
  readonly unreferencedGraceMs?: number;
}

/** What {@link collectGarbage} did. */
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

/** What {@link verifyCache} found. */
export interface VerifyCacheResult {
  /** Blobs re-hashed. */
  readonly checkedBlobs: number;
  /** Digests of the blobs whose content did not match, now evicted. */
  readonly corruptBlobs: readonly string[];
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
 * Evicts least-recently-used action records until the blobs still referenced (by the records
 * kept, through tree manifests and logs too) fit in `maxSizeBytes`, then deletes every blob no
 * record references. Runs under the `gc` lock; staging files of dead processes are swept too.
 */
export async function collectGarbage(
  root: string,
  options: CollectGarbageOptions,
): Promise<CollectGarbageResult> {
  return withLock(root, GC_LOCK_NAME, async () => {
    const store = new CasStore(root);
    const actions = new ActionCache(root);
    await sweepStaging(store.stagingDirectory);
    const blobs = new Map<string, { size: number; storedAt: number }>();
    for await (const blob of store.listBlobs()) {
      const storedAt = Math.max(blob.modifiedAt.getTime(), blob.changedAt.getTime());
      blobs.set(blob.digest, { size: blob.size, storedAt });
    }
    const entries = await actions.list();
    const treeFiles = new Map<string, readonly string[]>();
    const referencesByRecord = new Map<string, Set<string>>();
    const referenceCounts = new Map<string, number>();
    for (const { record } of entries) {
      const references = await referencedBlobs(record, store, treeFiles);
      referencesByRecord.set(record.key, references);
      for (const digest of references) referenceCounts.set(digest, (referenceCounts.get(digest) ?? 0) + 1);
    }
    let referencedBytes = 0;
    for (const digest of referenceCounts.keys()) referencedBytes += blobs.get(digest)?.size ?? 0;

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
        referencedBytes -= blobs.get(digest)?.size ?? 0;
      }
    }

    const graceMs = options.unreferencedGraceMs ?? 600_000;
    const now = Date.now();
    let removedBlobs = 0;
    let freedBytes = 0;
    let remainingBytes = 0;
    for (const [digest, blob] of blobs) {
      if (referenceCounts.has(digest) || now - blob.storedAt < graceMs) {
        remainingBytes += blob.size;
        continue;
      }
      if (await store.removeBlob(digest)) {
        removedBlobs += 1;
        freedBytes += blob.size;
      }
    }
    return { removedRecords, removedBlobs, freedBytes, remainingBytes };
  });
}

/**
 * Re-hashes every blob, evicting the corrupt ones, then reports the records that now reference
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
  const recordsMissingBlobs: Array<{ key: string; node: string; missingDigests: string[] }> = [];
  for (const { record } of await actions.list()) {
    const missingDigests: string[] = [];
    for (const digest of [...(await referencedBlobs(record, store))].sort()) {
      if (!(await store.has(digest))) missingDigests.push(digest);
    }
    if (missingDigests.length > 0)
      recordsMissingBlobs.push({ key: record.key, node: record.node, missingDigests });
  }
  return { checkedBlobs: digests.length, corruptBlobs, recordsMissingBlobs };
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
