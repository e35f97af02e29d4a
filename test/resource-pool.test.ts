import { describe, expect, it } from 'vitest';
import { MemoryPool, SlotPool } from '../lib/run/resource-pool.ts';

describe('ResourcePool', () => {
  for (const pool of [new SlotPool('cpu', 1), new MemoryPool('vm', 1)]) {
    it(`${pool.constructor.name} serves waiting tasks by priority, whatever their arrival order`, async () => {
      let release: () => void = () => {};
      const blocker = pool.run(1, 0, () => new Promise<void>((resolve) => (release = resolve)));
      const order: string[] = [];
      const waiters = (
        [
          ['low', 1],
          ['high', 9],
          ['middle', 5],
        ] as const
      ).map(([name, priority]) => pool.run(1, priority, async () => void order.push(name)));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(order).toEqual([]);
      expect(pool.inUse).toBe(1);
      release();
      await Promise.all([blocker, ...waiters]);
      expect(order).toEqual(['high', 'middle', 'low']);
    });
  }

  it('weights tasks by memory and never exceeds the budget', async () => {
    const pool = new MemoryPool('vm', 1000);
    let peak = 0;
    let concurrent = 0;
    let peakConcurrent = 0;
    const task = (mib: number) =>
      pool.run(mib, 0, async () => {
        concurrent++;
        peak = Math.max(peak, pool.inUse);
        peakConcurrent = Math.max(peakConcurrent, concurrent);
        await new Promise((resolve) => setTimeout(resolve, 10));
        concurrent--;
      });
    await Promise.all([task(600), task(300), task(600), task(100), task(2000)]);
    expect(peak).toBeLessThanOrEqual(1000);
    expect(peakConcurrent).toBeGreaterThan(1);
    expect(pool.inUse).toBe(0);
  });

  for (const pool of [new SlotPool('net', 1), new MemoryPool('vm', 1)]) {
    it(`${pool.constructor.name} gives up waiting when the signal aborts`, async () => {
      const blocker = pool.run(1, 0, () => new Promise((resolve) => setTimeout(resolve, 50)));
      const controller = new AbortController();
      let ran = false;
      const waiting = pool.run(
        1,
        0,
        async () => {
          ran = true;
        },
        controller.signal,
      );
      controller.abort(new Error('stop'));
      await expect(waiting).rejects.toThrow('stop');
      await blocker;
      expect(ran).toBe(false);
    });
  }
});
