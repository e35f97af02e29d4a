/**
 * The machine's capacity as the executor shares it: a pool per resource class (slots for cpu,
 * io and net, a memory budget for vm), their defaults on this machine, and the overall job
 * limit. A node runs once both its class and the job limit have room for it. A vm node also takes
 * a cpu slot: a guest under TCG keeps a core busy for its whole boot, so more VMs than cores only
 * slow every one of them down (measured: the two-arch local profile started 12 VMs on 2 cores and
 * an aarch64 Kola boot missed its 120 s limit, which it passes in 27 s alone).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { ResourceClass, ResourceRequest } from '../kind.ts';
import { MemoryPool, type ResourcePool, SlotPool } from './resource-pool.ts';

/** Memory left to the host (and the executor itself) when the vm budget is the default. */
const VM_MEMORY_RESERVE_MIB = 2048;
/** Memory a vm node holds when its kind does not say. */
const DEFAULT_VM_MEMORY_MIB = 1024;
/** The smallest default vm budget, so that a busy machine still runs one small VM. */
const MINIMUM_DEFAULT_VM_MEMORY_MIB = 512;

/** Default capacity of each resource class on this machine. */
export function defaultCapacities(): Record<ResourceClass, number> {
  const cores = os.availableParallelism();
  const availableMiB = Math.floor(availableMemoryBytes() / (1024 * 1024));
  return {
    cpu: cores,
    io: cores,
    net: 4,
    vm: Math.max(availableMiB - VM_MEMORY_RESERVE_MIB, MINIMUM_DEFAULT_VM_MEMORY_MIB),
  };
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

/** The pools of one run. */
export class Capacity {
  private readonly pools: Record<ResourceClass, ResourcePool>;
  private readonly jobs: ResourcePool;

  /** Pools of `capacities` over the defaults, and at most `jobs` nodes at once (unlimited when undefined). */
  constructor(capacities: Partial<Record<ResourceClass, number>> = {}, jobs?: number) {
    const sizes = { ...defaultCapacities(), ...capacities };
    this.pools = {
      cpu: new SlotPool('cpu', sizes.cpu),
      io: new SlotPool('io', sizes.io),
      net: new SlotPool('net', sizes.net),
      vm: new MemoryPool('vm', sizes.vm),
    };
    this.jobs = new SlotPool('jobs', jobs ?? Number.POSITIVE_INFINITY);
  }

  /**
   * Runs `task` once the node's class has room for `resources` and a job slot is free, higher
   * `priority` first; rejects if `signal` aborts while it waits.
   */
  run<T>(
    resources: ResourceRequest,
    priority: number,
    task: () => Promise<T>,
    signal: AbortSignal,
  ): Promise<T> {
    const amount = resources.class === 'vm' ? (resources.memoryMiB ?? DEFAULT_VM_MEMORY_MIB) : 1;
    // The class first, then the job slot: a job slot is never held by a node waiting for its class.
    const inJobSlot = () => this.jobs.run(1, priority, task, signal);
    // A vm node's memory, then a core for its guest, then the job slot: always in that order.
    const inClass =
      resources.class === 'vm' ? () => this.pools.cpu.run(1, priority, inJobSlot, signal) : inJobSlot;
    return this.pools[resources.class].run(amount, priority, inClass, signal);
  }
}
