/**
 * The fate of one node, composed from the executor's pieces: skipped (a predecessor failed, or
 * the run is stopping), planned (dry run), served from the cache, or built once its resource
 * class has room, holding its action's lock so that two processes never build the same action.
 */
import { acquireLock } from '../cache/lock.ts';
import type { Runner } from '../runner.ts';
import type { Assembly, AssemblyNode } from '../synth/assembly.ts';
import type { Graph } from '../synth/graph.ts';
import { actionKey } from './action-key.ts';
import type { ArtifactStore, StoredOutput } from './artifact-store.ts';
import { type CacheDecision, keyMaterialOf } from './cache-decision.ts';
import type { Capacity } from './capacity.ts';
import { eventTime } from './events.ts';
import type { NodeBuilder, PendingAction } from './node-attempt.ts';
import type { OutDirectory } from './out-directory.ts';
import { describeError, errorNameOf, type NodeOutcome, type RunState } from './run-state.ts';

/** What deciding a node's fate needs from the run. */
export interface NodeFateContext {
  /** The assembly being run. */
  readonly assembly: Assembly;
  /** Its graph. */
  readonly graph: Graph;
  /** The runner of every selected node. */
  readonly runners: ReadonlyMap<string, Runner>;
  /** Nodes whose cache entry is ignored. */
  readonly forced: ReadonlySet<string>;
  /** Scheduling priority of each node (longest path to a sink). */
  readonly priority: ReadonlyMap<string, number>;
  /** The project directory. */
  readonly projectDir: string;
  /** Whether this is a dry run (plan only). */
  readonly dryRun: boolean;
  /** The cache (for the action locks). */
  readonly store: ArtifactStore;
  /** The run's shared state. */
  readonly state: RunState;
  /** The run's pools. */
  readonly capacity: Capacity;
  /** Cache lookups and hits. */
  readonly cache: CacheDecision;
  /** The output directory (to remove a failed node's stale outputs). */
  readonly out: OutDirectory;
  /** Builds misses. */
  readonly builder: NodeBuilder;
}

/** Decides and records the outcome of `nodePath`; never rejects (a failure is an outcome). */
export async function settleNode(context: NodeFateContext, nodePath: string): Promise<void> {
  const { state } = context;
  const node = context.assembly.nodes[nodePath]!;
  try {
    state.outcomes.set(nodePath, await decide(context, nodePath, node));
  } catch (error) {
    const message = describeError(error);
    state.outcomes.set(nodePath, { status: 'failed', durationMs: 0, message });
    state.emit({
      event: 'fail',
      time: eventTime(),
      node: nodePath,
      kind: node.kind,
      durationMs: 0,
      attempt: 1,
      willRetry: false,
      error: message,
      ...(errorNameOf(error) ? { errorName: errorNameOf(error) } : {}),
    });
    state.nodeFailed(nodePath);
    if (!context.dryRun) await context.out.removeOutputs(nodePath).catch(() => {});
  }
}

/** The outcome of one node: skipped, cached, planned, or built. */
async function decide(context: NodeFateContext, nodePath: string, node: AssemblyNode): Promise<NodeOutcome> {
  const { state, cache } = context;
  const blocked = state.blockingPredecessor(context.graph, nodePath);
  if (blocked) return state.skip(nodePath, node.kind, blocked);
  const stopReason = state.stopReason();
  if (stopReason) return state.skip(nodePath, node.kind, stopReason);
  const inputs = inputsOf(state, node);
  if (!inputs) return state.plan(nodePath, node.kind, undefined, ['an input will be rebuilt']);
  const runner = context.runners.get(nodePath)!;
  const material = await keyMaterialOf(
    { nodePath, node, runner, inputs },
    context.projectDir,
    state.signal,
    context.store.root,
  );
  const key = actionKey(material);
  const forced = context.forced.has(nodePath);
  if (!forced) {
    const cached = await cache.lookup(key, nodePath);
    if (cached) return cache.serve(nodePath, node.kind, key, cached);
  }
  if (context.dryRun)
    return state.plan(nodePath, node.kind, key, await cache.missReasons(nodePath, material, forced));
  const action: PendingAction = { nodePath, node, runner, inputs, key, material };
  try {
    return await context.capacity.run(
      node.resources,
      context.priority.get(nodePath) ?? 0,
      () => buildUnderLock(context, action, forced),
      state.signal,
    );
  } catch (error) {
    if (state.signal.aborted) return state.skip(nodePath, node.kind, 'run interrupted');
    throw error;
  }
}

/** Builds the node holding its action's lock, unless another process built it meanwhile. */
async function buildUnderLock(
  context: NodeFateContext,
  action: PendingAction,
  forced: boolean,
): Promise<NodeOutcome> {
  const { state, cache } = context;
  const { nodePath, node, key } = action;
  const stopReason = state.stopReason();
  if (stopReason) return state.skip(nodePath, node.kind, stopReason);
  const releaseLock = await acquireLock(context.store.root, key, { signal: state.signal });
  try {
    // Another process may have built it while this one waited for the lock.
    const builtMeanwhile = forced ? undefined : await cache.lookup(key, nodePath);
    if (builtMeanwhile) return cache.serve(nodePath, node.kind, key, builtMeanwhile);
    return await context.builder.build(action);
  } finally {
    await releaseLock();
  }
}

/** The stored outputs feeding each input field; undefined when one is not built yet (dry run). */
function inputsOf(state: RunState, node: AssemblyNode): Record<string, StoredOutput> | undefined {
  const inputs: Record<string, StoredOutput> = {};
  for (const [field, reference] of Object.entries(node.inputs)) {
    const output = state.outcomes.get(reference.node)?.outputs?.[reference.output];
    if (!output) return undefined;
    inputs[field] = output;
  }
  return inputs;
}
