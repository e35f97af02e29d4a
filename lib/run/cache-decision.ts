/**
 * The cache decision of a node: the material of its action key (kind, props, input digests and
 * the runner's fingerprint), the lookup of a verified record under that key, serving a hit (its
 * outputs and original log published, no runner called), and, for a dry run's miss, why it
 * misses compared with the node's last recorded run.
 */
import type { ActionRecord } from '../cache/action-cache.ts';
import { runTool } from '../exec.ts';
import type { Runner } from '../runner.ts';
import type { AssemblyNode } from '../synth/assembly.ts';
import type { JsonValue } from '../util/canonical-json.ts';
import { explainDifference, type KeyMaterial } from './action-key.ts';
import { type ArtifactStore, type StoredOutput, storedOutputOf } from './artifact-store.ts';
import { eventTime } from './events.ts';
import type { OutDirectory } from './out-directory.ts';
import type { RemoteArtifacts } from './remote-artifacts.ts';
import type { NodeOutcome, RunState } from './run-state.ts';

/** A node whose inputs are all known, about to get its action key. */
export interface KeyedNode {
  /** Construct path. */
  readonly nodePath: string;
  /** The node in the assembly. */
  readonly node: AssemblyNode;
  /** Its kind's runner (for the fingerprint). */
  readonly runner: Runner;
  /** The outputs feeding its inputs, by field. */
  readonly inputs: Readonly<Record<string, StoredOutput>>;
}

/** What the action key of `keyed` is computed from; calls the runner's fingerprint, if any. */
export async function keyMaterialOf(
  keyed: KeyedNode,
  projectDir: string,
  signal: AbortSignal,
  cacheDirectory?: string,
): Promise<KeyMaterial> {
  const { nodePath, node, runner, inputs } = keyed;
  const fingerprint = runner.fingerprint
    ? await runner.fingerprint({
        nodePath,
        props: node.props as never,
        inputs: Object.fromEntries(
          Object.entries(inputs).map(([field, { storage, digest, type, metadata }]) => [
            field,
            { storage, digest, type, metadata },
          ]),
        ),
        projectDir,
        signal,
        exec: (file, args, execOptions) => runTool(file, args, { ...execOptions, signal }),
        ...(cacheDirectory === undefined ? {} : { cacheDirectory }),
      })
    : null;
  return {
    kind: node.kind,
    kindVersion: node.kindVersion,
    props: node.props as JsonValue,
    inputs: Object.fromEntries(Object.entries(inputs).map(([field, output]) => [field, output.digest])),
    fingerprint: fingerprint ?? null,
  };
}

/** The cache as one run consults it: lookups, hits served, misses explained. */
export class CacheDecision {
  constructor(
    private readonly store: ArtifactStore,
    private readonly out: OutDirectory,
    private readonly state: RunState,
    private readonly dryRun: boolean,
    private readonly remote?: RemoteArtifacts,
    private readonly downloads: ReadonlySet<string> = new Set(),
  ) {}

  /**
   * The verified record of `key`: from the local cache, else from the remote one. A local hit is
   * uploaded when the remote lacks it. A remote hit of a node in `downloads` (those the user
   * asked for, whose outputs are published) is downloaded and verified first; any other node's
   * outputs stay remote until a node that runs needs them.
   */
  async lookup(key: string, nodePath: string): Promise<ActionRecord | undefined> {
    const local = await this.lookupLocal(key, nodePath);
    if (local) {
      if (!this.dryRun) this.remote?.upload(local);
      return local;
    }
    if (!this.remote) return undefined;
    const download = !this.dryRun && this.downloads.has(nodePath);
    const fetched = await this.remote.fetchRecord(key, nodePath, download);
    // Downloaded: served like any local record (and its stamps were just written).
    return fetched && download ? this.lookupLocal(key, nodePath) : fetched;
  }

  /**
   * The verified local record of `key`; a damaged one is reported as a warning of `nodePath` and
   * dropped, and blobs re-hashed because their stamps changed as a `verify` event.
   */
  private lookupLocal(key: string, nodePath: string): Promise<ActionRecord | undefined> {
    return this.store.lookup(
      key,
      (message) => this.state.emit({ event: 'warning', time: eventTime(), node: nodePath, message }),
      (rehashed) =>
        this.state.emit({
          event: 'verify',
          time: eventTime(),
          node: nodePath,
          purpose: 'cached-output',
          ...rehashed,
        }),
    );
  }

  /** Outcome of a cache hit: outputs published and the original log restored (not in a dry run). */
  async serve(nodePath: string, kind: string, key: string, record: ActionRecord): Promise<NodeOutcome> {
    const outputs = Object.fromEntries(
      Object.entries(record.outputs).map(([name, output]) => [name, storedOutputOf(output)]),
    );
    const remoteOnly = this.remote?.isRemoteOnly(key) ?? false;
    if (!this.dryRun && !remoteOnly) {
      await this.out.publishOutputs(nodePath, outputs);
      if (record.logDigest) await this.out.restoreLog(nodePath, record.logDigest);
    }
    this.state.emit(
      this.dryRun
        ? { event: 'plan', time: eventTime(), node: nodePath, kind, cached: true, key, reasons: [] }
        : { event: 'cached', time: eventTime(), node: nodePath, kind, key },
    );
    return { status: 'cached', key, durationMs: 0, outputs, ...(remoteOnly ? { remoteOnly } : {}) };
  }

  /** Why `material` misses the cache, compared with the node's last recorded run. */
  async missReasons(nodePath: string, material: KeyMaterial, forced: boolean): Promise<string[]> {
    if (forced) return ['forced'];
    const last = await this.store.actions.getLastForNode(nodePath);
    if (!last) return ['never built'];
    const reasons = explainDifference(last.keyMaterial as unknown as KeyMaterial, material);
    return reasons.length > 0 ? reasons : ['its last result is no longer in the cache'];
  }
}
