import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { isProcessAlive } from '../lib/cache/process-liveness.ts';
import { descendantsOf, isRunning } from './helpers/process-tree.ts';
import {
  REPO_ROOT,
  readEvents,
  runSynth,
  synthIn,
  testKindsHeader,
  writeProgram,
} from './helpers/temp-project.ts';

const RUN_BIN = path.join(REPO_ROOT, 'bin/fcos-run.js');

/** Waits until `condition` holds (polling), failing after `timeoutMs`. */
async function waitFor(condition: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

/** Events of a run directory, or none yet. */
async function eventsOf(outdir: string): Promise<Array<{ event: string; node?: string; key?: string }>> {
  const text = await readFile(path.join(outdir, 'events.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

/** Digests of every output in an outputs.json. */
async function outputDigests(outdir: string): Promise<Record<string, string>> {
  const outputs = JSON.parse(await readFile(path.join(outdir, 'outputs.json'), 'utf8'));
  const digests: Record<string, string> = {};
  for (const [node, named] of Object.entries<Record<string, { digest: string }>>(outputs)) {
    for (const [name, output] of Object.entries(named)) digests[`${node}.${name}`] = output.digest;
  }
  return digests;
}

describe('fcos-run as a process', () => {
  it('Ctrl-C kills every child process tree, exits 130, and the next run resumes from the cache', async () => {
    const directory = await writeProgram('');
    const stateDir = path.join(directory, 'state');
    const program = `${await readFile(path.join(directory, 'app.ts'), 'utf8')}${testKindsHeader()}
const pipeline = new Pipeline({ name: 'interrupt' });
new TestStep(pipeline, 'Quick', { content: 'q' });
new TestStep(pipeline, 'Long', { content: 'l', sleepMs: 30000, spawnGrandchild: true, stateDir: ${JSON.stringify(stateDir)} });
`;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(directory, 'app.ts'), program);
    expect((await synthIn(directory)).code).toBe(0);
    const outdir = path.join(directory, 'fcos.out');
    const cache = path.join(directory, 'cache');
    const run = execa('node', [RUN_BIN, '--out', outdir, '--cache', cache, '--plain'], { reject: false });
    const pidFile = path.join(stateDir, 'Long.pids');
    await waitFor(
      async () => existsSync(pidFile) && (await eventsOf(outdir)).some((event) => event.event === 'finish'),
    );
    const pids = (await readFile(pidFile, 'utf8')).split(' ').map(Number);
    expect(pids.every(isProcessAlive)).toBe(true);
    const interruptedAt = Date.now();
    run.kill('SIGINT');
    const result = await run;
    expect(result.exitCode).toBe(130);
    expect(Date.now() - interruptedAt).toBeLessThan(10_000);
    expect(result.stderr).toContain('SIGINT: stopping running nodes');
    await waitFor(() => !pids.some(isProcessAlive), 5000);
    const events = await eventsOf(outdir);
    expect(events.at(-1)).toMatchObject({ event: 'run-finish', status: 'interrupted' });

    const { readdir } = await import('node:fs/promises');
    expect(await readdir(path.join(cache, 'work'))).toEqual([]);
    const resumed = await execa('node', [
      RUN_BIN,
      '--out',
      outdir,
      '--cache',
      cache,
      '--plain',
      '--only',
      'Quick',
    ]);
    expect(resumed.stdout).toContain('[cached] Quick');
  }, 60_000);

  it('kill -9 of fcos-run takes the tool it was running and all its children with it', async () => {
    const directory = await writeProgram('');
    const stateDir = path.join(directory, 'state');
    const program = `${await readFile(path.join(directory, 'app.ts'), 'utf8')}${testKindsHeader()}
const pipeline = new Pipeline({ name: 'killed' });
new TestStep(pipeline, 'Long', { content: 'l', sleepMs: 30000, spawnGrandchild: true, stateDir: ${JSON.stringify(stateDir)} });
`;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(directory, 'app.ts'), program);
    expect((await synthIn(directory)).code).toBe(0);
    const cache = path.join(directory, 'cache');
    const run = execa('node', [RUN_BIN, '--cache', cache, '--plain'], { cwd: directory, reject: false });
    const pidFile = path.join(stateDir, 'Long.pids');
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').includes(' '));
    const [tool, grandchild] = readFileSync(pidFile, 'utf8').split(' ').map(Number);
    // Every process of the run: the tool (under setpriv's pid), its grandchild `sleep 300` (in the
    // tool's process group, no parent-death signal of its own), and the reaper.
    const processes = descendantsOf(run.pid!);
    expect(processes).toEqual(expect.arrayContaining([tool, grandchild]));
    expect(processes.length).toBeGreaterThanOrEqual(3);
    expect(processes.every(isRunning)).toBe(true);
    const killedAt = Date.now();
    run.kill('SIGKILL');
    await run;
    try {
      await waitFor(() => !processes.some(isRunning), 5000);
    } finally {
      for (const pid of processes.filter(isRunning)) process.kill(pid, 'SIGKILL');
    }
    expect(Date.now() - killedAt).toBeLessThan(5000);
  }, 60_000);

  it('kill -9 midway, then a rerun, completes with outputs identical to an uninterrupted run', async () => {
    const body = `${testKindsHeader()}
const pipeline = new Pipeline({ name: 'crash' });
const a = new TestStep(pipeline, 'A', { content: 'a' });
const b = new TestStep(pipeline, 'B', { content: 'b', sleepMs: 300, inputs: [a.output] });
const c = new TestStep(pipeline, 'C', { content: 'c', sleepMs: 2500, inputs: [b.output] });
new TestStep(pipeline, 'D', { content: 'd', inputs: [c.output, a.output] });
`;
    const crashed = await writeProgram(body);
    const reference = await writeProgram(body);
    for (const directory of [crashed, reference]) expect((await synthIn(directory)).code).toBe(0);
    const outdir = path.join(crashed, 'fcos.out');
    const cache = path.join(crashed, 'cache');
    const run = execa('node', [RUN_BIN, '--out', outdir, '--cache', cache, '--plain'], {
      reject: false,
      detached: true,
    });
    await waitFor(async () =>
      (await eventsOf(outdir)).some((event) => event.event === 'start' && event.node === 'C'),
    );
    process.kill(-run.pid!, 'SIGKILL');
    const killed = await run;
    expect(killed.signal).toBe('SIGKILL');

    const rerun = await execa('node', [RUN_BIN, '--out', outdir, '--cache', cache, '--plain'], {
      reject: false,
    });
    expect(rerun.exitCode).toBe(0);
    expect(rerun.stdout).toContain('[cached] A');
    expect(rerun.stdout).toContain('[cached] B');
    expect(rerun.stdout).toContain('[done');
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(path.join(cache, 'work'))).toEqual([]);
    const clean = await execa(
      'node',
      [
        RUN_BIN,
        '--out',
        path.join(reference, 'fcos.out'),
        '--cache',
        path.join(reference, 'cache'),
        '--plain',
      ],
      { reject: false },
    );
    expect(clean.exitCode).toBe(0);
    expect(await outputDigests(outdir)).toEqual(await outputDigests(path.join(reference, 'fcos.out')));
    expect(await readFile(path.join(outdir, 'artifacts/D/output.txt'), 'utf8')).toBe('dcba' + 'a');
  }, 60_000);

  it('two runs on one cache at once both succeed and build each action once', async () => {
    const directory = await writeProgram(`${testKindsHeader()}
const pipeline = new Pipeline({ name: 'shared' });
const a = new TestStep(pipeline, 'A', { content: 'a', sleepMs: 400 });
const b = new TestStep(pipeline, 'B', { content: 'b', sleepMs: 400 });
new TestStep(pipeline, 'C', { content: 'c', sleepMs: 200, inputs: [a.output, b.output] });
`);
    const outdirs = [path.join(directory, 'out1'), path.join(directory, 'out2')];
    for (const outdir of outdirs) {
      expect((await runSynth(['--app', path.join(directory, 'app.ts'), '--out', outdir, '-q'])).code).toBe(0);
    }
    const cache = path.join(directory, 'cache');
    const runs = await Promise.all(
      outdirs.map((outdir) =>
        execa('node', [RUN_BIN, '--out', outdir, '--cache', cache, '--plain'], { reject: false }),
      ),
    );
    for (const run of runs) expect(run.exitCode).toBe(0);
    const events = (await Promise.all(outdirs.map((outdir) => eventsOf(outdir)))).flat();
    const finishes = events.filter((event) => event.event === 'finish');
    expect(finishes.map((event) => event.node).sort()).toEqual(['A', 'B', 'C']);
    expect(new Set(finishes.map((event) => event.key)).size).toBe(3);
    expect(events.filter((event) => event.event === 'cached')).toHaveLength(3);
    expect(await outputDigests(outdirs[0]!)).toEqual(await outputDigests(outdirs[1]!));
  }, 60_000);
});

describe('fcos-run cache', () => {
  it('ls, verify and gc --max-size (least recently used first)', async () => {
    const directory = await writeProgram(`${testKindsHeader()}
const pipeline = new Pipeline({ name: 'gc' });
new TestStep(pipeline, 'Old', { content: 'o'.repeat(3000) });
new TestStep(pipeline, 'New', { content: 'n'.repeat(3000) });
`);
    expect((await synthIn(directory)).code).toBe(0);
    const cache = path.join(directory, 'cache');
    const outdir = path.join(directory, 'fcos.out');
    await execa('node', [RUN_BIN, '--out', outdir, '--cache', cache, '--only', 'Old']);
    await sleep(20);
    await execa('node', [RUN_BIN, '--out', outdir, '--cache', cache, '--only', 'New']);
    const list = await execa('node', [RUN_BIN, 'cache', 'ls', '--cache', cache]);
    expect(list.stdout).toMatch(/TestStep\s+New[\s\S]*TestStep\s+Old/);
    expect(list.stdout).toContain('2 action records');
    const verify = await execa('node', [RUN_BIN, 'cache', 'verify', '--cache', cache]);
    expect(verify.stdout).toMatch(/\d+ blobs checked, 0 corrupt/);
    const gc = await execa('node', [RUN_BIN, 'cache', 'gc', '--max-size', '5K', '--cache', cache]);
    expect(gc.stdout).toMatch(/removed 1 records/);
    const after = await execa('node', [RUN_BIN, 'cache', 'ls', '--cache', cache]);
    expect(after.stdout).toContain('New');
    expect(after.stdout).not.toContain('Old');
    const rerun = await execa('node', [RUN_BIN, '--out', outdir, '--cache', cache, '--plain']);
    expect(rerun.stdout).toContain('[cached] New');
    expect(rerun.stdout).toContain('[done');
    const events = await readEvents(directory);
    expect(events.filter((event) => event.event === 'finish').map((event) => event.node)).toEqual(['Old']);
    const usage = await execa('node', [RUN_BIN, 'cache', 'gc', '--cache', cache], { reject: false });
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toContain('cache gc needs --max-size SIZE');
  }, 60_000);
});
