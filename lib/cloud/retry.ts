/**
 * Retrying cloud calls that failed transiently (throttling, 5xx, a reset connection) with
 * exponential backoff and jitter, cancellable; for clients whose SDK does not retry by itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** How {@link withRetries} retries. */
export interface RetryOptions {
  /** Whether an error is worth another attempt (throttling, 5xx, connection reset). */
  readonly isTransient: (error: unknown) => boolean;
  /** Cancels the retries (and the backoff sleeps). */
  readonly signal: AbortSignal;
  /**
   * Attempts in all.
   * @default 6
   */
  readonly attempts?: number;
  /**
   * First backoff, doubled each attempt (with jitter), capped at 20 s.
   * @default 500
   */
  readonly baseDelayMs?: number;
  /**
   * Told about each retry (for the log).
   * @default nothing
   */
  readonly onRetry?: (attempt: number, error: unknown) => void;
}

/** Calls `call` until it succeeds or fails with a non-transient error or the attempts run out. */
export async function withRetries<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = options.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts || options.signal.aborted || !options.isTransient(error)) throw error;
      options.onRetry?.(attempt, error);
      const backoff = Math.min((options.baseDelayMs ?? 500) * 2 ** (attempt - 1), 20_000);
      await sleep(backoff / 2 + Math.random() * (backoff / 2), undefined, { signal: options.signal });
    }
  }
}
