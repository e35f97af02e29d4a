/**
 * The run side of a node kind's contract. A kind's runner module has one default export,
 * `defineRunner(kind, { fingerprint, run, ... })`; the executor imports it by the location the
 * kind recorded at synthesis, hands it resolved inputs and an empty work directory, and stores
 * what it returns. Runners know nothing of scheduling or caching. Their props type is derived
 * from the kind's schema: every artifact becomes an {@link InputReference}.
 */
import type { Artifact } from './artifacts.ts';
import { FcosError } from './errors.ts';
import type { ToolExec } from './exec.ts';
import type { Kind } from './kind.ts';
import type { JsonValue } from './util/canonical-json.ts';

/** How an artifact is stored in the cache: a file blob, a tree of blobs, or a commit in its ostree repository. */
export const ARTIFACT_STORAGES = ['file', 'tree', 'ostree-commit'] as const;
/** One of {@link ARTIFACT_STORAGES}. */
export type ArtifactStorage = (typeof ARTIFACT_STORAGES)[number];

/** JSON object of metadata a producer records about an output (arch, version, sizes ...). */
export type ArtifactMetadata = { readonly [key: string]: JsonValue };

/** An input artifact, materialized for a runner. */
export interface ResolvedArtifact {
  /** Artifact type (`ostree-commit`, `disk-image` ...). */
  readonly type: string;
  /** Content digest: sha256 of a file or tree manifest, or the ostree commit checksum. */
  readonly digest: string;
  /** How it is stored. */
  readonly storage: ArtifactStorage;
  /**
   * A read-only path: the file, the directory tree, or (for an ostree commit) the cache's ostree
   * repository that holds the commit. Never write into it.
   */
  readonly path: string;
  /** What the producer recorded about it. */
  readonly metadata: ArtifactMetadata;
}

/** An output a runner returns; the executor moves files into the cache. */
export type RunnerOutput =
  | { readonly storage: 'file'; readonly path: string; readonly metadata?: ArtifactMetadata }
  | { readonly storage: 'tree'; readonly path: string; readonly metadata?: ArtifactMetadata }
  | { readonly storage: 'ostree-commit'; readonly checksum: string; readonly metadata?: ArtifactMetadata };

/** What a runner may look at to compute its fingerprint: cheap, before deciding to run. */
export interface FingerprintContext<Props = { readonly [key: string]: JsonValue }> {
  /** Construct path of the node. */
  readonly nodePath: string;
  /** Canonical props (artifact props are `{"$input": field}`). */
  readonly props: Props;
  /** Inputs by field: digests and metadata (paths are not materialized yet). */
  readonly inputs: Readonly<Record<string, Omit<ResolvedArtifact, 'path'>>>;
  /** The project directory (project paths in props are relative to it). */
  readonly projectDir: string;
  /** Cancelled on Ctrl-C. */
  readonly signal: AbortSignal;
  /** Runs a tool (argument array, no shell), killing its process group on cancel. */
  readonly exec: ToolExec;
  /**
   * The cache's root directory, for state a runner keeps across runs beside the cache (the
   * throwaway signing key of local builds).
   * @default undefined (the runner was called outside fcos-run, by a test)
   */
  readonly cacheDirectory?: string;
}

/** Everything a runner gets to do its work. */
export interface RunnerContext<Props = { readonly [key: string]: JsonValue }>
  extends FingerprintContext<Props> {
  /** Inputs by field, materialized. */
  readonly inputs: Readonly<Record<string, ResolvedArtifact>>;
  /** The outputs the node declared at synthesis (name → artifact type and attributes). */
  readonly declaredOutputs: Readonly<
    Record<string, { readonly type: string; readonly attributes: ArtifactMetadata }>
  >;
  /** An empty directory for the runner, removed after the node (outputs are moved out first). */
  readonly workDir: string;
  /** The cache's archive-mode ostree repository (commits are stored there). */
  readonly ostreeRepo: string;
  /** Appends a line to the node's log (tools run with `exec` log their output there too). */
  readonly log: (line: string) => void;
  /**
   * Runs `operation`, which hardlinks the given input files outside the work directory (a publish
   * directory), or renames or removes such links. Each of those moves the file's ctime, which the
   * cache's stamp of the blob includes so as to see rewrites: without this, the next run would
   * distrust the blob and hash it again. Inputs the operation rewrites are still caught.
   * @default runs `operation` (the runner was called outside fcos-run, by a test)
   */
  readonly keepInputsTrusted?: KeepInputsTrusted;
}

/** The type of {@link RunnerContext.keepInputsTrusted}: runs `operation`, keeping `files` trusted by the cache. */
export type KeepInputsTrusted = <T>(files: readonly string[], operation: () => Promise<T>) => Promise<T>;

/** How an artifact prop is recorded in pipeline.json and seen by a runner: the input's field. */
export interface InputReference {
  /** The input's field (`image`, `localRepos.0`): the key of `context.inputs`. */
  readonly $input: string;
}

/** Parsed props as a runner receives them: canonical JSON, every artifact an {@link InputReference}. */
export type NodeProps<Parsed> = Parsed extends Artifact
  ? InputReference
  : Parsed extends readonly (infer Item)[]
    ? readonly NodeProps<Item>[]
    : Parsed extends object
      ? { readonly [Key in keyof Parsed]: NodeProps<Parsed[Key]> }
      : Parsed;

/** What {@link defineRunner} takes besides the kind. */
export interface RunnerDefinition<Props> {
  /**
   * Whether a failure may be retried with `--retries` (transient: network, VM boots).
   * @default false
   */
  readonly retryable?: boolean;
  /**
   * Time limit of one attempt, in seconds (`--timeout` overrides).
   * @default 3600
   */
  readonly timeoutSeconds?: number;
  /**
   * Cheap facts outside props and inputs that decide the output (tool versions, repo metadata
   * checksums); part of the action key.
   * @default none
   */
  fingerprint?(context: FingerprintContext<Props>): Promise<JsonValue>;
  /**
   * The fingerprint looks at what the run itself changes (a cloud holding the uploaded image, a
   * destination holding the published release): after a successful run it is taken again and the
   * record is also stored under that key, so the next unchanged run is a hit instead of a run that
   * finds its work already done.
   * @default false
   */
  readonly fingerprintChangesWhenRun?: boolean;
  /** Does the work and returns the outputs by name (every declared output). */
  run(context: RunnerContext<Props>): Promise<Readonly<Record<string, RunnerOutput>>>;
  /**
   * `fcos-run --update-lockfiles`: after a successful run, writes what this node resolved back
   * into the project (rpm-ostree lockfiles beside the treefile) and says what it wrote.
   * @default none (the kind has nothing to write back)
   */
  updateLockfiles?(context: LockfileUpdateContext<Props>): Promise<readonly UpdatedLockfile[]>;
}

/** What a runner's `updateLockfiles` hook gets: the node as it was built in this run. */
export interface LockfileUpdateContext<Props = { readonly [key: string]: JsonValue }> {
  /** Construct path of the node. */
  readonly nodePath: string;
  /** Canonical props. */
  readonly props: Props;
  /** Inputs by field: digests and metadata. */
  readonly inputs: Readonly<Record<string, Omit<ResolvedArtifact, 'path'>>>;
  /** The node's outputs by name, each published under fcos.out/artifacts/ (`path`). */
  readonly outputs: Readonly<Record<string, ResolvedArtifact>>;
  /** The project directory. */
  readonly projectDir: string;
}

/** A lockfile an `updateLockfiles` hook wrote. */
export interface UpdatedLockfile {
  /** The file written (absolute). */
  readonly file: string;
  /** How many packages it locks. */
  readonly packages: number;
}

const RUNNER_MARK = Symbol.for('fcos-cdk.runner');

/** The code behind a node kind, as a runner module exports it. */
export interface Runner<Props = { readonly [key: string]: JsonValue }> extends RunnerDefinition<Props> {
  /** The kind it runs. */
  readonly kind: string;
  /** The kind's version; must equal the one recorded by synthesis. */
  readonly version: number;
}

/** The runner of `kind`: a runner module's `export default`. */
export function defineRunner<Props, Parsed>(
  kind: Kind<Props, Parsed>,
  definition: RunnerDefinition<NodeProps<Parsed>>,
): Runner<NodeProps<Parsed>> {
  const runner = { ...definition, kind: kind.kind, version: kind.version };
  Object.defineProperty(runner, RUNNER_MARK, { value: true });
  return runner;
}

/** Whether `value` was made by {@link defineRunner} (works across duplicate copies of this module). */
export function isRunner(value: unknown): value is Runner {
  return typeof value === 'object' && value !== null && RUNNER_MARK in value;
}

/** The input a prop refers to; a typed error naming the node and field when it was not given. */
export function requireInput<Input>(
  context: { readonly nodePath: string; readonly inputs: Readonly<Record<string, Input>> },
  reference: InputReference | string,
): Input {
  const field = typeof reference === 'string' ? reference : reference.$input;
  const input = context.inputs[field];
  if (input === undefined) {
    throw new FcosError(`input '${field}' is missing: run fcos-synth again`, {
      constructPath: context.nodePath,
      field,
    });
  }
  return input;
}
