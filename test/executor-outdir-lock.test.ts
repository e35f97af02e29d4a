/**
 * Two fcos-run processes in one project: the second waits for the first (saying so, with its
 * pid) instead of writing the same events.jsonl, outputs.json and artifacts/ at the same time.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, synthIn, testKindsHeader, writeProgram } from './helpers/temp-project.ts';

const RUN_BIN = path.join(REPO_ROOT, 'bin/fcos-run.js');

/** How long the first run's node works: the second run must not start within it. */
const WORK_MS = 1500;

/** Every line of events.jsonl, parsed (a torn line fails the parse). */
async function eventLines(outdir: string): Promise<Array<{ event: string; time: string; node?: string }>> {
  const text = await readFile(path.join(outdir, 'events.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

describe('two fcos-run processes in one output directory', () => {
  it('the second waits for the first, and each writes a whole events.jsonl of its own', async () => {
    const directory = await writeProgram(`${testKindsHeader()}
const pipeline = new Pipeline({ name: 'twice' });
const a = new TestStep(pipeline, 'A', { content: 'a', sleepMs: ${WORK_MS} });
new TestStep(pipeline, 'B', { content: 'b', sleepMs: 100, inputs: [a.output] });
`);
    expect((await synthIn(directory)).code).toBe(0);
    const outdir = path.join(directory, 'fcos.out');
    const args = [RUN_BIN, '--out', outdir, '--cache', path.join(directory, 'cache'), '--plain'];
    const first = execa('node', args, { reject: false });
    let firstEvents: Awaited<ReturnType<typeof eventLines>> = [];
    while (!firstEvents.some((event) => event.event === 'start')) {
      await sleep(20);
      firstEvents = await eventLines(outdir);
    }
    const second = execa('node', args, { reject: false });
    const [firstResult, secondResult] = await Promise.all([first, second]);
    expect(firstResult.exitCode).toBe(0);
    expect(secondResult.exitCode).toBe(0);
    expect(secondResult.stderr).toContain(`waiting for the other fcos-run in`);
    expect(secondResult.stderr).toContain(`(pid ${first.pid})`);
    expect(firstResult.stdout).toContain('fcos-run: ok in');
    expect(secondResult.stdout).toContain('fcos-run: ok in');

    // The first run's events as it wrote them, then the second's whole file: two pairs, in order.
    const firstStart = firstEvents[0]!;
    expect(firstStart.event).toBe('run-start');
    const events = await eventLines(outdir);
    expect(events.map((event) => event.event)).toEqual(['run-start', 'cached', 'cached', 'run-finish']);
    // The second started only after the first had built A (which takes WORK_MS) and B.
    expect(Date.parse(events[0]!.time) - Date.parse(firstStart.time)).toBeGreaterThanOrEqual(WORK_MS);
    expect(secondResult.stdout).toContain('[cached] A');
  }, 60_000);
});
