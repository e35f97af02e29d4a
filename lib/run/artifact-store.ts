/**
 * The executor's view of the cache: runner outputs in, verified action records out. It turns a
 * runner's files into blobs and trees, records them, and decides whether a recorded output can
 * still be served (present, and unchanged since verified as its stamps tell, else re-hashed) — a
 * damaged one is evicted and the node rebuilt. Inputs a runner consumes are verified against
 * their digests on the way in (see {@link ArtifactStore.resolveInput}).
 */
import { existsSync, type Stats, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ActionCache, type ActionOutput, type ActionRecord } from '../cache/action-cache.ts';
import { CasStore } from '../cache/cas-store.ts';
import { BlobNotFoundError, CorruptBlobError, CorruptTreeError } from '../cache/errors.ts';
import { CommitVerifier } from '../cache/ostree-verification.ts';
import { isProcessAlive } from '../cache/process-liveness.ts';
import { FcosError } from '../errors.ts';
import type { ArtifactMetadata, ArtifactStorage, ResolvedArtifact, RunnerOutput } from '../runner.ts';
import type { JsonValue } from '../util/canonical-json.ts';

/** An output as the executor knows it after storing or finding it in the cache. */
export interface StoredOutput {
  /** Artifact type (from the assembly). */
  readonly type: string;
  /** Content digest (file or tree manifest sha256, or ostree commit checksum). */
  readonly digest: string;
  /** How it is stored. */
  readonly storage: ArtifactStorage;
  /** Bytes (file size, sum of a tree's files, 0 for a commit). */
  readonly size: number;
  /** File name of a file output (kept so that the user sees `disk.raw`, not a digest). */
  readonly fileName?: string;
  /** What the runner recorded. */
  readonly metadata: ArtifactMetadata;
}

/** Blobs hashed to verify them, and their bytes. */
export interface HashCount {
  /** Blobs hashed. */
  blobs: number;
  /** Their bytes. */
  bytes: number;
}

/** Where an input comes from and who consumes it, for {@link ArtifactStore.resolveInput}. */
export interface InputOrigin {
  /** Construct path of the node consuming the input. */
  readonly consumer: string;
  /** Construct path of the node that produced it. */
  readonly producer: string;
  /** Action key of the producer's record, evicted when the input turns out to be damaged. */
  readonly producerKey?: string;
  /** Stops hashing a large input when the attempt is cancelled. */
  readonly signal?: AbortSignal;
}

/**
 * An input a node was about to consume does not match its digest (or vanished): the damaged blob
 * and the producer's cached result are evicted, so the next run rebuilds the producer.
 */
export class CorruptInputError extends FcosError {
  /** Construct path of the node that produced the input. */
  readonly producer: string;
  /** Digest of the damaged (or missing) blob. */
  readonly digest: string;

  constructor(origin: InputOrigin, field: string, what: string, digest: string, missing: boolean) {
    super(
      `input '${field}' from ${origin.producer}: ${what} (blob ${digest}) ${missing ? 'is no longer in the cache' : 'does not match its digest'}; it was evicted with ${origin.producer}'s cached result: run fcos-run again to rebuild ${origin.producer}`,
      { constructPath: origin.consumer, field },
    );
    this.producer = origin.producer;
    this.digest = digest;
  }
}

/** Options of an {@link ArtifactStore}. */
export interface ArtifactStoreOptions {
  /**
   * Directory in which runners' work directories are made. On another filesystem than the cache
   * (a scratch disk, a tmpfs) outputs are copied into the cache instead of renamed. It may be
   * shared with other runs and other programs: only directories named as this store names them
   * (`<pid>-<node>-<random>`) are ever removed.
   * @default `<root>/work`
   */
  readonly workRoot?: string;
}

/** A work directory's name as {@link ArtifactStore.makeWorkDir} makes it: owner pid, node, mkdtemp's six characters. */
const WORK_DIRECTORY_NAME = /^(\d+)-[A-Za-z0-9._-]+-[A-Za-z0-9]{6}$/;

/** The cache directory layout and the operations the executor needs on it. */
export class ArtifactStore {
  /** Cache root. */
  readonly root: string;
  /** Blobs and trees. */
  readonly blobs: CasStore;
  /** Action records. */
  readonly actions: ActionCache;
  /** The archive-mode ostree repository holding commits. */
  readonly ostreeRepo: string;
  /**
   * Where runners' work directories are made: by default `<root>/work`, on the blobs' filesystem
   * so that outputs move in by rename; elsewhere they are copied in (see {@link ArtifactStoreOptions}).
   */
  readonly workRoot: string;
  /** Checks a commit before it is consumed, once per process (lib/cache/ostree-verification.ts). */
  private readonly commits: CommitVerifier;
  /** Blobs checked in this run (inode and size), to skip relinking outputs already in place. */
  private readonly blobStats = new Map<string, { readonly ino: number; readonly size: number }>();

  constructor(root: string, options: ArtifactStoreOptions = {}) {
    this.root = path.resolve(root);
    this.blobs = new CasStore(this.root);
    this.actions = new ActionCache(this.root);
    this.ostreeRepo = path.join(this.root, 'ostree', 'repo');
    this.commits = new CommitVerifier(this.ostreeRepo, this.actions);
    this.workRoot = path.resolve(options.workRoot ?? path.join(this.root, 'work'));
  }

  /**
   * Creates the directories and clears the work directories of dead runs. Only names this store
   * makes are considered, since a custom work root may hold other programs' files.
   */
  async init(): Promise<void> {
    await this.blobs.init();
    await mkdir(this.workRoot, { recursive: true });
    for (const entry of await readdir(this.workRoot)) {
      const owner = WORK_DIRECTORY_NAME.exec(entry)?.[1];
      if (owner !== undefined && !isProcessAlive(Number(owner)))
        await rm(path.join(this.workRoot, entry), { recursive: true, force: true });
    }
  }

  /** A new work directory for one attempt of `nodePath`, named after this process (see init). */
  async makeWorkDir(nodePath: string): Promise<string> {
    const name = nodePath.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-80);
    return mkdtemp(path.join(this.workRoot, `${process.pid}-${name}-`));
  }

  /**
   * The record of `key` if every output it lists can be served; a record whose outputs are gone
   * or damaged is dropped (and damaged blobs evicted) so that the node is rebuilt.
   */
  async lookup(
    key: string,
    onProblem: (message: string) => void,
    onRehashed?: (count: HashCount) => void,
  ): Promise<ActionRecord | undefined> {
    const record = await this.actions.get(key);
    if (!record) return undefined;
    const rehashed: HashCount = { blobs: 0, bytes: 0 };
    try {
      for (const [name, output] of Object.entries(record.outputs)) {
        const problem = await this.checkOutput(output, rehashed);
        if (problem) {
          onProblem(`cached output '${name}' of ${record.node} ${problem}; rebuilding`);
          await this.actions.remove(key);
          return undefined;
        }
      }
    } finally {
      if (rehashed.blobs > 0) onRehashed?.(rehashed);
    }
    await this.actions.touch(key);
    return record;
  }

  /**
   * Undefined if `output` can be served, else what is wrong with it. A null run trusts stamps:
   * a file output's blob, a tree's manifest and every file of the tree are each checked against
   * their stamp, and only those whose stamp changed are re-hashed (counted in `rehashed`).
   */
  private async checkOutput(output: ActionOutput, rehashed: HashCount): Promise<string | undefined> {
    if (output.storage === 'ostree-commit') {
      return existsSync(this.ostreeCommitObject(output.digest))
        ? undefined
        : 'is missing from the ostree repository';
    }
    const blobProblem = await this.checkBlob(output.digest, rehashed);
    if (blobProblem || output.storage === 'file') return blobProblem;
    const manifest = await this.blobs.readTree(output.digest).catch(() => undefined);
    if (!manifest) return 'has a damaged tree manifest';
    for (const entry of manifest.entries) {
      if (entry.type !== 'file') continue;
      const problem = await this.checkBlob(entry.digest, rehashed);
      if (problem) return `has a file '${entry.path}' (blob ${entry.digest}) that ${problem}`;
    }
    return undefined;
  }

  /**
   * Undefined if the blob is present and unchanged since its content was last verified (its
   * stamp matches); a blob whose stamp differs is re-hashed, which refreshes the stamp when the
   * content still matches its digest and evicts the blob when it does not.
   */
  private async checkBlob(digest: string, rehashed: HashCount): Promise<string | undefined> {
    const state = this.blobs.stampState(digest);
    if (state === 'missing') return 'is missing';
    if (state === 'trusted') return undefined;
    rehashed.blobs += 1;
    rehashed.bytes += statIfExists(this.blobs.blobPath(digest))?.size ?? 0;
    return (await this.blobs.verifyBlob(digest)) ? undefined : 'was corrupted (evicted)';
  }

  /** Stores what a runner returned; outputs must be exactly the declared ones. */
  async storeOutputs(
    nodePath: string,
    declared: Readonly<Record<string, { readonly type: string }>>,
    returned: Readonly<Record<string, RunnerOutput>>,
    signal: AbortSignal,
  ): Promise<Record<string, ActionOutput>> {
    const missing = Object.keys(declared).filter((name) => !(name in returned));
    const extra = Object.keys(returned).filter((name) => !(name in declared));
    if (missing.length > 0 || extra.length > 0) {
      throw new FcosError(
        `the runner returned ${extra.length > 0 ? `undeclared outputs ${extra.join(', ')}` : ''}${extra.length > 0 && missing.length > 0 ? ' and ' : ''}${missing.length > 0 ? `no ${missing.join(', ')}` : ''}`,
        { constructPath: nodePath, field: 'outputs' },
      );
    }
    const stored: Record<string, ActionOutput> = {};
    for (const [name, output] of Object.entries(returned)) {
      stored[name] = await this.storeOutput(nodePath, name, declared[name]!.type, output, signal);
    }
    return stored;
  }

  /** Stores one output and describes it for the action record. */
  private async storeOutput(
    nodePath: string,
    name: string,
    type: string,
    output: RunnerOutput,
    signal: AbortSignal,
  ): Promise<ActionOutput> {
    const metadata = (output.metadata ?? {}) as Record<string, JsonValue>;
    if (output.storage === 'ostree-commit') {
      if (!/^[0-9a-f]{64}$/.test(output.checksum) || !existsSync(this.ostreeCommitObject(output.checksum))) {
        throw new FcosError(
          `output '${name}': commit ${output.checksum} is not in the cache's ostree repository`,
          {
            constructPath: nodePath,
            field: name,
          },
        );
      }
      return { digest: output.checksum, storage: 'ostree-commit', size: 0, type, metadata };
    }
    const source = await stat(output.path).catch(() => undefined);
    if (!source || (output.storage === 'file' ? !source.isFile() : !source.isDirectory())) {
      throw new FcosError(
        `output '${name}': ${output.path} is not a ${output.storage === 'file' ? 'file' : 'directory'}`,
        {
          constructPath: nodePath,
          field: name,
        },
      );
    }
    if (output.storage === 'file') {
      const { digest, size } = await this.blobs.putFile(output.path, { move: true, signal });
      const fileName = path.basename(output.path);
      // Stored blobs are stamped by the store itself (blob-stamps.ts), not in the record: the
      // record is content a remote cache can share, the stamp this machine's view of its files.
      return { digest, storage: 'file', size, type, fileName, metadata };
    }
    const tree = await this.blobs.putTree(output.path, { signal });
    return { digest: tree.digest, storage: 'tree', size: tree.size, type, metadata };
  }

  /** Path of a commit object in the ostree repository (present when the commit is). */
  ostreeCommitObject(checksum: string): string {
    return path.join(this.ostreeRepo, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.commit`);
  }

  /**
   * Makes an input available to a runner, verified against its digest on the way: a file is
   * given in place (the blob, read-only) after a hash pass, skipped when this process hashed it
   * already (it stored or verified it) and it is unchanged since; a tree is copied under
   * `inputsDir`, each file hashed as it is copied. Commits are given as the cache's ostree
   * repository after an fsck of the commit's objects (a damaged commit is removed and fails with a
   * CorruptCommitError). A damaged input evicts its blob and its producer's record and fails with a
   * {@link CorruptInputError}: the next run rebuilds the producer. `hashed` counts what was read.
   */
  async resolveInput(
    output: StoredOutput,
    field: string,
    inputsDir: string,
    origin: InputOrigin,
    hashed: HashCount = { blobs: 0, bytes: 0 },
  ): Promise<ResolvedArtifact> {
    const base = {
      type: output.type,
      digest: output.digest,
      storage: output.storage,
      metadata: output.metadata,
    };
    if (output.storage === 'ostree-commit') {
      await this.commits.ensureSound(output.digest, field, origin);
      return { ...base, path: this.ostreeRepo };
    }
    const signal = origin.signal ? { signal: origin.signal } : {};
    if (output.storage === 'file') {
      const result = await this.blobs.verifyForUse(output.digest, signal);
      if (result === 'hashed') {
        hashed.blobs += 1;
        hashed.bytes += output.size;
      }
      if (result === 'corrupt' || result === 'missing') {
        await this.evictProducer(origin);
        const what = `file '${output.fileName ?? field}'`;
        throw new CorruptInputError(origin, field, what, output.digest, result === 'missing');
      }
      return { ...base, path: this.blobs.blobPath(output.digest) };
    }
    const destination = path.join(inputsDir, field);
    try {
      const copied = await this.blobs.copyTreeVerified(output.digest, destination, signal);
      hashed.blobs += copied.hashedFiles;
      hashed.bytes += copied.hashedBytes;
    } catch (error) {
      const damage = damageOf(error, output.digest);
      if (!damage) throw error;
      if (damage.what === 'its tree manifest') await this.blobs.removeBlob(output.digest);
      await this.evictProducer(origin);
      throw new CorruptInputError(origin, field, damage.what, damage.digest, damage.missing);
    }
    return { ...base, path: destination };
  }

  /** Drops the record of the producer of a damaged input, so that the next run rebuilds it. */
  private async evictProducer(origin: InputOrigin): Promise<void> {
    if (origin.producerKey) await this.actions.remove(origin.producerKey);
  }

  /**
   * Places an output where the user finds it (hardlinks); returns its path, or undefined for a
   * commit. A tree already in place is left alone, so that a null run changes nothing.
   */
  async publishOutput(output: StoredOutput, directory: string, name: string): Promise<string | undefined> {
    if (output.storage === 'ostree-commit') return undefined;
    if (output.storage === 'tree') {
      const destination = path.join(directory, name);
      if (!(await this.blobs.isTreeInPlace(output.digest, destination)))
        await this.blobs.materializeTree(output.digest, destination);
      return destination;
    }
    const destination = path.join(directory, output.fileName ?? name);
    await this.linkBlob(output.digest, destination);
    return destination;
  }

  /**
   * Hardlinks blob `digest` at `destination` unless that is already the blob. A blob shared by
   * very many outputs (an empty log) reaches the filesystem's link limit and is copied instead;
   * a small copy with the same content counts as in place, so it is not copied again every run.
   */
  async linkBlob(digest: string, destination: string): Promise<void> {
    // Synchronous stats: cheaper than the thread pool for the thousands a null run makes.
    const existing = statIfExists(destination);
    const blob = this.blobStats.get(digest) ?? statSync(this.blobs.blobPath(digest));
    if (existing?.ino === blob.ino) return;
    if (existing?.isFile() && existing.size === blob.size) {
      if (blob.size === 0) return;
      if (blob.size <= SMALL_COPY_BYTES) {
        const [present, stored] = await Promise.all([
          readFile(destination),
          readFile(this.blobs.blobPath(digest)),
        ]);
        if (present.equals(stored)) return;
      }
    }
    await this.blobs.linkOut(digest, destination);
  }
}

/**
 * What is damaged when copying the tree `treeDigest` failed with `error`: one of its files, or
 * its manifest, and whether it is gone rather than altered; undefined for any other failure.
 */
function damageOf(
  error: unknown,
  treeDigest: string,
): { what: string; digest: string; missing: boolean } | undefined {
  if (error instanceof CorruptBlobError) {
    const what =
      error.treePath === undefined ? 'a file of its tree' : `the file '${error.treePath}' of its tree`;
    return { what, digest: error.digest, missing: false };
  }
  if (error instanceof BlobNotFoundError) {
    const what = error.digest === treeDigest ? 'its tree manifest' : 'a file of its tree';
    return { what, digest: error.digest, missing: true };
  }
  if (error instanceof CorruptTreeError)
    return { what: 'its tree manifest', digest: treeDigest, missing: false };
  return undefined;
}

/** `stat` of `file`, or undefined when it does not exist. */
function statIfExists(file: string): Stats | undefined {
  return statSync(file, { throwIfNoEntry: false });
}

/** Largest copied output compared by content instead of being replaced. */
const SMALL_COPY_BYTES = 64 * 1024;

/** The executor's description of a recorded output. */
export function storedOutputOf(output: ActionOutput): StoredOutput {
  return {
    type: String(output.type ?? ''),
    digest: output.digest,
    storage: output.storage,
    size: output.size,
    ...(typeof output.fileName === 'string' ? { fileName: output.fileName } : {}),
    metadata: (output.metadata ?? {}) as ArtifactMetadata,
  };
}
