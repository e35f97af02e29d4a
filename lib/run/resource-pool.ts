/**
 * Capacity of one resource class. Slot classes (cpu, io, net, and the overall job limit) are a
 * p-queue each: concurrency = slots, waiting nodes started by priority. The vm class is a memory
 * budget in MiB, which p-queue cannot weigh: its waiters are kept in priority order and the first
 * one starts as soon as its memory fits (no overtaking, so a large VM is never starved).
 */
import PQueue from 'p-queue';

/** Runs tasks within a capacity, highest priority first. */
export interface ResourcePool {
  /** Name of the class, for messages. */
  readonly name: string;
  /** Total capacity (slots, or MiB). */
  readonly capacity: number;
  /** Capacity in use now. */
  readonly inUse: number;
  /** Runs `task` once `amount` of the capacity is free; rejects if `signal` aborts first. */
  run<T>(amount: number, priority: number, task: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** A pool of identical slots, scheduled by p-queue. */
export class SlotPool implements ResourcePool {
  /** Name of the class. */
  readonly name: string;
  /** Number of slots. */
  readonly capacity: number;
  private readonly queue: PQueue;

  constructor(name: string, capacity: number) {
    this.name = name;
    this.capacity = capacity;
    this.queue = new PQueue({ concurrency: capacity });
  }

  /** Slots in use. */
  get inUse(): number {
    return this.queue.pending;
  }

  /**
   * Runs `task` in a slot (every task takes one, whatever `amount` says); rejects without running it
   * if `signal` aborted while it waited. The signal is not handed to p-queue, which would also reject
   * a task already running and so let its caller move on while it still cleans up.
   */
  async run<T>(_amount: number, priority: number, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    return (await this.queue.add(
      () => {
        signal?.throwIfAborted();
        return task();
      },
      { priority },
    )) as T;
  }
}

/** A waiter of a {@link MemoryPool}. */
interface MemoryWaiter {
  readonly amount: number;
  readonly priority: number;
  readonly order: number;
  readonly start: () => void;
}

/** A budget of memory in MiB shared by VM-booting nodes. */
export class MemoryPool implements ResourcePool {
  /** Name of the class. */
  readonly name: string;
  /** Budget in MiB. */
  readonly capacity: number;
  private used = 0;
  private arrivals = 0;
  private readonly waiters: MemoryWaiter[] = [];

  constructor(name: string, capacity: number) {
    this.name = name;
    this.capacity = capacity;
  }

  /** MiB in use. */
  get inUse(): number {
    return this.used;
  }

  /** Runs `task` holding `amount` MiB (clamped to the budget, so an oversized node still runs alone). */
  async run<T>(amount: number, priority: number, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const wanted = Math.min(Math.max(amount, 0), this.capacity);
    await this.admit(wanted, priority, signal);
    try {
      return await task();
    } finally {
      this.used -= wanted;
      this.drain();
    }
  }

  /** Resolves when `amount` is granted to this waiter. */
  private admit(amount: number, priority: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(signal?.reason);
        this.drain();
      };
      const waiter: MemoryWaiter = {
        amount,
        priority,
        order: this.arrivals++,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.waiters.sort((a, b) => b.priority - a.priority || a.order - b.order);
      this.drain();
    });
  }

  /** Starts waiters from the front while their memory fits. */
  private drain(): void {
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.amount <= this.capacity) {
      const waiter = this.waiters.shift()!;
      this.used += waiter.amount;
      waiter.start();
    }
  }
}
