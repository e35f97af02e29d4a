/**
 * Run events: one JSON object per line in fcos.out/events.jsonl for CI and tools, and the same
 * events handed to a reporter for people.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

/** Something that happened during a run. */
export type RunEvent =
  | { readonly event: 'run-start'; readonly time: string; readonly nodes: number; readonly selected: number }
  | {
      readonly event: 'start';
      readonly time: string;
      readonly node: string;
      readonly kind: string;
      readonly key: string;
      readonly attempt: number;
    }
  | {
      readonly event: 'cached';
      readonly time: string;
      readonly node: string;
      readonly kind: string;
      readonly key: string;
    }
  | {
      readonly event: 'finish';
      readonly time: string;
      readonly node: string;
      readonly kind: string;
      readonly key: string;
      readonly startedAt: string;
      readonly durationMs: number;
      readonly attempt: number;
    }
  | {
      readonly event: 'fail';
      readonly time: string;
      readonly node: string;
      readonly kind: string;
      readonly key?: string;
      readonly durationMs: number;
      readonly attempt: number;
      readonly willRetry: boolean;
      readonly error: string;
      /** The error's class (`ComposeError`, `ToolError` ...), when it was one of ours or Node's. */
      readonly errorName?: string;
    }
  | {
      readonly event: 'warning';
      readonly time: string;
      readonly node: string;
      readonly message: string;
      /** Set for problems of the remote cache (an unreachable remote, a refused blob). */
      readonly source?: 'remote-cache';
    }
  | {
      readonly event: 'verify';
      readonly time: string;
      readonly node: string;
      /**
       * What was hashed: blobs of a cached output whose stamps changed since they were last
       * verified (a copied cache, a foreign write), or the inputs a node was about to consume.
       */
      readonly purpose: 'cached-output' | 'input';
      /** Blobs hashed. */
      readonly blobs: number;
      /** Their bytes. */
      readonly bytes: number;
    }
  | {
      /** A node's outputs moved to or from the remote cache. */
      readonly event: 'remote';
      readonly time: string;
      readonly node: string;
      readonly direction: 'download' | 'upload';
      readonly blobs: number;
      readonly bytes: number;
      readonly durationMs: number;
    }
  | {
      readonly event: 'skip';
      readonly time: string;
      readonly node: string;
      readonly kind: string;
      readonly reason: string;
    }
  | {
      readonly event: 'plan';
      readonly time: string;
      readonly node: string;
      readonly kind: string;
      readonly cached: boolean;
      readonly key?: string;
      readonly reasons: readonly string[];
    }
  | {
      readonly event: 'run-finish';
      readonly time: string;
      readonly status: RunStatus;
      readonly wallMs: number;
      readonly executed: number;
      readonly cached: number;
      readonly failed: number;
      readonly skipped: number;
    };

/** How a run ended. */
export type RunStatus = 'ok' | 'failed' | 'interrupted';

/** Receives events as they happen. */
export interface RunObserver {
  /** Called for every event, in order. */
  onEvent(event: RunEvent): void;
  /** Called once when the run is over, to stop timers and restore the terminal. */
  close?(): void;
}

/** Appends events to a JSON-lines file (synchronous writes: an event is on disk when emitted). */
export class EventLogFile implements RunObserver {
  private descriptor: number | undefined;

  constructor(file: string) {
    this.descriptor = openSync(file, 'w');
  }

  /** Writes one event as one line. */
  onEvent(event: RunEvent): void {
    if (this.descriptor !== undefined) writeSync(this.descriptor, `${JSON.stringify(event)}\n`);
  }

  /** Closes the file. */
  close(): void {
    if (this.descriptor !== undefined) closeSync(this.descriptor);
    this.descriptor = undefined;
  }
}

/** The current time as events carry it (ISO 8601). */
export function eventTime(): string {
  return new Date().toISOString();
}
