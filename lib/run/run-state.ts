/**
 * The shared state of one run: each node's outcome, the signal every running node listens to,
 * the failure policy (stop starting nodes, or keep going) and the event stream. The executor's
 * pieces record into it and read from it; none of them keeps run state of its own.
 */
import { setMaxListeners } from 'node:events';
import type { Graph } from '../synth/graph.ts';
import type { StoredOutput } from './artifact-store.ts';
import { eventTime, type RunEvent, type RunObserver } from './events.ts';

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
  /**
   * Served from a remote cache's record without downloading its outputs (the node was only needed
   * for its digests): nothing was published for it.
   */
  readonly remoteOnly?: boolean;
}

/** Why no new node starts: the run was interrupted, or a node failed (without --keep-going). */
type StopCause =
  | { readonly interrupted: true }
  | { readonly interrupted: false; readonly failedNode: string };

/** The state of one run. */
export class RunState {
  /** Every settled node's outcome, by construct path. */
  readonly outcomes = new Map<string, NodeOutcome>();
  private readonly abortController = new AbortController();
  private stopCause: StopCause | undefined;

  constructor(
    private readonly observers: readonly RunObserver[],
    private readonly keepGoing: boolean,
    cancel?: AbortSignal,
  ) {
    // Every running node listens to the run's signal (tools, waits): not a leak.
    setMaxListeners(0, this.abortController.signal);
    if (cancel) {
      const onCancel = () => {
        this.stopCause ??= { interrupted: true };
        this.abortController.abort(cancel.reason ?? new Error('interrupted'));
      };
      if (cancel.aborted) onCancel();
      else cancel.addEventListener('abort', onCancel, { once: true });
    }
  }

  /** Aborted when the run is interrupted: running nodes stop, waiting ones give up. */
  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  /** Sends an event to every observer. */
  emit(event: RunEvent): void {
    for (const observer of this.observers) observer.onEvent(event);
  }

  /** Lets every observer stop its timers and close its files. */
  closeObservers(): void {
    for (const observer of this.observers) observer.close?.();
  }

  /** Applies the failure policy after `nodePath` failed: without keep-going, nothing new starts. */
  nodeFailed(nodePath: string): void {
    if (!this.keepGoing) this.stopCause ??= { interrupted: false, failedNode: nodePath };
  }

  /** Why nodes are no longer started, or undefined while they are. */
  stopReason(): string | undefined {
    if (!this.stopCause) return undefined;
    return this.stopCause.interrupted
      ? 'run interrupted'
      : `stopped after ${this.stopCause.failedNode} failed`;
  }

  /** The first predecessor of `nodePath` that failed or was skipped, as a reason, if any. */
  blockingPredecessor(graph: Graph, nodePath: string): string | undefined {
    for (const before of graph.predecessors.get(nodePath) ?? []) {
      const outcome = this.outcomes.get(before);
      if (outcome?.status === 'failed') return `${before} failed`;
      if (outcome?.status === 'skipped') return `${before} was skipped`;
    }
    return undefined;
  }

  /** Records a skipped node's event; returns its outcome. */
  skip(nodePath: string, kind: string, reason: string): NodeOutcome {
    this.emit({ event: 'skip', time: eventTime(), node: nodePath, kind, reason });
    return { status: 'skipped', durationMs: 0, message: reason };
  }

  /** Records a dry-run decision to run a node; returns its outcome. */
  plan(nodePath: string, kind: string, key: string | undefined, reasons: string[]): NodeOutcome {
    this.emit({
      event: 'plan',
      time: eventTime(),
      node: nodePath,
      kind,
      cached: false,
      ...(key ? { key } : {}),
      reasons,
    });
    return { status: 'would-run', ...(key ? { key } : {}), durationMs: 0, message: reasons.join('; ') };
  }
}

/** A one-line description of any error, as events and outcomes carry it. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The class name of an error (`ComposeError`, `ToolError` ...), shown in node logs and events. */
export function errorNameOf(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}
