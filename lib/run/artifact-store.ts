/**
 * The executor's view of the cache: runner outputs in, verified action records out. It turns a
 * runner's files into blobs and trees, records them, and decides whether a recorded output can
 * still be served (present, unmodified) — a damaged one is evicted and the node rebuilt.
 */
import { existsSync, type Stats, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ActionCache, type ActionOutput, type ActionRecord } from '../cache/action-cache.ts';
import { CasStore } from '../cache/cas-store.ts';
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

/** A blob's identity on this machine at the time it was stored: a change means it was touched. */
interface BlobStamp {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

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
  /** Where runners' work directories are made (same filesystem as the blobs, so outputs move in). */
  readonly workRoot: string;
  /** Blobs checked in this run (inode and size), to skip relinking outputs already in place. */
  private readonly blobStats = new Map<string, { readonly ino: number; readonly size: number }>();

  constructor(root: string) {
    this.root = path.resolve(root);
    this.blobs = new CasStore(this.root);
    this.actions = new ActionCache(this.root);
    this.ostreeRepo = path.join(this.root, 'ostree', 'repo');
    this.workRoot = path.join(this.root, 'work');
  }

  /** Creates the directories and clears leftovers of crashed runs. */
  async init(): Promise<void> {
    await this.blobs.init();
    await mkdir(this.workRoot, { recursive: true });
    for (const entry of await readdir(this.workRoot)) {
      const owner = Number(entry.split('-', 1)[0]);
      if (!isProcessAlive(owner)) await rm(path.join(this.workRoot, entry), { recursive: true, force: true });
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
  async lookup(key: string, onProblem: (message: string) => void): Promise<ActionRecord | undefined> {
    const record = await this.actions.get(key);
    if (!record) return undefined;
    for (const [name, output] of Object.entries(record.outputs)) {
      const problem = await this.checkOutput(output);
      if (problem) {
        onProblem(`cached output '${name}' of ${record.node} ${problem}; rebuilding`);
        await this.actions.remove(key);
        return undefined;
      }
    }
    await this.actions.touch(key);
    return record;
  }

  /** Undefined if `output` can be served, else what is wrong with it. */
  private async checkOutput(output: ActionOutput): Promise<string | undefined> {
    if (output.storage === 'ostree-commit') {
      return existsSync(this.ostreeCommitObject(output.digest))
        ? undefined
        : 'is missing from the ostree repository';
    }
    const blobProblem = await this.checkBlob(output.digest, output.stamp as BlobStamp | undefined);
    if (blobProblem || output.storage === 'file') return blobProblem;
    const manifest = await this.blobs.readTree(output.digest).catch(() => undefined);
    if (!manifest) return 'has a damaged tree manifest';
    for (const entry of manifest.entries) {
      if (entry.type !== 'file') continue;
      const file = statIfExists(this.blobs.blobPath(entry.digest));
      if (!file || file.size !== entry.size) return `lost the file '${entry.path}'`;
    }
    return undefined;
  }

  /**
   * Undefined if the blob is present and untouched since it was stamped; a blob whose stamp
   * differs is re-hashed, and evicted if its content no longer matches its digest.
   */
  private async checkBlob(digest: string, stamp: BlobStamp | undefined): Promise<string | undefined> {
    // Synchronous: a metadata check per cached output, thousands in a null run (see linkBlob).
    const current = statIfExists(this.blobs.blobPath(digest));
    if (!current) return 'is missing';
    if (
      stamp &&
      current.ino === stamp.ino &&
      current.size === stamp.size &&
      current.mtimeMs === stamp.mtimeMs
    ) {
      return undefined;
    }
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
      return { digest, storage: 'file', size, type, fileName, metadata, stamp: await this.stampOf(digest) };
    }
    const tree = await this.blobs.putTree(output.path, { signal });
    return {
      digest: tree.digest,
      storage: 'tree',
      size: tree.size,
      type,
      metadata,
      stamp: await this.stampOf(tree.digest),
    };
  }

  /** The current stamp of a blob. */
  private async stampOf(digest: string): Promise<{ ino: number; size: number; mtimeMs: number }> {
    const stats = await stat(this.blobs.blobPath(digest));
    return { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs };
  }

  /** Path of a commit object in the ostree repository. */
  private ostreeCommitObject(checksum: string): string {
    return path.join(this.ostreeRepo, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.commit`);
  }

  /** Makes an input available to a runner: files and commits in place, trees materialized under `inputsDir`. */
  async resolveInput(output: StoredOutput, field: string, inputsDir: string): Promise<ResolvedArtifact> {
    const base = {
      type: output.type,
      digest: output.digest,
      storage: output.storage,
      metadata: output.metadata,
    };
    if (output.storage === 'ostree-commit') return { ...base, path: this.ostreeRepo };
    if (output.storage === 'file') return { ...base, path: this.blobs.blobPath(output.digest) };
    const destination = path.join(inputsDir, field);
    await this.blobs.materializeTree(output.digest, destination);
    return { ...base, path: destination };
  }

  /** Places an output where the user finds it (hardlinks); returns its path, or undefined for a commit. */
  async publishOutput(output: StoredOutput, directory: string, name: string): Promise<string | undefined> {
    if (output.storage === 'ostree-commit') return undefined;
    if (output.storage === 'tree') {
      const destination = path.join(directory, name);
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
