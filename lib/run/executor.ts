/**
 * The executor's entry point: runs the nodes of a synthesized assembly in dependency order, in
 * parallel within each resource class's capacity, critical path first, skipping every node whose
 * action key is already in the cache. This file only wires the pieces together: node selection,
 * capacity, the launch loop, each node's fate (cache decision, attempts) and publishing.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { LockOwner } from '../cache/lock.ts';
import type { RemoteCache } from '../cache/remote/remote-cache.ts';
import type { ResourceClass } from '../kind.ts';
import type { Runner } from '../runner.ts';
import { readAssembly } from '../synth/assembly.ts';
import { graphOfAssembly, heaviestChain, longestPathToSink } from '../synth/graph.ts';
import { ArtifactStore } from './artifact-store.ts';
import { CacheDecision } from './cache-decision.ts';
import { Capacity } from './capacity.ts';
import { EventLogFile, eventTime, type RunObserver, type RunStatus } from './events.ts';
import { assertFresh } from './freshness.ts';
import { loadRunners } from './load-runners.ts';
import { NodeBuilder } from './node-attempt.ts';
import { settleNode } from './node-fate.ts';
import { forcedNodes, matchedNodes, selectNodes } from './node-selection.ts';
import { OutDirectory } from './out-directory.ts';
import { lockOutputDirectory } from './outdir-lock.ts';
import { RemoteArtifacts, type RemoteArtifactsOptions } from './remote-artifacts.ts';
import { type NodeOutcome, RunState } from './run-state.ts';
import { runInDependencyOrder } from './scheduler.ts';

export type { NodeOutcome } from './run-state.ts';

/** Options of {@link runPipeline}. */
export interface RunOptions {
  /** Directory holding pipeline.json; events, logs, artifacts and outputs.json are written there. */
  readonly outdir: string;
  /** Cache root. */
  readonly cacheDir: string;
  /**
   * Where runners' work directories are made (a scratch disk, a tmpfs); on another filesystem
   * than the cache, outputs are copied into the cache instead of renamed.
   * @default `<cacheDir>/work`
   */
  readonly workDir?: string;
  /**
   * Run only the nodes matching these globs, and what they need.
   * @default every node
   */
  readonly only?: readonly string[];
  /**
   * Ignore the cache for nodes matching these globs.
   * @default none
   */
  readonly force?: readonly string[];
  /**
   * Print the plan (cached or not, and why) without running anything.
   * @default false
   */
  readonly dryRun?: boolean;
  /**
   * After a failure, keep running everything that does not depend on it.
   * @default false (stop starting nodes, let running ones finish)
   */
  readonly keepGoing?: boolean;
  /**
   * Extra attempts for nodes whose kind marks failures retryable.
   * @default 0
   */
  readonly retries?: number;
  /**
   * Time limit of one attempt of any node, in seconds.
   * @default the runner's `timeoutSeconds`, else 3600
   */
  readonly timeoutSeconds?: number;
  /**
   * Capacity per resource class: slots for cpu, io and net, MiB for vm.
   * @default cpu and io: number of cores; net: 4; vm: available memory minus 2 GiB
   */
  readonly capacities?: Partial<Record<ResourceClass, number>>;
  /**
   * Nodes running at once, whatever their class.
   * @default unlimited (the classes limit)
   */
  readonly jobs?: number;
  /** Cancels the run (Ctrl-C): running nodes are stopped, nothing new starts. */
  readonly signal?: AbortSignal;
  /**
   * Receivers of run events (reporters); events.jsonl is always written.
   * @default []
   */
  readonly observers?: readonly RunObserver[];
  /**
   * Told, before waiting, that another run holds the output directory.
   * @default nothing is said
   */
  readonly onWaitForOutdir?: (owner: LockOwner) => void;
  /**
   * Place outputs under `artifacts/` (false: outputs.json lists digests without paths, and a
   * remote cache's hits are not downloaded unless a node that runs needs them: a CI job that only
   * has to make sure its node's outputs exist).
   * @default true
   */
  readonly artifacts?: boolean;
  /**
   * A remote cache shared with other machines: looked up after a local miss, given what this run
   * builds (see lib/run/remote-artifacts.ts).
   * @default none
   */
  readonly remoteCache?: { readonly cache: RemoteCache } & Omit<RemoteArtifactsOptions, 'signal'>;
  /**
   * Refuse a pipeline.json older than its program.
   * @default true
   */
  readonly checkFreshness?: boolean;
}

/** The result of a run. */
export interface RunResult {
  /** How the run ended. */
  readonly status: RunStatus;
  /** Every selected node's outcome. */
  readonly outcomes: ReadonlyMap<string, NodeOutcome>;
  /** The runner of every selected node, as loaded for this run (for hooks run after it). */
  readonly runners: ReadonlyMap<string, Runner>;
  /** Wall-clock time of the run. */
  readonly wallMs: number;
  /** The chain of nodes that took longest in this run, and its length. */
  readonly criticalPath: { readonly nodes: readonly string[]; readonly ms: number };
}

/** Exit code of a run (0 ok, 1 a node failed, 130 interrupted). */
export function exitCodeOf(status: RunStatus): number {
  return status === 'ok' ? 0 : status === 'interrupted' ? 130 : 1;
}

/** Runs (or, with dryRun, plans) the pipeline in `options.outdir`. */
export async function runPipeline(options: RunOptions): Promise<RunResult> {
  const outdir = path.resolve(options.outdir);
  const assemblyFile = path.join(outdir, 'pipeline.json');
  const assembly = await readAssembly(assemblyFile);
  const projectDir = path.resolve(outdir, assembly.pipeline.project);
  if (options.checkFreshness ?? true)
    await assertFresh(assemblyFile, path.join(projectDir, assembly.pipeline.app));
  const graph = graphOfAssembly(assembly);
  const selected = selectNodes(graph, options.only);
  const forced = forcedNodes(selected, options.force);
  const matched = matchedNodes(graph, options.only);
  const runners = await loadRunners(assembly, selected, projectDir);
  const store = new ArtifactStore(
    options.cacheDir,
    options.workDir !== undefined ? { workRoot: options.workDir } : {},
  );
  await store.init();
  await mkdir(outdir, { recursive: true });
  const release = await lockOutputDirectory(outdir, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onWaitForOutdir ? { onWait: options.onWaitForOutdir } : {}),
  });
  try {
    return await runLocked(options, {
      outdir,
      assembly,
      projectDir,
      graph,
      selected,
      forced,
      matched,
      runners,
      store,
    });
  } finally {
    await release();
  }
}

/** What {@link runPipeline} prepared before it took the output directory's lock. */
interface PreparedRun {
  readonly outdir: string;
  readonly assembly: Awaited<ReturnType<typeof readAssembly>>;
  readonly projectDir: string;
  readonly graph: ReturnType<typeof graphOfAssembly>;
  readonly selected: ReturnType<typeof selectNodes>;
  readonly forced: ReturnType<typeof forcedNodes>;
  readonly matched: ReadonlySet<string>;
  readonly runners: Awaited<ReturnType<typeof loadRunners>>;
  readonly store: ArtifactStore;
}

/** The run itself, alone in its output directory. */
async function runLocked(options: RunOptions, prepared: PreparedRun): Promise<RunResult> {
  const { outdir, assembly, projectDir, graph, selected, forced, matched, runners, store } = prepared;
  // The wall time is the run's own: loading runners and opening the cache are set-up before it.
  const startedAt = Date.now();
  const dryRun = options.dryRun ?? false;
  const publishes = options.artifacts ?? true;
  const out = new OutDirectory(outdir, store, Object.keys(assembly.nodes), publishes);
  const state = new RunState(
    [new EventLogFile(path.join(outdir, 'events.jsonl')), ...(options.observers ?? [])],
    options.keepGoing ?? false,
    options.signal,
  );
  const remote = options.remoteCache
    ? new RemoteArtifacts(
        options.remoteCache.cache,
        store,
        {
          warning: (node, message) =>
            state.emit({ event: 'warning', time: eventTime(), node, message, source: 'remote-cache' }),
          transfer: (node, direction, count, durationMs) =>
            state.emit({ event: 'remote', time: eventTime(), node, direction, ...count, durationMs }),
        },
        { ...options.remoteCache, signal: state.signal },
      )
    : undefined;
  const priority = longestPathToSink(graph);
  const context = {
    assembly,
    graph,
    runners,
    forced,
    priority,
    projectDir,
    dryRun,
    store,
    state,
    capacity: new Capacity(options.capacities, options.jobs),
    out,
    // A remote hit is downloaded only to be published.
    cache: new CacheDecision(store, out, state, dryRun, remote, publishes ? matched : new Set()),
    builder: new NodeBuilder(store, out, state, {
      projectDir,
      retries: options.retries ?? 0,
      timeoutSeconds: options.timeoutSeconds,
      remote,
    }),
  };

  state.emit({ event: 'run-start', time: eventTime(), nodes: graph.nodes.length, selected: selected.size });
  await remote?.probe();
  await runInDependencyOrder(graph, selected, priority, (nodePath) => settleNode(context, nodePath));
  // What was built is on the remote before the run says it is over.
  await remote?.drain();

  const wallMs = Date.now() - startedAt;
  const counts = { built: 0, cached: 0, failed: 0, skipped: 0, 'would-run': 0 };
  for (const outcome of state.outcomes.values()) counts[outcome.status]++;
  const status: RunStatus = options.signal?.aborted ? 'interrupted' : counts.failed > 0 ? 'failed' : 'ok';
  if (!dryRun) await out.writeOutputsJson(state.outcomes);
  state.emit({
    event: 'run-finish',
    time: eventTime(),
    status,
    wallMs,
    executed: counts.built,
    cached: counts.cached,
    failed: counts.failed,
    skipped: counts.skipped,
  });
  state.closeObservers();
  const chain = heaviestChain(graph, (node) => state.outcomes.get(node)?.durationMs ?? 0, selected);
  return {
    status,
    outcomes: state.outcomes,
    runners,
    wallMs,
    criticalPath: { nodes: chain.nodes, ms: chain.weight },
  };
}
