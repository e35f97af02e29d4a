/**
 * The executor: runs the nodes of a synthesized assembly in dependency order, in parallel within
 * each resource class's capacity, critical path first, skipping every node whose action key is
 * already in the cache. Runners see inputs and a work directory; everything else happens here.
 */

import { setMaxListeners } from 'node:events';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { acquireLock } from '../cache/lock.ts';
import { FcosError } from '../errors.ts';
import { abortReason, runTool } from '../exec.ts';
import type { ResourceClass } from '../kind.ts';
import type { ResolvedArtifact, Runner, RunnerContext } from '../runner.ts';
import { type Assembly, type AssemblyNode, readAssembly } from '../synth/assembly.ts';
import {
  type Graph,
  graphOfAssembly,
  longestPathToSink,
  topologicalOrder,
  withPredecessors,
} from '../synth/graph.ts';
import { canonicalStringify, type JsonValue } from '../util/canonical-json.ts';
import { actionKey, explainDifference, type KeyMaterial } from './action-key.ts';
import { ArtifactStore, type StoredOutput, storedOutputOf } from './artifact-store.ts';
import { EventLogFile, type RunEvent, type RunObserver, type RunStatus } from './events.ts';
import { matchAny } from './glob.ts';
import { loadRunners } from './load-runners.ts';
import { MemoryPool, type ResourcePool, SlotPool } from './resource-pool.ts';

/** Options of {@link runPipeline}. */
export interface RunOptions {
  /** Directory holding pipeline.json; events, logs, artifacts and outputs.json are written there. */
  readonly outdir: string;
  /** Cache root. */
  readonly cacheDir: string;
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
   * Refuse a pipeline.json older than its program.
   * @default true
   */
  readonly checkFreshness?: boolean;
}

/** What happened to one node. */
export interface NodeOutcome {
  /** Built now, served from the cache, failed, skipped, or (dry run) planned. */
  readonly status: 'built' | 'cached' | 'failed' | 'skipped' | 'would-run';
  /** Its action key, once known. */
  readonly key?: string;
  /** Time spent running it in this run (0 when cached). */
  readonly durationMs: number;
  /** The outputs, for built and cached nodes. */
  readonly outputs?: Readonly<Record<string, StoredOutput>>;
  /** The error or skip reason. */
  readonly message?: string;
}

/** The result of a run. */
export interface RunResult {
  /** How the run ended. */
  readonly status: RunStatus;
  /** Every selected node's outcome. */
  readonly outcomes: ReadonlyMap<string, NodeOutcome>;
  /** Wall-clock time of the run. */
  readonly wallMs: number;
  /** The chain of nodes that took longest in this run, and its length. */
  readonly criticalPath: { readonly nodes: readonly string[]; readonly ms: number };
}

/** Exit code of a run (0 ok, 1 a node failed, 130 interrupted). */
export function exitCodeOf(status: RunStatus): number {
  return status === 'ok' ? 0 : status === 'interrupted' ? 130 : 1;
}

/** A node failed; the message names the node and says why. */
export class NodeFailedError extends FcosError {}

const DEFAULT_TIMEOUT_SECONDS = 3600;
const VM_MEMORY_RESERVE_MIB = 2048;
const DEFAULT_VM_MEMORY_MIB = 1024;

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
  const forced = new Set(options.force?.length ? matchOrThrow(selected, options.force, '--force') : []);
  const runners = await loadRunners(assembly, selected, projectDir);
  const store = new ArtifactStore(options.cacheDir);
  await store.init();
  await mkdir(outdir, { recursive: true });
  const run = new Run(assembly, graph, selected, runners, forced, store, projectDir, outdir, options);
  return run.execute();
}

/** The nodes to run: all, or those matching `only` and everything they need. */
function selectNodes(graph: Graph, only: readonly string[] | undefined): Set<string> {
  if (!only || only.length === 0) return new Set(graph.nodes);
  return withPredecessors(graph, matchOrThrow(graph.nodes, only, '--only'));
}

/** Paths matching `patterns`; a usage error when none does. */
function matchOrThrow(paths: Iterable<string>, patterns: readonly string[], option: string): string[] {
  const matched = matchAny(paths, patterns);
  if (matched.length === 0) {
    throw new FcosError(`${option} ${patterns.join(' ')} matches no node; see fcos-synth --list`, {
      field: option,
    });
  }
  return matched;
}

/** Refuses an assembly older than the program it came from. */
async function assertFresh(assemblyFile: string, appFile: string): Promise<void> {
  const [assembly, app] = await Promise.all([stat(assemblyFile), stat(appFile).catch(() => undefined)]);
  if (app && app.mtimeMs > assembly.mtimeMs) {
    throw new FcosError(
      `${path.relative(process.cwd(), assemblyFile)} is older than ${path.relative(process.cwd(), appFile)}: run fcos-synth first`,
      { field: 'pipeline.json' },
    );
  }
}

/** Default capacity of each resource class on this machine. */
export function defaultCapacities(): Record<ResourceClass, number> {
  const cores = os.availableParallelism();
  const availableMiB = Math.floor(availableMemoryBytes() / (1024 * 1024));
  return { cpu: cores, io: cores, net: 4, vm: Math.max(availableMiB - VM_MEMORY_RESERVE_MIB, 512) };
}

/** MemAvailable from /proc/meminfo (page cache counts as available), else Node's free memory. */
function availableMemoryBytes(): number {
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // Not Linux: fall through.
  }
  return os.freemem();
}

/** A node about to be built: everything decided before its runner is called. */
interface PendingAction {
  /** Construct path. */
  readonly nodePath: string;
  /** The node in the assembly. */
  readonly node: AssemblyNode;
  /** Its kind's runner. */
  readonly runner: Runner;
  /** The outputs feeding its inputs, by field. */
  readonly inputs: Record<string, StoredOutput>;
  /** Its action key. */
  readonly key: string;
  /** What the key was computed from. */
  readonly material: KeyMaterial;
}

/** The state of one run. */
class Run {
  private readonly outcomes = new Map<string, NodeOutcome>();
  private readonly pools: Record<ResourceClass, ResourcePool>;
  private readonly jobs: ResourcePool;
  private readonly priority: Map<string, number>;
  private readonly observers: RunObserver[];
  private readonly abort = new AbortController();
  private stopping: string | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly assembly: Assembly,
    private readonly graph: Graph,
    private readonly selected: ReadonlySet<string>,
    private readonly runners: ReadonlyMap<string, Runner>,
    private readonly forced: ReadonlySet<string>,
    private readonly store: ArtifactStore,
    private readonly projectDir: string,
    private readonly outdir: string,
    private readonly options: RunOptions,
  ) {
    const capacities = { ...defaultCapacities(), ...options.capacities };
    this.pools = {
      cpu: new SlotPool('cpu', capacities.cpu),
      io: new SlotPool('io', capacities.io),
      net: new SlotPool('net', capacities.net),
      vm: new MemoryPool('vm', capacities.vm),
    };
    this.jobs = new SlotPool('jobs', options.jobs ?? Number.POSITIVE_INFINITY);
    this.priority = longestPathToSink(graph);
    this.observers = [new EventLogFile(path.join(outdir, 'events.jsonl')), ...(options.observers ?? [])];
    // Every running node listens to the run's signal (tools, waits): not a leak.
    setMaxListeners(0, this.abort.signal);
    if (options.signal) {
      const signal = options.signal;
      const onAbort = () => {
        this.stopping ??= 'interrupted';
        this.abort.abort(signal.reason ?? new Error('interrupted'));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  /** Runs every selected node and reports. */
  async execute(): Promise<RunResult> {
    this.emit({
      event: 'run-start',
      time: now(),
      nodes: this.graph.nodes.length,
      selected: this.selected.size,
    });
    const waiting = new Map<string, number>();
    for (const node of this.selected) {
      waiting.set(
        node,
        (this.graph.predecessors.get(node) ?? []).filter((before) => this.selected.has(before)).length,
      );
    }
    await new Promise<void>((resolve) => {
      let settled = 0;
      if (this.selected.size === 0) resolve();
      const launch = (node: string): void => {
        void this.processNode(node).then(() => {
          settled++;
          for (const next of this.graph.successors.get(node) ?? []) {
            if (!this.selected.has(next)) continue;
            const left = waiting.get(next)! - 1;
            waiting.set(next, left);
            if (left === 0) launch(next);
          }
          if (settled === this.selected.size) resolve();
        });
      };
      const ready = [...this.selected].filter((node) => waiting.get(node) === 0);
      ready.sort((a, b) => (this.priority.get(b) ?? 0) - (this.priority.get(a) ?? 0));
      for (const node of ready) launch(node);
    });
    return this.finish();
  }

  /** Decides a node's fate and records its outcome; never rejects. */
  private async processNode(nodePath: string): Promise<void> {
    const node = this.assembly.nodes[nodePath]!;
    try {
      this.outcomes.set(nodePath, await this.decide(nodePath, node));
    } catch (error) {
      const message = describeError(error);
      this.outcomes.set(nodePath, { status: 'failed', durationMs: 0, message });
      this.emit({
        event: 'fail',
        time: now(),
        node: nodePath,
        kind: node.kind,
        durationMs: 0,
        attempt: 1,
        willRetry: false,
        error: message,
      });
      this.onFailure(nodePath);
    }
  }

  /** The outcome of one node: skipped, cached, planned, or run. */
  private async decide(nodePath: string, node: AssemblyNode): Promise<NodeOutcome> {
    const blocked = this.blockingPredecessor(nodePath);
    if (blocked) return this.skip(nodePath, node, blocked);
    if (this.stopping) return this.skip(nodePath, node, this.stopReason());
    const inputs = this.inputsOf(node);
    if (!inputs) return this.plan(nodePath, node, undefined, ['an input will be rebuilt']);
    const runner = this.runners.get(nodePath)!;
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
          projectDir: this.projectDir,
          signal: this.abort.signal,
          exec: (file, args, execOptions) =>
            runTool(file, args, { ...execOptions, signal: this.abort.signal }),
        })
      : null;
    const material: KeyMaterial = {
      kind: node.kind,
      kindVersion: node.kindVersion,
      props: node.props as JsonValue,
      inputs: Object.fromEntries(Object.entries(inputs).map(([field, output]) => [field, output.digest])),
      fingerprint: fingerprint ?? null,
    };
    const key = actionKey(material);
    const forced = this.forced.has(nodePath);
    if (!forced) {
      const cached = await this.lookup(key, nodePath);
      if (cached) return this.serveCached(nodePath, node, key, cached);
    }
    if (this.options.dryRun)
      return this.plan(nodePath, node, key, await this.missReasons(nodePath, material, forced));
    const pool = this.pools[node.resources.class];
    const amount = node.resources.class === 'vm' ? (node.resources.memoryMiB ?? DEFAULT_VM_MEMORY_MIB) : 1;
    const priority = this.priority.get(nodePath) ?? 0;
    const signal = this.abort.signal;
    try {
      return await pool.run(
        amount,
        priority,
        () =>
          this.jobs.run(
            1,
            priority,
            () => this.buildUnderLock({ nodePath, node, runner, inputs, key, material }, forced),
            signal,
          ),
        signal,
      );
    } catch (error) {
      if (signal.aborted) return this.skip(nodePath, node, 'run interrupted');
      throw error;
    }
  }

  /** Builds the node holding its action's lock, unless another process built it meanwhile. */
  private async buildUnderLock(action: PendingAction, forced: boolean): Promise<NodeOutcome> {
    const { nodePath, node, key } = action;
    if (this.stopping) return this.skip(nodePath, node, this.stopReason());
    const releaseLock = await acquireLock(this.store.root, key, { signal: this.abort.signal });
    try {
      // Another process may have built it while this one waited for the lock.
      const builtMeanwhile = forced ? undefined : await this.lookup(key, nodePath);
      if (builtMeanwhile) return this.serveCached(nodePath, node, key, builtMeanwhile);
      return await this.build(action);
    } finally {
      await releaseLock();
    }
  }

  /** Why nodes are no longer started. */
  private stopReason(): string {
    return this.stopping === 'interrupted' ? 'run interrupted' : `stopped after ${this.stopping} failed`;
  }

  /** The first predecessor that failed or was skipped, as a reason, if any. */
  private blockingPredecessor(nodePath: string): string | undefined {
    for (const before of this.graph.predecessors.get(nodePath) ?? []) {
      const outcome = this.outcomes.get(before);
      if (outcome?.status === 'failed') return `${before} failed`;
      if (outcome?.status === 'skipped') return `${before} was skipped`;
    }
    return undefined;
  }

  /** The stored outputs feeding each input field; undefined when one is not built yet (dry run). */
  private inputsOf(node: AssemblyNode): Record<string, StoredOutput> | undefined {
    const inputs: Record<string, StoredOutput> = {};
    for (const [field, reference] of Object.entries(node.inputs)) {
      const output = this.outcomes.get(reference.node)?.outputs?.[reference.output];
      if (!output) return undefined;
      inputs[field] = output;
    }
    return inputs;
  }

  /** The cached record of `key`, verified. */
  private async lookup(key: string, nodePath: string) {
    return this.store.lookup(key, (message) =>
      this.emit({ event: 'warning', time: now(), node: nodePath, message }),
    );
  }

  /** Outcome of a cache hit: outputs published, the original log restored. */
  private async serveCached(
    nodePath: string,
    node: AssemblyNode,
    key: string,
    record: { outputs: Record<string, Parameters<typeof storedOutputOf>[0]>; logDigest?: string | undefined },
  ): Promise<NodeOutcome> {
    const outputs = Object.fromEntries(
      Object.entries(record.outputs).map(([name, output]) => [name, storedOutputOf(output)]),
    );
    if (!this.options.dryRun) {
      await this.publish(nodePath, outputs);
      if (record.logDigest)
        await this.store.linkBlob(record.logDigest, this.logPath(nodePath)).catch(() => {});
    }
    this.emit(
      this.options.dryRun
        ? { event: 'plan', time: now(), node: nodePath, kind: node.kind, cached: true, key, reasons: [] }
        : { event: 'cached', time: now(), node: nodePath, kind: node.kind, key },
    );
    return { status: 'cached', key, durationMs: 0, outputs };
  }

  /** Why `material` misses the cache, compared with the node's last recorded run. */
  private async missReasons(nodePath: string, material: KeyMaterial, forced: boolean): Promise<string[]> {
    if (forced) return ['forced'];
    const last = await this.store.actions.getLastForNode(nodePath);
    if (!last) return ['never built'];
    const reasons = explainDifference(last.keyMaterial as unknown as KeyMaterial, material);
    return reasons.length > 0 ? reasons : ['its last result is no longer in the cache'];
  }

  /** Records a dry-run decision. */
  private plan(
    nodePath: string,
    node: AssemblyNode,
    key: string | undefined,
    reasons: string[],
  ): NodeOutcome {
    this.emit({
      event: 'plan',
      time: now(),
      node: nodePath,
      kind: node.kind,
      cached: false,
      ...(key ? { key } : {}),
      reasons,
    });
    return { status: 'would-run', ...(key ? { key } : {}), durationMs: 0, message: reasons.join('; ') };
  }

  /** Records a skipped node. */
  private skip(nodePath: string, node: AssemblyNode, reason: string): NodeOutcome {
    this.emit({ event: 'skip', time: now(), node: nodePath, kind: node.kind, reason });
    return { status: 'skipped', durationMs: 0, message: reason };
  }

  /** Runs the node's runner, with retries and a timeout per attempt, and stores its outputs. */
  private async build(action: PendingAction): Promise<NodeOutcome> {
    const { nodePath, node, runner, inputs, key, material } = action;
    const attempts = 1 + (runner.retryable ? Math.max(this.options.retries ?? 0, 0) : 0);
    const timeoutMs =
      (this.options.timeoutSeconds ?? runner.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
    let totalMs = 0;
    for (let attempt = 1; ; attempt++) {
      const startedAt = new Date();
      this.emit({
        event: 'start',
        time: startedAt.toISOString(),
        node: nodePath,
        kind: node.kind,
        key,
        attempt,
      });
      const log = await openLog(this.logPath(nodePath), attempt > 1);
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = AbortSignal.any([this.abort.signal, timeout]);
      setMaxListeners(0, signal);
      const workDir = await this.store.makeWorkDir(nodePath);
      try {
        const resolved: Record<string, ResolvedArtifact> = {};
        for (const [field, output] of Object.entries(inputs)) {
          resolved[field] = await this.store.resolveInput(output, field, path.join(workDir, 'inputs'));
        }
        const outputDir = path.join(workDir, 'work');
        await mkdir(outputDir);
        const logLine = (line: string) => log.write(`${line}\n`);
        const returned = await raceAbort(
          runner.run({
            nodePath,
            props: node.props as never,
            inputs: resolved,
            declaredOutputs: node.outputs as RunnerContextOutputs,
            projectDir: this.projectDir,
            workDir: outputDir,
            ostreeRepo: this.store.ostreeRepo,
            signal,
            log: logLine,
            exec: (file, args, execOptions) => runTool(file, args, { ...execOptions, signal, log: logLine }),
          }),
          signal,
        );
        const outputs = await this.store.storeOutputs(nodePath, node.outputs, returned, this.abort.signal);
        const finishedAt = new Date();
        const durationMs = finishedAt.getTime() - startedAt.getTime();
        totalMs += durationMs;
        await closeLog(log);
        const logBlob = await this.store.blobs.putFile(this.logPath(nodePath));
        await this.store.actions.put({
          schemaVersion: 1,
          key,
          node: nodePath,
          kind: node.kind,
          outputs,
          startedAt: startedAt.toISOString(),
          finishedAt: finishedAt.toISOString(),
          durationMs,
          logDigest: logBlob.digest,
          keyMaterial: material as unknown as Record<string, JsonValue>,
        });
        await this.store.actions.setLastForNode(
          nodePath,
          key,
          material as unknown as Record<string, JsonValue>,
        );
        const stored = Object.fromEntries(
          Object.entries(outputs).map(([name, output]) => [name, storedOutputOf(output)]),
        );
        await this.publish(nodePath, stored);
        this.emit({
          event: 'finish',
          time: finishedAt.toISOString(),
          node: nodePath,
          kind: node.kind,
          key,
          startedAt: startedAt.toISOString(),
          durationMs,
          attempt,
        });
        return { status: 'built', key, durationMs: totalMs, outputs: stored };
      } catch (error) {
        const durationMs = Date.now() - startedAt.getTime();
        totalMs += durationMs;
        const interrupted = this.abort.signal.aborted;
        const timedOut = !interrupted && timeout.aborted;
        const message = interrupted
          ? `interrupted (${abortReason(this.abort.signal)})`
          : timedOut
            ? `timed out after ${timeoutMs / 1000} s`
            : describeError(error);
        log.write(`FAILED: ${message}\n`);
        await closeLog(log);
        const willRetry = !interrupted && attempt < attempts;
        this.emit({
          event: 'fail',
          time: now(),
          node: nodePath,
          kind: node.kind,
          key,
          durationMs,
          attempt,
          willRetry,
          error: message,
        });
        if (willRetry) continue;
        if (interrupted) return { status: 'skipped', key, durationMs: totalMs, message };
        this.onFailure(nodePath);
        return { status: 'failed', key, durationMs: totalMs, message: `${nodePath}: ${message}` };
      } finally {
        await rm(workDir, { recursive: true, force: true }).catch(() => {});
      }
    }
  }

  /** Applies the failure policy after `nodePath` failed. */
  private onFailure(nodePath: string): void {
    if (!this.options.keepGoing) this.stopping ??= nodePath;
  }

  /** Links a node's outputs under fcos.out/artifacts/<node>/. */
  private async publish(nodePath: string, outputs: Record<string, StoredOutput>): Promise<void> {
    const directory = path.join(this.outdir, 'artifacts', ...nodePath.split('/'));
    for (const [name, output] of Object.entries(outputs))
      await this.store.publishOutput(output, directory, name);
  }

  /** The log file of a node. */
  private logPath(nodePath: string): string {
    return path.join(this.outdir, 'logs', `${nodePath}.log`);
  }

  /** Sends an event to every observer. */
  private emit(event: RunEvent): void {
    for (const observer of this.observers) observer.onEvent(event);
  }

  /** Writes outputs.json, emits the final event and builds the result. */
  private async finish(): Promise<RunResult> {
    const wallMs = Date.now() - this.startedAt;
    const counts = { built: 0, cached: 0, failed: 0, skipped: 0, 'would-run': 0 };
    for (const outcome of this.outcomes.values()) counts[outcome.status]++;
    const status: RunStatus = this.options.signal?.aborted
      ? 'interrupted'
      : counts.failed > 0
        ? 'failed'
        : 'ok';
    if (!this.options.dryRun) await this.writeOutputsJson();
    this.emit({
      event: 'run-finish',
      time: now(),
      status,
      wallMs,
      executed: counts.built,
      cached: counts.cached,
      failed: counts.failed,
      skipped: counts.skipped,
    });
    for (const observer of this.observers) observer.close?.();
    return { status, outcomes: this.outcomes, wallMs, criticalPath: this.criticalPath() };
  }

  /** The chain of dependent nodes with the largest total time spent in this run. */
  private criticalPath(): { nodes: string[]; ms: number } {
    const best = new Map<string, { ms: number; previous?: string }>();
    let end: string | undefined;
    for (const node of topologicalOrder(this.graph).filter((candidate) => this.selected.has(candidate))) {
      let from: { ms: number; previous?: string } = { ms: 0 };
      let previous: string | undefined;
      for (const before of this.graph.predecessors.get(node) ?? []) {
        const candidate = best.get(before);
        if (candidate && candidate.ms > from.ms) {
          from = candidate;
          previous = before;
        }
      }
      const entry = {
        ms: from.ms + (this.outcomes.get(node)?.durationMs ?? 0),
        ...(previous ? { previous } : {}),
      };
      best.set(node, entry);
      if (!end || entry.ms > best.get(end)!.ms) end = node;
    }
    const nodes: string[] = [];
    for (let cursor = end; cursor; cursor = best.get(cursor)?.previous) {
      if ((this.outcomes.get(cursor)?.durationMs ?? 0) > 0) nodes.unshift(cursor);
    }
    return { nodes, ms: end ? best.get(end)!.ms : 0 };
  }

  /** Writes fcos.out/outputs.json: node → output → type, digest, size, path, metadata. */
  private async writeOutputsJson(): Promise<void> {
    const result: Record<string, Record<string, unknown>> = {};
    for (const [nodePath, outcome] of [...this.outcomes.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      if (!outcome.outputs) continue;
      const directory = path.join('artifacts', ...nodePath.split('/'));
      result[nodePath] = Object.fromEntries(
        Object.entries(outcome.outputs).map(([name, output]) => [
          name,
          {
            type: output.type,
            storage: output.storage,
            digest: output.digest,
            size: output.size,
            path:
              output.storage === 'ostree-commit'
                ? path.relative(this.outdir, this.store.ostreeRepo)
                : path.join(directory, output.storage === 'tree' ? name : (output.fileName ?? name)),
            metadata: output.metadata,
          },
        ]),
      );
    }
    const file = path.join(this.outdir, 'outputs.json');
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, `${canonicalStringify(result, 2)}\n`);
    await rename(temporary, file);
  }
}

/** The declared outputs as runners see them. */
type RunnerContextOutputs = RunnerContext['declaredOutputs'];

/** Rejects as soon as `signal` aborts, even if the runner ignores it. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** The current time, ISO 8601. */
function now(): string {
  return new Date().toISOString();
}

/** A one-line description of any error. */
function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Opens a node's log file (appending for retries). */
async function openLog(file: string, append: boolean): Promise<WriteStream> {
  await mkdir(path.dirname(file), { recursive: true });
  // The log may be a hardlink to a cached blob (a previous cache hit): replace, never write into it.
  if (!append) await rm(file, { force: true });
  return createWriteStream(file, { flags: append ? 'a' : 'w' });
}

/** Closes a log stream once everything is written. */
function closeLog(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.closed) resolve();
    else stream.end(() => resolve());
  });
}
