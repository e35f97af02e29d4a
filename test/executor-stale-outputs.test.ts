/**
 * A node that fails leaves nothing of an earlier run under `fcos.out/artifacts/<node>/`: what is
 * there is exactly what outputs.json lists, so CI archiving a report never publishes a stale pass.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { main as runMain } from '../lib/cli/run.ts';
import {
  captureIo,
  programHeader,
  readEvents,
  runIn,
  synthIn,
  testKindsHeader,
  writeProgram,
} from './helpers/temp-project.ts';

/** The program: a Report node (failing, or slow, or not) with a node nested under it, and a sibling. */
function program(failReport: boolean, sleepMs = 0): string {
  return `${testKindsHeader()}
const pipeline = new Pipeline({ name: 'stale' });
const report = new TestStep(pipeline, 'Report', { content: 'pass', fail: ${failReport}, sleepMs: ${sleepMs} });
new TestStep(report, 'Inner', { content: 'inner' });
new TestStep(pipeline, 'Other', { content: 'other' });
`;
}

describe('a failed node and its published outputs', () => {
  it('removes what an earlier run published for it, keeping nested nodes and other nodes', async () => {
    const directory = await writeProgram(program(false));
    const outdir = path.join(directory, 'fcos.out');
    expect((await synthIn(directory)).code).toBe(0);
    expect((await runIn(directory)).code).toBe(0);
    const reportFile = path.join(outdir, 'artifacts/Report/output.txt');
    expect(await readFile(reportFile, 'utf8')).toBe('pass');

    await writeFile(path.join(directory, 'app.ts'), `${programHeader()}${program(true)}\n`);
    expect((await synthIn(directory)).code).toBe(0);
    const failed = await runIn(directory, '--keep-going');
    expect(failed.code).toBe(1);
    const outputs = JSON.parse(await readFile(path.join(outdir, 'outputs.json'), 'utf8'));
    expect(outputs.Report).toBeUndefined();
    expect(existsSync(reportFile)).toBe(false);
    // A nested node's directory lives inside the failed node's: it is not the failed node's output.
    expect(await readFile(path.join(outdir, 'artifacts/Report/Inner/output.txt'), 'utf8')).toBe('inner');
    expect(await readFile(path.join(outdir, 'artifacts/Other/output.txt'), 'utf8')).toBe('other');
    expect(Object.keys(outputs).sort()).toEqual(['Other', 'Report/Inner']);
  }, 60_000);

  it('removes them when the node is interrupted while it is being built again', async () => {
    const directory = await writeProgram(program(false));
    const outdir = path.join(directory, 'fcos.out');
    expect((await synthIn(directory)).code).toBe(0);
    expect((await runIn(directory)).code).toBe(0);
    const reportFile = path.join(outdir, 'artifacts/Report/output.txt');
    expect(existsSync(reportFile)).toBe(true);

    await writeFile(path.join(directory, 'app.ts'), `${programHeader()}${program(false, 30_000)}\n`);
    expect((await synthIn(directory)).code).toBe(0);
    const controller = new AbortController();
    const run = runMain(
      ['--out', outdir, '--cache', path.join(directory, 'cache'), '--plain'],
      captureIo(),
      controller.signal,
    );
    // Until this run has started Report (the file still holds the last run's events at first).
    const started = (events: Array<{ event: string; node?: string }>) =>
      events.some((event) => event.event === 'start' && event.node === 'Report') &&
      !events.some((event) => event.event === 'run-finish');
    while (!started(await readEvents(directory).catch(() => []))) await sleep(20);
    controller.abort(new Error('received SIGINT'));
    expect(await run).toBe(130);
    expect(existsSync(reportFile)).toBe(false);
  }, 60_000);
});
