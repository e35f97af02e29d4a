/**
 * Capacity of one resource class (cpu slots, vm memory in MiB ...). Waiters are served in
 * priority order through a p-queue of concurrency 1, so a large request is not starved by a
 * stream of small ones and the critical path goes first.
 */
import PQueue from 'p-queue';

/** A weighted semaphore with prioritized waiters. */
export class ResourcePool {
  /** Name of the class, for messages. */
  readonly name: string;
  /** Total capacity. */
  readonly capacity: number;
  private available: number;
  private readonly admission = new PQueue({ concurrency: 1 });
  private wakeUp: (() => void) | undefined;

  constructor(name: string, capacity: number) {
    this.name = name;
    this.capacity = capacity;
    this.available = capacity;
  }

  /** Waits for `amount` (clamped to the capacity) and returns the function that gives it back. */
  async acquire(amount: number, priority: number, signal?: AbortSignal): Promise<() => void> {
    const wanted = Math.min(Math.max(amount, 0), this.capacity);
    await this.admission.add(
      async () => {
        while (this.available < wanted) {
          signal?.throwIfAborted();
          await new Promise<void>((resolve) => {
            const onAbort = () => resolve();
            this.wakeUp = () => {
              signal?.removeEventListener('abort', onAbort);
              resolve();
            };
            signal?.addEventListener('abort', onAbort, { once: true });
          });
        }
        this.available -= wanted;
      },
      { priority },
    );
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.available += wanted;
      const wake = this.wakeUp;
      this.wakeUp = undefined;
      wake?.();
    };
  }

  /** Capacity in use. */
  get inUse(): number {
    return this.capacity - this.available;
  }
}
