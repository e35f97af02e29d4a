/**
 * Bounded waits of cloud uploads: polling a long operation (import task, image state) until it
 * gives a value, and time limits on signals, so that no wait outlives its `waitTimeoutMinutes`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CloudWaitTimeoutError } from './errors.ts';

/** Where and how long a wait polls. */
export interface WaitOptions {
  /** The cloud, for errors. */
  readonly cloud: string;
  /** The call polled (`DescribeImportSnapshotTasks import-snap-1`), for errors. */
  readonly call: string;
  /** Construct path, for errors. */
  readonly nodePath: string;
  /** Time between polls. */
  readonly intervalMs: number;
  /** Time limit of the whole wait. */
  readonly timeoutMs: number;
  /** Cancels the wait. */
  readonly signal: AbortSignal;
  /** What the wait is for (`the import of snapshot X`), for the timeout message. */
  readonly what: string;
}

/** Polls `check` until it returns a value; fails with {@link CloudWaitTimeoutError} past the limit. */
export async function pollUntil<T>(options: WaitOptions, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    options.signal.throwIfAborted();
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() + options.intervalMs > deadline) {
      throw new CloudWaitTimeoutError(
        options.cloud,
        options.call,
        `gave up waiting for ${options.what} after ${Math.round(options.timeoutMs / 1000)} s (options.waitTimeoutMinutes)`,
        options.nodePath,
      );
    }
    await sleep(options.intervalMs, undefined, { signal: options.signal });
  }
}

/** A signal aborted by `signal` or after `timeoutMs`, whichever comes first. */
export function withTimeout(signal: AbortSignal, timeoutMs: number): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
}
