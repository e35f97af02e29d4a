import { existsSync } from 'node:fs';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  nodesWith,
  REPO_ROOT,
  readEvents,
  runIn,
  synthIn,
  testKindsHeader,
  writeProgram,
} from './helpers/temp-project.ts';

/** Writes and synthesizes a program using TestStep; returns its directory. */
async function project(body: string): Promise<string> {
  const directory = await writeProgram(`${testKindsHeader()}${body}`);
  const synth = await synthIn(directory);
  expect(synth.stderr).toBe('');
  return directory;
}

/** Rewrites the program and synthesizes again (same directory, same cache). */
async function resynth(directory: string, body: string): Promise<void> {
  const original = await readFile(path.join(directory, 'app.ts'), 'utf8');
  const header = original.slice(0, original.indexOf('\nconst pipeline'));
  await writeFile(path.join(directory, 'app.ts'), `${header}\n${body}\n`);
  const synth = await synthIn(directory);
  expect(synth.stderr).toBe('');
}

/** A diamond: A and B independent, C needs both, D needs C; E is independent of everything. */
const diamond = (content = 'a', sleepMs = 600) => `
const pipeline = new Pipeline({ name: 'diamond' });
const a = new TestStep(pipeline, 'A', { content: '${content}', sleepMs: ${sleepMs} });
const b = new TestStep(pipeline, 'B', { content: 'b', sleepMs: ${sleepMs} });
const c = new TestStep(pipeline, 'C', { content: 'c', inputs: [a.output, b.output] });
new TestStep(pipeline, 'D', { content: 'd', inputs: [c.output] });
new TestStep(pipeline, 'E', { content: 'e' });
`;

describe('fcos-run', () => {
  it('overlaps independent nodes, then serves everything from the cache', async () => {
    const directory = await project(diamond());
    const first = await runIn(directory, '--cpu', '2');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const events = await readEvents(directory);
    const interval = (node: string) => {
      const finish = events.find((event) => event.event === 'finish' && event.node === node)!;
      return { start: Date.parse(String(finish.startedAt)), end: Date.parse(String(finish.time)) };
    };
    const a = interval('A');
    const b = interval('B');
    expect(a.start).toBeLessThan(b.end);
    expect(b.start).toBeLessThan(a.end);
    expect(interval('C').start).toBeGreaterThanOrEqual(Math.max(a.end, b.end));
    expect(await readFile(path.join(directory, 'fcos.out/artifacts/D/output.txt'), 'utf8')).toBe('dcab');
    const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
    expect(outputs.D.output).toMatchObject({
      type: 'blob',
      storage: 'file',
      size: 4,
      path: 'artifacts/D/output.txt',
    });
    expect(first.stdout).toMatch(/fcos-run: ok in .*: 5 built, 0 cached, 0 failed, 0 skipped/);
    expect(first.stdout).toMatch(/critical path .*: (A|B) -> C -> D/);
    await expect(readFile(path.join(directory, 'fcos.out/logs/C.log'), 'utf8')).resolves.toContain(
      'test step working',
    );

    const second = await runIn(directory);
    expect(second.code).toBe(0);
    const cachedEvents = await readEvents(directory);
    expect(nodesWith(cachedEvents, 'start')).toEqual([]);
    expect(nodesWith(cachedEvents, 'cached')).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(second.stdout).toContain('0 built, 5 cached');
    expect(JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'))).toEqual(
      outputs,
    );
    await expect(readFile(path.join(directory, 'fcos.out/logs/C.log'), 'utf8')).resolves.toContain(
      'test step working',
    );
  });

  it('reruns exactly the changed node and what is downstream of it, and explains why in --dry-run', async () => {
    const directory = await project(diamond('a', 0));
    expect((await runIn(directory)).code).toBe(0);
    await resynth(directory, diamond('a2', 0));

    const plan = await runIn(directory, '--dry-run');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain("[would run] A: prop 'content' changed");
    expect(plan.stdout).toContain('[would run] C: an input will be rebuilt');
    expect(plan.stdout).toContain('[cached] B');
    expect(plan.stdout).toContain('[cached] E');
    expect(plan.stdout).toContain('fcos-run --dry-run: 3 to run, 2 cached');
    expect(nodesWith(await readEvents(directory), 'start')).toEqual([]);

    const rerun = await runIn(directory);
    expect(rerun.code).toBe(0);
    const events = await readEvents(directory);
    expect(nodesWith(events, 'start')).toEqual(['A', 'C', 'D']);
    expect(nodesWith(events, 'cached')).toEqual(['B', 'E']);
    expect(await readFile(path.join(directory, 'fcos.out/artifacts/D/output.txt'), 'utf8')).toBe('dca2b');
  });

  it('explains an input change in --dry-run once the producer is cached', async () => {
    const directory = await project(diamond('a', 0));
    expect((await runIn(directory)).code).toBe(0);
    await resynth(directory, diamond('a2', 0));
    expect((await runIn(directory, '--only', 'A')).code).toBe(0);
    const plan = await runIn(directory, '--dry-run');
    expect(plan.stdout).toMatch(
      /\[would run\] C: input 'inputs\.0' changed \([0-9a-f]{12} -> [0-9a-f]{12}\)/,
    );
    expect(plan.stdout).toContain('[cached] A');
  });

  it('--only runs the matching nodes and what they need; --force ignores the cache', async () => {
    const directory = await project(diamond('a', 0));
    const only = await runIn(directory, '--only', 'C');
    expect(only.code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'start')).toEqual(['A', 'B', 'C']);

    const forced = await runIn(directory, '--force', 'B', '--force', 'E');
    expect(forced.code).toBe(0);
    const events = await readEvents(directory);
    expect(nodesWith(events, 'start')).toEqual(['B', 'D', 'E']);
    expect(nodesWith(events, 'cached')).toEqual(['A', 'C']);

    const none = await runIn(directory, '--only', 'nothing/**');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--only nothing/** matches no node');
  });

  it('a runner whose fingerprint changes when it runs is keyed again after the run: the next run is a hit', async () => {
    const markerKinds = pathToFileURL(path.join(REPO_ROOT, 'test/kinds/marker-step.ts')).href;
    const directory = await project(`import { MarkerStep } from '${markerKinds}';
const pipeline = new Pipeline({ name: 'markers' });
new MarkerStep(pipeline, 'Flagged', { marker: 'flagged.marker', content: 'f' });
new MarkerStep(pipeline, 'Unflagged', { marker: 'unflagged.marker', content: 'u', fingerprintChangesWhenRun: false });
`);
    const fingerprints = async (marker: string) =>
      (await readFile(path.join(directory, `${marker}.fingerprints`), 'utf8')).trim().split('\n');

    const first = await runIn(directory);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(nodesWith(await readEvents(directory), 'finish')).toEqual(['Flagged', 'Unflagged']);
    // Only the flagged runner's fingerprint is taken again, after its run.
    expect(await fingerprints('flagged.marker')).toEqual(['absent', 'present']);
    expect(await fingerprints('unflagged.marker')).toEqual(['absent']);

    const second = await runIn(directory);
    expect(second.code).toBe(0);
    let events = await readEvents(directory);
    expect(nodesWith(events, 'cached')).toEqual(['Flagged']);
    expect(nodesWith(events, 'finish')).toEqual(['Unflagged']);
    expect(await readFile(path.join(directory, 'fcos.out/artifacts/Flagged/output.txt'), 'utf8')).toBe('f');

    // The unflagged node's second run was keyed by the marker it finds: from now on it is a hit too.
    expect((await runIn(directory)).code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'cached')).toEqual(['Flagged', 'Unflagged']);

    // The effect undone (the image deleted in the cloud): the fingerprint is fresh and the node runs.
    await rm(path.join(directory, 'flagged.marker'));
    expect((await runIn(directory)).code).toBe(0);
    events = await readEvents(directory);
    expect(nodesWith(events, 'finish')).toEqual(['Flagged']);
    expect(existsSync(path.join(directory, 'flagged.marker'))).toBe(true);
    expect((await runIn(directory)).code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'cached')).toEqual(['Flagged', 'Unflagged']);
  });

  it('a fingerprint that throws after the run does not fail the node', async () => {
    const markerKinds = pathToFileURL(path.join(REPO_ROOT, 'test/kinds/marker-step.ts')).href;
    const directory = await project(`import { MarkerStep } from '${markerKinds}';
const pipeline = new Pipeline({ name: 'markers' });
new MarkerStep(pipeline, 'Unreachable', { marker: 'unreachable.marker', content: 'x', throwWhenMarked: true });
`);
    const run = await runIn(directory);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const events = await readEvents(directory);
    expect(nodesWith(events, 'finish')).toEqual(['Unreachable']);
    expect(nodesWith(events, 'fail')).toEqual([]);
    expect(
      (await readFile(path.join(directory, 'unreachable.marker.fingerprints'), 'utf8')).trim().split('\n'),
    ).toEqual(['absent', 'threw']);
    expect(await readFile(path.join(directory, 'fcos.out/artifacts/Unreachable/output.txt'), 'utf8')).toBe(
      'x',
    );
  });

  it('detects a corrupted cache object, evicts it and rebuilds the node', async () => {
    const directory = await project(diamond('a', 0));
    expect((await runIn(directory)).code).toBe(0);
    const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
    const digest: string = outputs.E.output.digest;
    const blob = path.join(directory, 'cache/blobs/sha256', digest.slice(0, 2), digest);
    await chmod(blob, 0o644);
    await writeFile(blob, 'X');
    const rerun = await runIn(directory);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain(
      "[warning] E: cached output 'output' of E was corrupted (evicted); rebuilding",
    );
    const events = await readEvents(directory);
    expect(nodesWith(events, 'start')).toEqual(['E']);
    expect(await readFile(blob, 'utf8')).toBe('e');
    expect(await readFile(path.join(directory, 'fcos.out/artifacts/E/output.txt'), 'utf8')).toBe('e');
  });

  it('fail-fast stops starting nodes; --keep-going runs all that does not depend on the failure', async () => {
    const body = `
const pipeline = new Pipeline({ name: 'failing' });
const bad = new TestStep(pipeline, 'Bad', { content: 'x', fail: true });
new TestStep(pipeline, 'AfterBad', { content: 'y', inputs: [bad.output] });
const slow = new TestStep(pipeline, 'Slow', { content: 's', sleepMs: 800 });
new TestStep(pipeline, 'AfterSlow', { content: 't', inputs: [slow.output] });
`;
    const directory = await project(body);
    const failFast = await runIn(directory, '--cpu', '2');
    expect(failFast.code).toBe(1);
    let events = await readEvents(directory);
    expect(nodesWith(events, 'fail')).toEqual(['Bad']);
    expect(nodesWith(events, 'finish')).toEqual(['Slow']);
    expect(nodesWith(events, 'skip')).toEqual(['AfterBad', 'AfterSlow']);
    expect(failFast.stdout).toContain('test step failing on purpose');
    expect(failFast.stdout).toMatch(/failed: Bad: .* exited with code 3/);
    await expect(readFile(path.join(directory, 'fcos.out/logs/Bad.log'), 'utf8')).resolves.toContain(
      'FAILED',
    );
    // The error's class is shown where a reader looks for the cause: the node's log and its event.
    await expect(readFile(path.join(directory, 'fcos.out/logs/Bad.log'), 'utf8')).resolves.toMatch(
      /^FAILED \(ToolError\): .* exited with code 3/m,
    );
    expect(events.find((event) => event.event === 'fail')?.errorName).toBe('ToolError');

    const keepGoing = await runIn(directory, '--cpu', '2', '--keep-going');
    expect(keepGoing.code).toBe(1);
    events = await readEvents(directory);
    expect(nodesWith(events, 'finish')).toEqual(['AfterSlow']);
    expect(nodesWith(events, 'cached')).toEqual(['Slow']);
    expect(nodesWith(events, 'skip')).toEqual(['AfterBad']);
  });

  it('retries a retryable node --retries times', async () => {
    const directory = await writeProgram('');
    const stateDir = path.join(directory, 'state');
    const body = `
const pipeline = new Pipeline({ name: 'flaky' });
new TestStep(pipeline, 'Flaky', { content: 'f', failAttempts: 2, stateDir: ${JSON.stringify(stateDir)} });
`;
    await resynthFrom(directory, body);
    const once = await runIn(directory, '--retries', '1');
    expect(once.code).toBe(1);
    expect(
      (await readEvents(directory)).filter((event) => event.event === 'fail').map((event) => event.willRetry),
    ).toEqual([true, false]);
    await writeFile(path.join(stateDir, 'Flaky.attempts'), '0');
    const thrice = await runIn(directory, '--retries', '2');
    expect(thrice.code).toBe(0);
    const events = await readEvents(directory);
    expect(events.filter((event) => event.event === 'start').map((event) => event.attempt)).toEqual([
      1, 2, 3,
    ]);
    expect(thrice.stdout).toContain('[start] Flaky (attempt 3)');
  });

  it('enforces a per-node timeout', async () => {
    const directory = await project(`
const pipeline = new Pipeline({ name: 'slow' });
new TestStep(pipeline, 'Sleepy', { content: 'z', sleepMs: 20000 });
`);
    const started = Date.now();
    const run = await runIn(directory, '--timeout', '1');
    expect(run.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(run.stdout).toContain('[FAILED] Sleepy: timed out after 1 s');
  });

  it('-j limits nodes running at once; the vm memory budget limits VM nodes', async () => {
    const overlaps = async (directory: string, ...options: string[]) => {
      expect((await runIn(directory, '--force', '**', ...options)).code).toBe(0);
      const events = await readEvents(directory);
      const spans = events
        .filter((event) => event.event === 'finish')
        .map((event) => ({
          start: Date.parse(String(event.startedAt)),
          end: Date.parse(String(event.time)),
        }));
      expect(spans).toHaveLength(2);
      return spans[0]!.start < spans[1]!.end && spans[1]!.start < spans[0]!.end;
    };
    const cpu = await project(`
const pipeline = new Pipeline({ name: 'jobs' });
new TestStep(pipeline, 'One', { content: '1', sleepMs: 500 });
new TestStep(pipeline, 'Two', { content: '2', sleepMs: 500 });
`);
    expect(await overlaps(cpu, '--cpu', '2')).toBe(true);
    expect(await overlaps(cpu, '--cpu', '2', '--jobs', '1')).toBe(false);
    const vm = await project(`
const pipeline = new Pipeline({ name: 'vms' });
new TestStep(pipeline, 'VmOne', { content: '1', sleepMs: 500, resourceClass: 'vm', memoryMiB: 600 });
new TestStep(pipeline, 'VmTwo', { content: '2', sleepMs: 500, resourceClass: 'vm', memoryMiB: 600 });
`);
    expect(await overlaps(vm, '--vm-memory', '1000')).toBe(false);
    expect(await overlaps(vm, '--vm-memory', '1200')).toBe(true);
  });

  it('runs a kind defined in the project itself, found through the module synthesis recorded', async () => {
    const directory = await writeProgram(
      `import { Kind } from './my-kind.ts';
const pipeline = new Pipeline({ name: 'custom' });
new Kind(pipeline, 'Mine', { word: 'hello' });`,
      {
        'my-kind.ts': `
import { z } from 'zod';
import { Step, defineKind } from 'fcos-cdk';
export const myKind = defineKind({ kind: 'MyKind', version: 3, schema: z.object({ word: z.string() }), runner: new URL('./my-runner.ts', import.meta.url) });
export class Kind extends Step {
  constructor(scope, id, props) { super(scope, id, myKind, props); this.out = this.addOutput('out', 'blob', {}); }
}
`,
        'my-runner.ts': `
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defineRunner } from 'fcos-cdk';
import { myKind } from './my-kind.ts';
export default defineRunner(myKind, { async run(context) {
  const file = path.join(context.workDir, 'word.txt');
  await writeFile(file, context.props.word.toUpperCase());
  return { out: { storage: 'file', path: file } };
} });
`,
      },
    );
    expect((await synthIn(directory)).code).toBe(0);
    const assembly = JSON.parse(await readFile(path.join(directory, 'fcos.out/pipeline.json'), 'utf8'));
    expect(assembly.nodes.Mine.runner).toBe('./my-runner.ts');
    const run = await runIn(directory);
    expect(run.code).toBe(0);
    expect(await readFile(path.join(directory, 'fcos.out/artifacts/Mine/word.txt'), 'utf8')).toBe('HELLO');
  });

  it('--update-lockfiles calls the hook of every built or cached node whose runner has one, with its props, inputs and published outputs', async () => {
    const library = pathToFileURL(path.join(REPO_ROOT, 'lib/index.ts')).href;
    const directory = await writeProgram(
      `${testKindsHeader()}import { Locker } from './locker.ts';
const pipeline = new Pipeline({ name: 'locking' });
const source = new TestStep(pipeline, 'Source', { content: 'abc' });
new Locker(pipeline, 'One', { name: 'one', source: source.output });`,
      {
        'locker.ts': `
import { z } from 'zod';
import { Step, artifactSchema, defineKind } from '${library}';
export const lockerKind = defineKind({ kind: 'Locker', version: 1, schema: z.object({ name: z.string(), source: artifactSchema('blob') }), runner: new URL('./locker-runner.ts', import.meta.url) });
export class Locker extends Step {
  constructor(scope, id, props) { super(scope, id, lockerKind, props); this.out = this.addOutput('out', 'blob', {}); }
}
`,
        'locker-runner.ts': `
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defineRunner, requireInput } from '${library}';
import { lockerKind } from './locker.ts';
export default defineRunner(lockerKind, {
  async run(context) {
    const file = path.join(context.workDir, 'resolved.txt');
    await writeFile(file, (await readFile(requireInput(context, context.props.source).path, 'utf8')).toUpperCase());
    return { out: { storage: 'file', path: file, metadata: { count: 2 } } };
  },
  async updateLockfiles(context) {
    const file = path.join(context.projectDir, 'locks', context.props.name + '.lock');
    await mkdir(path.dirname(file), { recursive: true });
    const out = context.outputs.out;
    const input = requireInput(context, context.props.source);
    await writeFile(file, JSON.stringify({ input: input.digest, path: out.path, resolved: await readFile(out.path, 'utf8') }));
    return [{ file, packages: out.metadata.count }];
  },
});
`,
      },
    );
    expect((await synthIn(directory)).stderr).toBe('');
    const lockfile = path.join(directory, 'locks/one.lock');
    const lockfileLines = (stdout: string) => stdout.split('\n').filter((line) => line.includes('lockfile:'));

    const plain = await runIn(directory);
    expect(plain.code).toBe(0);
    expect(lockfileLines(plain.stdout)).toEqual([]);
    expect(existsSync(lockfile)).toBe(false);

    const built = await runIn(directory, '--update-lockfiles');
    expect(built.code).toBe(0);
    expect(lockfileLines(built.stdout)).toHaveLength(1);
    expect(built.stdout).toMatch(/^ {2}lockfile: \S*locks\/one\.lock \(2 packages, One\)$/m);
    const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
    expect(JSON.parse(await readFile(lockfile, 'utf8'))).toEqual({
      input: outputs.Source.output.digest,
      path: path.join(directory, 'fcos.out/artifacts/One/resolved.txt'),
      resolved: 'ABC',
    });

    await rm(lockfile);
    const dryRun = await runIn(directory, '--update-lockfiles', '--dry-run');
    expect(dryRun.code).toBe(0);
    expect(lockfileLines(dryRun.stdout)).toEqual([]);
    expect(existsSync(lockfile)).toBe(false);

    const cached = await runIn(directory, '--update-lockfiles');
    expect(cached.stdout).toContain('0 built, 2 cached');
    expect(cached.stdout).toMatch(/lockfile: \S*locks\/one\.lock \(2 packages, One\)/);
    expect(existsSync(lockfile)).toBe(true);
  });

  it('-j 0 and --timeout 0 are usage errors (exit 2) and nothing runs', async () => {
    const directory = await project(diamond('a', 0));
    for (const [option, value, name] of [
      ['-j', '0', '--jobs'],
      ['--jobs', '0', '--jobs'],
      ['--timeout', '0', '--timeout'],
    ] as const) {
      const run = await runIn(directory, option, value);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`fcos-run: ${name} takes a whole number of at least 1, not '0'`);
    }
    expect(existsSync(path.join(directory, 'fcos.out/events.jsonl'))).toBe(false);
    expect((await runIn(directory, '--retries', '0', '-j', '1', '--timeout', '60')).code).toBe(0);
  });

  it('refuses, before running anything, a kind whose runner module exports no runner, naming the node and kind', async () => {
    const directory = await project(`
const pipeline = new Pipeline({ name: 'norunner' });
new OrphanStep(pipeline, 'Orphan');
new TestStep(pipeline, 'Fine', { content: 'x' });
`);
    const run = await runIn(directory);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /fcos-cdk\/test\/kinds\/not-a-runner does not export a runner: its default export must be defineRunner\(OrphanStepKind, \{ run \}\)/,
    );
    expect(run.stderr).toMatch(/'Orphan'/);
    expect(existsSync(path.join(directory, 'fcos.out/artifacts/Fine'))).toBe(false);
  });

  it('refuses a pipeline.json older than the program', async () => {
    const directory = await project(diamond('a', 0));
    const later = new Date(Date.now() + 5000);
    const { utimes } = await import('node:fs/promises');
    await utimes(path.join(directory, 'app.ts'), later, later);
    const run = await runIn(directory);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/pipeline\.json is older than .*app\.ts: run fcos-synth first/);
  });

  it('says to run fcos-synth when pipeline.json is missing', async () => {
    const directory = await writeProgram('');
    const run = await runIn(directory);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/pipeline\.json does not exist: run fcos-synth first/);
  });
});

/** Writes a body into an existing temporary project and synthesizes it. */
async function resynthFrom(directory: string, body: string): Promise<void> {
  const original = await readFile(path.join(directory, 'app.ts'), 'utf8');
  await writeFile(path.join(directory, 'app.ts'), `${original}${testKindsHeader()}${body}\n`);
  const synth = await synthIn(directory);
  expect(synth.stderr).toBe('');
}
