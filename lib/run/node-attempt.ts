/**
 * Building one node: each attempt gets a fresh work directory under the cache, its inputs
 * resolved (trees materialized), the runner raced against the run's cancel signal and the
 * attempt's timeout, then the outputs stored in the cache, the action record written (also under
 * the key taken after the run, for a runner whose fingerprint sees its own effects) and the
 * outputs published. A failure of a retryable kind is retried up to `--retries` times.
 */
import { setMaxListeners } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ACTION_RECORD_SCHEMA_VERSION, type ActionOutput } from '../cache/action-cache.ts';
import { abortReason, runTool } from '../exec.ts';
import type { ResolvedArtifact, Runner, RunnerContext } from '../runner.ts';
import type { AssemblyNode } from '../synth/assembly.ts';
import type { JsonValue } from '../util/canonical-json.ts';
import { actionKey, type KeyMaterial } from './action-key.ts';
import {
  type ArtifactStore,
  CorruptInputError,
  type HashCount,
  type StoredOutput,
  storedOutputOf,
} from './artifact-store.ts';
import { keyMaterialOf } from './cache-decision.ts';
import { eventTime } from './events.ts';
import { NodeLog } from './node-log.ts';
import type { OutDirectory } from './out-directory.ts';
import { type RemoteArtifacts, RemoteInputError } from './remote-artifacts.ts';
import { describeError, errorNameOf, type NodeOutcome, type RunState } from './run-state.ts';

/** Time limit of one attempt when neither the run nor the runner sets one. */
const DEFAULT_TIMEOUT_SECONDS = 3600;

/** A node about to be built: everything decided before its runner is called. */
export interface PendingAction {
  /** Construct path. */
  readonly nodePath: string;
  /** The node in the assembly. */
  readonly node: AssemblyNode;
  /** Its kind's runner. */
  readonly runner: Runner;
  /** The outputs feeding its inputs, by field. */
  readonly inputs: Readonly<Record<string, StoredOutput>>;
  /** Its action key. */
  readonly key: string;
  /** What the key was computed from. */
  readonly material: KeyMaterial;
}

/** The run-wide settings of building nodes. */
export interface BuildSettings {
  /** The project directory runners see. */
  readonly projectDir: string;
  /** Extra attempts for retryable kinds. */
  readonly retries: number;
  /** Time limit of one attempt of any node, overriding the runner's. */
  readonly timeoutSeconds: number | undefined;
  /** The remote cache: inputs only there are downloaded, what is built is uploaded. */
  readonly remote?: RemoteArtifacts | undefined;
}

/** Builds nodes for one run. */
export class NodeBuilder {
  constructor(
    private readonly store: ArtifactStore,
    private readonly out: OutDirectory,
    private readonly state: RunState,
    private readonly settings: BuildSettings,
  ) {}

  /** Runs the node's runner, with retries and a timeout per attempt; its outcome (never rejects on a runner failure). */
  async build(action: PendingAction): Promise<NodeOutcome> {
    const { nodePath, node, runner, key } = action;
    const attempts = 1 + (runner.retryable ? Math.max(this.settings.retries, 0) : 0);
    const timeoutMs =
      (this.settings.timeoutSeconds ?? runner.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
    let totalMs = 0;
    for (let attempt = 1; ; attempt++) {
      const startedAt = new Date();
      this.state.emit({
        event: 'start',
        time: startedAt.toISOString(),
        node: nodePath,
        kind: node.kind,
        key,
        attempt,
      });
      const log = await NodeLog.open(this.out.logPath(nodePath), attempt > 1);
      const tools = new RunningTools();
      const timeout = AbortSignal.timeout(timeoutMs);
      // Aborted when the attempt fails, so that a tool the runner left running is stopped too.
      const attemptOver = new AbortController();
      const signal = AbortSignal.any([this.state.signal, timeout, attemptOver.signal]);
      setMaxListeners(0, signal);
      const workDir = await this.store.makeWorkDir(nodePath);
      try {
        const stored = await this.attempt(action, workDir, signal, (line) => log.write(line), tools);
        const finishedAt = new Date();
        const durationMs = finishedAt.getTime() - startedAt.getTime();
        totalMs += durationMs;
        await log.close();
        await this.record(action, stored, startedAt, finishedAt);
        const outputs = Object.fromEntries(
          Object.entries(stored).map(([name, output]) => [name, storedOutputOf(output)]),
        );
        await this.out.publishOutputs(nodePath, outputs);
        this.state.emit({
          event: 'finish',
          time: finishedAt.toISOString(),
          node: nodePath,
          kind: node.kind,
          key,
          startedAt: startedAt.toISOString(),
          durationMs,
          attempt,
        });
        return { status: 'built', key, durationMs: totalMs, outputs };
      } catch (error) {
        const durationMs = Date.now() - startedAt.getTime();
        totalMs += durationMs;
        const interrupted = this.state.signal.aborted;
        const timedOut = !interrupted && timeout.aborted;
        const message = interrupted
          ? `interrupted (${abortReason(this.state.signal)})`
          : timedOut
            ? `timed out after ${timeoutMs / 1000} s`
            : describeError(error);
        const errorName = interrupted || timedOut ? undefined : errorNameOf(error);
        // The runner was abandoned at once, but its tools may still be stopping (SIGTERM, then
        // SIGKILL after a grace period): wait for them, so none outlives the attempt and what they
        // said while stopping is in the log before its last line.
        attemptOver.abort(new Error('the attempt failed'));
        await tools.settled();
        log.write(`FAILED${errorName ? ` (${errorName})` : ''}: ${message}`);
        await log.close();
        // A damaged input was evicted: another attempt cannot find it, the next run rebuilds it.
        const willRetry =
          !interrupted &&
          attempt < attempts &&
          !(error instanceof CorruptInputError) &&
          !(error instanceof RemoteInputError);
        this.state.emit({
          event: 'fail',
          time: eventTime(),
          node: nodePath,
          kind: node.kind,
          key,
          durationMs,
          attempt,
          willRetry,
          error: message,
          ...(errorName ? { errorName } : {}),
        });
        if (willRetry) continue;
        await this.out.removeOutputs(nodePath).catch(() => {});
        if (interrupted) return { status: 'skipped', key, durationMs: totalMs, message };
        this.state.nodeFailed(nodePath);
        return { status: 'failed', key, durationMs: totalMs, message: `${nodePath}: ${message}` };
      } finally {
        await rm(workDir, { recursive: true, force: true }).catch(() => {});
      }
    }
  }

  /**
   * One attempt: inputs resolved into `workDir` (each verified against its digest, see
   * ArtifactStore.resolveInput), the runner called, its outputs stored in the cache.
   */
  private async attempt(
    action: PendingAction,
    workDir: string,
    signal: AbortSignal,
    log: (line: string) => void,
    tools: RunningTools,
  ): Promise<Record<string, ActionOutput>> {
    const { nodePath, node, runner, inputs } = action;
    const resolved: Record<string, ResolvedArtifact> = {};
    const hashed: HashCount = { blobs: 0, bytes: 0 };
    for (const [field, output] of Object.entries(inputs)) {
      const producer = node.inputs[field]!.node;
      const producerKey = this.state.outcomes.get(producer)?.key;
      const origin = { consumer: nodePath, producer, signal, ...(producerKey ? { producerKey } : {}) };
      if (producerKey && this.settings.remote?.isRemoteOnly(producerKey))
        await this.settings.remote.ensureLocal(output, field, nodePath, producer);
      resolved[field] = await this.store.resolveInput(
        output,
        field,
        path.join(workDir, 'inputs'),
        origin,
        hashed,
      );
    }
    if (hashed.blobs > 0) {
      this.state.emit({ event: 'verify', time: eventTime(), node: nodePath, purpose: 'input', ...hashed });
    }
    const outputDir = path.join(workDir, 'work');
    await mkdir(outputDir);
    const returned = await raceAbort(
      runner.run({
        nodePath,
        props: node.props as never,
        inputs: resolved,
        declaredOutputs: node.outputs as RunnerContext['declaredOutputs'],
        projectDir: this.settings.projectDir,
        workDir: outputDir,
        ostreeRepo: this.store.ostreeRepo,
        cacheDirectory: this.store.root,
        signal,
        log,
        keepInputsTrusted: (files, operation) => this.store.blobs.keepFilesTrusted(files, operation),
        exec: (file, args, execOptions) => tools.track(runTool(file, args, { ...execOptions, signal, log })),
      }),
      signal,
    );
    // The timeout bounds the runner, not the storing of what it returned: only the run cancels that.
    return this.store.storeOutputs(nodePath, node.outputs, returned, this.state.signal);
  }

  /** Writes the action record of a finished attempt (with its log as a blob) and the node's last key. */
  private async record(
    action: PendingAction,
    outputs: Record<string, ActionOutput>,
    startedAt: Date,
    finishedAt: Date,
  ): Promise<void> {
    const { nodePath, node, key, material } = action;
    const logBlob = await this.store.blobs.putFile(this.out.logPath(nodePath));
    // Stores the record under `recordKey` and makes it the node's last key.
    const put = async (recordKey: string, recordMaterial: KeyMaterial) => {
      const keyMaterial = recordMaterial as unknown as Record<string, JsonValue>;
      const record = await this.store.actions.put({
        schemaVersion: ACTION_RECORD_SCHEMA_VERSION,
        key: recordKey,
        node: nodePath,
        kind: node.kind,
        outputs,
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        logDigest: logBlob.digest,
        keyMaterial,
      });
      await this.store.actions.setLastForNode(nodePath, recordKey, keyMaterial);
      this.settings.remote?.upload(record);
    };
    await put(key, material);
    if (!action.runner.fingerprintChangesWhenRun) return;
    // Only an optimisation: a fingerprint that fails now (a cloud unreachable) costs the next run a rerun.
    const after = await keyMaterialOf(
      action,
      this.settings.projectDir,
      this.state.signal,
      this.store.root,
    ).catch(() => undefined);
    if (after && actionKey(after) !== key) await put(actionKey(after), after);
  }
}

/** The tools an attempt started through `context.exec`, until each has exited. */
class RunningTools {
  private readonly running = new Set<Promise<unknown>>();

  /** Remembers `tool` until it settles; returns it unchanged. */
  track<T>(tool: Promise<T>): Promise<T> {
    const settled = tool.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(settled);
    void settled.then(() => this.running.delete(settled));
    return tool;
  }

  /** Resolves once every tool started so far has exited (a cancelled one is killed within a grace period). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }
}

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
