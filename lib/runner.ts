/**
 * The contract between the executor and the code that does a node's work. A stage module calls
 * {@link registerRunner} at load time; the executor imports each node's `module`, finds the runner
 * of its kind, and hands it resolved inputs and an empty work directory. Runners know nothing of
 * scheduling or caching: they return output files, the executor hashes and stores them.
 */

import type { ExecOptions, ExecResult } from './exec.ts';
import type { JsonValue } from './util/canonical-json.ts';

/** How an artifact is stored in the cache. */
export type ArtifactStorage = 'file' | 'tree' | 'ostree-commit';

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
  /** Appends a line to the node's log. */
  readonly log: (line: string) => void;
  /** Runs a tool (argument array, no shell), logging its output and killing its process group on cancel. */
  readonly exec: (file: string, args: readonly string[], options?: ExecOptions) => Promise<ExecResult>;
}

/** The code behind a node kind. */
export interface NodeRunner<Props = { readonly [key: string]: JsonValue }> {
  /** The kind it runs. */
  readonly kind: string;
  /** Must equal the kind version recorded by synthesis (a mismatch means stale code or assembly). */
  readonly version: number;
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
  /** Cheap facts outside props and inputs that decide the output (tool versions, repo metadata checksums). */
  fingerprint?(context: FingerprintContext<Props>): Promise<JsonValue>;
  /** Does the work and returns the outputs by name (every declared output). */
  run(context: RunnerContext<Props>): Promise<Readonly<Record<string, RunnerOutput>>>;
}

const REGISTRY_KEY = Symbol.for('fcos-cdk.runner-registry');
type GlobalWithRegistry = typeof globalThis & { [REGISTRY_KEY]?: Map<string, NodeRunner<never>> };

/** The process-wide registry (on globalThis, so duplicate module copies share it). */
function registry(): Map<string, NodeRunner<never>> {
  const scope = globalThis as GlobalWithRegistry;
  scope[REGISTRY_KEY] ??= new Map();
  return scope[REGISTRY_KEY];
}

/** Registers the runner of a kind; a module defining a kind calls this when it is loaded. */
export function registerRunner<Props>(runner: NodeRunner<Props>): void {
  registry().set(runner.kind, runner as unknown as NodeRunner<never>);
}

/** The runner registered for `kind`, if any. */
export function findRunner(kind: string): NodeRunner | undefined {
  return registry().get(kind) as NodeRunner | undefined;
}
