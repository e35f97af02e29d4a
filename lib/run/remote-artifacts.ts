/**
 * A run's use of a remote cache, between the local cache (ArtifactStore) and a RemoteCache:
 * records looked up after a local miss, outputs downloaded and verified, builds and local hits
 * uploaded. Nothing from the remote is trusted: a record must parse and carry the key it was asked
 * for, every blob must hash to its name (bytes that do not are refused, and the node is rebuilt
 * and its upload replaces them), a commit's objects are checked by ostree as they are imported.
 * An action entry is written only after every blob it names, so a reader never finds a record
 * whose outputs are not there yet; concurrent writers of one key write equivalent records. Uploads
 * run in the background and the run waits for them before it ends. A remote that cannot be reached
 * turns the run into a local one with one warning (or fails it, when the remote is required).
 *
 * Layout on the remote: `cas/<sha256>` blobs (files, tree manifests, logs, commit archives),
 * `ac/<action key>` action records (the local record's JSON), `ac/<sha256 of "ostree-commit
 * <checksum>">` a pointer from a commit checksum to its archive blob (commit-archive.ts).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import PQueue from 'p-queue';
import { z } from 'zod';
import { type ActionOutput, type ActionRecord, actionRecordSchema } from '../cache/action-cache.ts';
import { BlobDigestMismatchError } from '../cache/errors.ts';
import { DIGEST_PATTERN, sha256Bytes } from '../cache/hash.ts';
import { exportCommitArchive, importCommitArchive } from '../cache/remote/commit-archive.ts';
import {
  type RemoteCache,
  RemoteCacheError,
  type RemoteCacheMode,
  readBody,
} from '../cache/remote/remote-cache.ts';
import { FcosError } from '../errors.ts';
import { runTool } from '../exec.ts';
import { ensureArchiveRepository } from '../tools/ostree.ts';
import { canonicalStringify } from '../util/canonical-json.ts';
import type { ArtifactStore, StoredOutput } from './artifact-store.ts';

/** Uploads running at once (each a file or a commit archive). */
const UPLOAD_CONCURRENCY = 4;

/** Bytes and blobs moved, and how long it took. */
export interface TransferCount {
  /** Blobs moved (files, manifests, archives, logs). */
  blobs: number;
  /** Their bytes. */
  bytes: number;
}

/** What a run tells its user about the remote. */
export interface RemoteReporter {
  /** A problem that did not stop the run (an unreachable remote, a refused blob, a failed upload). */
  warning(node: string, message: string): void;
  /** A node's outputs were downloaded or uploaded. */
  transfer(node: string, direction: 'download' | 'upload', count: TransferCount, durationMs: number): void;
}

/** Options of {@link RemoteArtifacts}. */
export interface RemoteArtifactsOptions {
  /** What the run may do: read, write, or both. */
  readonly mode: RemoteCacheMode;
  /**
   * Fail instead of degrading to the local cache when the remote cannot be reached.
   * @default false
   */
  readonly required?: boolean;
  /** Stops transfers when the run is interrupted. */
  readonly signal?: AbortSignal;
}

/**
 * The remote cache could not be reached and the run was told to require it
 * (`--remote-cache-required`): the run stops rather than building what others may have built.
 */
export class RemoteCacheUnavailableError extends FcosError {}

/**
 * An input's bytes had to come from the remote cache (its producer was a remote hit that this
 * process did not download) and the remote's copy is missing or damaged: the consumer cannot run.
 */
export class RemoteInputError extends FcosError {}

/** The pointer from a commit checksum to the blob holding its archive. */
const commitPointerSchema = z
  .object({
    commit: z.string().regex(DIGEST_PATTERN),
    archive: z.string().regex(DIGEST_PATTERN),
    size: z.number().int().nonnegative(),
  })
  .strict();

/** The remote cache as one run uses it. */
export class RemoteArtifacts {
  /** Set when the remote could not be reached: the rest of the run is local. */
  private unreachable = false;
  /** Background uploads. */
  private readonly uploads = new PQueue({ concurrency: UPLOAD_CONCURRENCY });
  /** Action keys uploaded or found on the remote in this run. */
  private readonly uploadedKeys = new Set<string>();
  /** Blobs present on the remote (uploaded or seen) in this run. */
  private readonly remoteBlobs = new Set<string>();
  /** Blobs whose remote copy was refused: their next upload replaces them without asking. */
  private readonly refusedBlobs = new Set<string>();
  /** An upload failure that must fail the run (the remote became unreachable and is required). */
  private fatal: unknown;
  /** Records fetched from the remote but not downloaded (their outputs stay remote), by key. */
  private readonly remoteOnlyRecords = new Map<string, ActionRecord>();

  constructor(
    /** The remote. */
    readonly remote: RemoteCache,
    private readonly store: ArtifactStore,
    private readonly reporter: RemoteReporter,
    private readonly options: RemoteArtifactsOptions,
  ) {}

  /** Whether this run reads from the remote. */
  get reads(): boolean {
    return !this.unreachable && this.options.mode !== 'write';
  }

  /** Whether this run writes to the remote. */
  get writes(): boolean {
    return !this.unreachable && this.options.mode !== 'read';
  }

  /** Asks the remote for an answer before the run starts; degrades or fails as configured. */
  async probe(): Promise<void> {
    try {
      await this.remote.probe(this.options.signal);
    } catch (error) {
      this.handle('', 'reach', error);
    }
  }

  /**
   * The record of `key` from the remote, verified to parse and to carry that key; with
   * `download`, only once every output is in the local cache (a record whose outputs cannot be
   * downloaded intact is not returned: the node is rebuilt). Without it, the record's outputs stay
   * remote until a node that runs needs them ({@link ensureLocal}).
   */
  async fetchRecord(key: string, nodePath: string, download: boolean): Promise<ActionRecord | undefined> {
    if (!this.reads) return undefined;
    let record: ActionRecord | undefined;
    try {
      const body = await this.remote.get('ac', key, this.options.signal);
      if (!body) return undefined;
      const text = (await readBody(body)).toString('utf8');
      const parsed = actionRecordSchema.safeParse(parseJson(text));
      if (!parsed.success || parsed.data.key !== key) {
        this.reporter.warning(
          nodePath,
          `the remote cache's record ${key} ${parsed.success ? `is stored under the wrong key (${parsed.data.key})` : 'does not parse'}; ignored, the node is built`,
        );
        return undefined;
      }
      record = parsed.data;
    } catch (error) {
      this.handle(nodePath, 'look up', error);
      return undefined;
    }
    // The remote has this record: a local copy of it needs no upload.
    if (!download) {
      this.uploadedKeys.add(key);
      this.remoteOnlyRecords.set(key, record);
      return record;
    }
    const problem = await this.downloadRecord(record, nodePath);
    if (problem) {
      this.reporter.warning(nodePath, `${problem}; the node is built`);
      return undefined;
    }
    this.uploadedKeys.add(key);
    await this.store.actions.put(record);
    return record;
  }

  /** Whether `key`'s record came from the remote and its outputs were not downloaded. */
  isRemoteOnly(key: string): boolean {
    return this.remoteOnlyRecords.has(key);
  }

  /**
   * Makes `output` (of a remote-only record) present in the local cache before a node that runs
   * consumes it; a missing or damaged remote copy fails the consumer with a {@link RemoteInputError}.
   */
  async ensureLocal(output: StoredOutput, field: string, consumer: string, producer: string): Promise<void> {
    if (this.isPresentLocally(output)) return;
    const started = Date.now();
    const count: TransferCount = { blobs: 0, bytes: 0 };
    let problem: string | undefined;
    try {
      problem = await this.downloadOutput(output, count);
    } catch (error) {
      if (this.options.signal?.aborted) throw error;
      problem = error instanceof Error ? error.message : String(error);
    }
    if (problem) {
      throw new RemoteInputError(
        `input '${field}' from ${producer} is only in the remote cache ${this.remote.description}, and its copy there ${problem}; run ${producer} again (fcos-run --only '${producer}') to rebuild and upload it`,
        { constructPath: consumer, field },
      );
    }
    this.reporter.transfer(consumer, 'download', count, Date.now() - started);
  }

  /** Queues the upload of a record built or found locally (unless the remote has it already). */
  upload(record: ActionRecord): void {
    if (!this.writes || this.uploadedKeys.has(record.key)) return;
    this.uploadedKeys.add(record.key);
    void this.uploads.add(async () => {
      if (!this.writes) return;
      const started = Date.now();
      const count: TransferCount = { blobs: 0, bytes: 0 };
      try {
        // A record already there is enough, unless this run refused one of the remote's blobs:
        // then the blobs go up again and replace the damaged copies.
        const repairs = Object.values(record.outputs).some((output) => this.refusedBlobs.has(output.digest));
        if (!repairs && (await this.remote.has('ac', record.key, this.options.signal))) return;
        for (const output of Object.values(record.outputs)) await this.uploadOutput(output, count);
        if (record.logDigest) await this.uploadBlob(record.logDigest, count);
        // The record last: a reader that finds it finds every blob it names.
        const bytes = await readFile(this.store.actions.recordPath(record.key));
        await this.remote.putBytes('ac', record.key, bytes, this.options.signal);
        this.reporter.transfer(record.node, 'upload', count, Date.now() - started);
      } catch (error) {
        this.uploadedKeys.delete(record.key);
        try {
          this.handle(record.node, 'upload to', error);
        } catch (fatal) {
          // The node is built and in the local cache whatever happened here: only a required
          // remote that went away, or an interrupt, stops the run. A local failure while packing
          // the upload (a commit's archive) costs other machines a cache hit, so it is a warning.
          if (fatal instanceof RemoteCacheUnavailableError || this.options.signal?.aborted)
            this.fatal ??= fatal;
          else
            this.reporter.warning(
              record.node,
              `could not upload to the remote cache ${this.remote.description}: ${fatal instanceof Error ? fatal.message : String(fatal)}`,
            );
        }
      }
    });
  }

  /** Waits for every queued upload; rejects with what made one fatal, if anything did. */
  async drain(): Promise<void> {
    await this.uploads.onIdle();
    if (this.fatal !== undefined) throw this.fatal;
  }

  /** Downloads every output (and the log) of `record`; a problem as text, else undefined. */
  private async downloadRecord(record: ActionRecord, nodePath: string): Promise<string | undefined> {
    const started = Date.now();
    const count: TransferCount = { blobs: 0, bytes: 0 };
    try {
      for (const [name, output] of Object.entries(record.outputs)) {
        if (this.isPresentLocally(output)) continue;
        const problem = await this.downloadOutput(output, count);
        if (problem) return `the remote cache's copy of output '${name}' ${problem}`;
      }
      if (record.logDigest && !(await this.store.blobs.has(record.logDigest))) {
        // A log is not an output: one that cannot be downloaded is only missing from logs/.
        await this.downloadBlob(record.logDigest, count).catch(() => undefined);
      }
    } catch (error) {
      if (this.options.signal?.aborted) throw error;
      if (error instanceof RemoteCacheError) {
        this.handle(nodePath, 'download from', error);
        return `could not be downloaded (${error.message})`;
      }
      throw error;
    }
    if (count.blobs > 0) this.reporter.transfer(nodePath, 'download', count, Date.now() - started);
    return undefined;
  }

  /** Whether an output's bytes (or commit) are in the local cache already. */
  private isPresentLocally(output: Pick<StoredOutput, 'storage' | 'digest'>): boolean {
    if (output.storage === 'ostree-commit') return existsSync(this.store.ostreeCommitObject(output.digest));
    return this.store.blobs.stampState(output.digest) === 'trusted';
  }

  /** Downloads one output into the local cache; a problem as text, else undefined. */
  private async downloadOutput(
    output: Pick<StoredOutput, 'storage' | 'digest'>,
    count: TransferCount,
  ): Promise<string | undefined> {
    if (output.storage === 'ostree-commit') return this.downloadCommit(output.digest, count);
    const problem = await this.downloadBlob(output.digest, count);
    if (problem || output.storage === 'file') return problem;
    const manifest = await this.store.blobs.readTree(output.digest);
    for (const entry of manifest.entries) {
      if (entry.type !== 'file' || this.store.blobs.stampState(entry.digest) === 'trusted') continue;
      const fileProblem = await this.downloadBlob(entry.digest, count);
      if (fileProblem) return `has a file '${entry.path}' (blob ${entry.digest}) that ${fileProblem}`;
    }
    return undefined;
  }

  /** Downloads blob `digest`, verified; 'is missing' or 'does not match its digest', else undefined. */
  private async downloadBlob(digest: string, count: TransferCount): Promise<string | undefined> {
    const body = await this.remote.get('cas', digest, this.options.signal);
    if (!body) return `(blob ${digest}) is missing`;
    try {
      const stored = await this.store.blobs.putStream(body.stream, digest, {
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      });
      count.blobs += 1;
      count.bytes += stored.size;
      this.remoteBlobs.add(digest);
      return undefined;
    } catch (error) {
      if (!(error instanceof BlobDigestMismatchError)) throw error;
      this.refusedBlobs.add(digest);
      return `(blob ${digest}) does not match its digest (it hashes to ${error.actual}): refused`;
    }
  }

  /** Downloads the archive of `commit` and imports it into the cache's ostree repository. */
  private async downloadCommit(commit: string, count: TransferCount): Promise<string | undefined> {
    const body = await this.remote.get('ac', commitPointerKey(commit), this.options.signal);
    if (!body) return `(commit ${commit}) is missing`;
    const pointer = commitPointerSchema.safeParse(parseJson((await readBody(body)).toString('utf8')));
    if (!pointer.success || pointer.data.commit !== commit) return `(commit ${commit}) has a damaged pointer`;
    const problem = await this.downloadBlob(pointer.data.archive, count);
    if (problem) return `(the archive of commit ${commit}) ${problem.replace(/^\(blob [0-9a-f]+\) /, '')}`;
    await ensureArchiveRepository(this.toolExec(), this.store.ostreeRepo);
    try {
      await importCommitArchive(
        this.toolExec(),
        this.store.ostreeRepo,
        commit,
        this.store.blobs.blobPath(pointer.data.archive),
        this.store.workRoot,
      );
    } catch (error) {
      return `(commit ${commit}) could not be imported: ${error instanceof Error ? error.message : String(error)}`;
    }
    return existsSync(this.store.ostreeCommitObject(commit))
      ? undefined
      : `(commit ${commit}) is not in its archive`;
  }

  /** Uploads one output's blobs (or commit archive) that the remote does not have. */
  private async uploadOutput(output: ActionOutput, count: TransferCount): Promise<void> {
    if (output.storage === 'ostree-commit') {
      await this.uploadCommit(output.digest, count);
      return;
    }
    await this.uploadBlob(output.digest, count);
    if (output.storage !== 'tree') return;
    for (const entry of (await this.store.blobs.readTree(output.digest)).entries) {
      if (entry.type === 'file') await this.uploadBlob(entry.digest, count);
    }
  }

  /** Uploads blob `digest` unless the remote has it (a refused remote copy is replaced). */
  private async uploadBlob(digest: string, count: TransferCount): Promise<void> {
    if (this.remoteBlobs.has(digest) && !this.refusedBlobs.has(digest)) return;
    if (!this.refusedBlobs.has(digest) && (await this.remote.has('cas', digest, this.options.signal))) {
      this.remoteBlobs.add(digest);
      return;
    }
    const file = this.store.blobs.blobPath(digest);
    const { size } = await stat(file);
    await this.remote.putFile('cas', digest, file, size, this.options.signal);
    this.refusedBlobs.delete(digest);
    this.remoteBlobs.add(digest);
    count.blobs += 1;
    count.bytes += size;
  }

  /** Uploads the archive of `commit` and its pointer, unless the remote has the pointer. */
  private async uploadCommit(commit: string, count: TransferCount): Promise<void> {
    const pointerKey = commitPointerKey(commit);
    if (await this.remote.has('ac', pointerKey, this.options.signal)) return;
    const scratch = await mkdtemp(path.join(this.store.workRoot, `${process.pid}-commit-archive-`));
    try {
      const archive = path.join(scratch, 'commit.tar');
      await exportCommitArchive(this.toolExec(), this.store.ostreeRepo, commit, archive);
      const stored = await this.store.blobs.putFile(archive, { move: true });
      await this.uploadBlob(stored.digest, count);
      const pointer = { archive: stored.digest, commit, size: stored.size };
      await this.remote.putBytes(
        'ac',
        pointerKey,
        Buffer.from(canonicalStringify(pointer)),
        this.options.signal,
      );
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /**
   * What a failed remote call means for the run: an unreachable remote makes the rest of the run
   * local (one warning) or, when required, stops it; any other failure is a warning.
   */
  private handle(nodePath: string, doing: string, error: unknown): void {
    if (this.options.signal?.aborted) throw error;
    if (!(error instanceof RemoteCacheError)) throw error;
    if (error.unreachable) {
      if (this.options.required) {
        throw new RemoteCacheUnavailableError(
          `the remote cache ${this.remote.description} cannot be reached (${error.message}) and --remote-cache-required was given`,
        );
      }
      if (!this.unreachable) {
        this.unreachable = true;
        this.reporter.warning(
          nodePath,
          `the remote cache ${this.remote.description} cannot be reached (${error.message}); this run uses the local cache only`,
        );
      }
      return;
    }
    this.reporter.warning(nodePath, `could not ${doing} the remote cache: ${error.message}`);
  }

  /** runTool bound to the run's signal. */
  private toolExec(): typeof runTool {
    const signal = this.options.signal;
    return (file, args, execOptions) =>
      runTool(file, args, { ...execOptions, ...(signal ? { signal } : {}) });
  }
}

/** The action entry pointing from commit checksum `commit` to its archive blob. */
export function commitPointerKey(commit: string): string {
  return sha256Bytes(`ostree-commit ${commit}`);
}

/** JSON.parse, undefined for text that is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
