/**
 * The torture test of issue #18: `kill -9` of fcos-run at a few points of a small pipeline (chain
 * and parallel nodes, files and a tree, a multi-MiB output written slowly by a tool with a
 * grandchild only SIGKILL stops), and after every kill: no process started by the killed run is
 * left after 5 s, `cache verify` finds nothing damaged, a rerun completes with the digests of an
 * uninterrupted run, and a further run is fully cached. Only fcos-run's own pid is killed (not its
 * process group), as when the OOM killer or a CI runner kills it.
 *
 * Bounded: five kill points per run and one trial of two concurrent runs on one cache, each
 * chosen from the reference run's events (after the Nth start, mid-write of the large output, in
 * the cache's blob link, in the action record's write, right after the Nth finish); N and the
 * chunk come from a seeded generator (FCOS_TORTURE_SEED, printed) so that a failure replays. The
 * moments inside the cache's writes are reached through test/helpers/torture-hook.mjs.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, synthIn, testKindsHeader, writeProgram } from './helpers/temp-project.ts';

const RUN_BIN = path.join(REPO_ROOT, 'bin/fcos-run.js');
const HOOK = path.join(REPO_ROOT, 'test/helpers/torture-hook.mjs');
const SEED = Number(process.env.FCOS_TORTURE_SEED ?? 18);
/** How long the processes of a killed run may outlive it (issue #18: "a few seconds"). */
const SURVIVAL_LIMIT_MS = 5000;
/** Chunks of the large output (1 MiB each). */
const BIG_CHUNKS = 8;

/** mulberry32: a small seeded generator, so that every kill point replays from the seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/**
 * A whole number in [low, high] for `trial`: each trial draws from its own generator (seeded from
 * SEED and its name), so that a trial run alone (vitest -t) replays its kill point.
 */
function pick(trial: string, low: number, high: number): number {
  let random = generators.get(trial);
  if (!random) {
    let seed = SEED;
    for (const character of trial) seed = Math.imul(seed ^ character.charCodeAt(0), 16777619) >>> 0;
    random = seededRandom(seed);
    generators.set(trial, random);
  }
  return low + Math.floor(random() * (high - low + 1));
}
const generators = new Map<string, () => number>();

/** The pipeline: A → B, Big (8 MiB, slowly) and B → Mixed → End, Repo (a tree) → Sums. */
const PROGRAM = `${testKindsHeader()}import { ChunkStep } from '${pathToFileURL(path.join(REPO_ROOT, 'test/kinds/chunk-step.ts')).href}';
import { TreeStep } from '${pathToFileURL(path.join(REPO_ROOT, 'test/kinds/tree-step.ts')).href}';
const pipeline = new Pipeline({ name: 'torture' });
const a = new TestStep(pipeline, 'A', { content: 'a', sleepMs: 150 });
const big = new ChunkStep(pipeline, 'Big', { seed: 'big', chunks: ${BIG_CHUNKS}, delayMs: 60, grandchild: true });
const repo = new TreeStep(pipeline, 'Repo', {
  files: { 'Packages/a-1.0.noarch.rpm': 'a'.repeat(5000), 'Packages/b-1.0.noarch.rpm': 'b'.repeat(7000), 'repodata/repomd.xml': '<repomd/>' },
});
new TreeStep(pipeline, 'Sums', { files: { 'README': 'checksums of Repo' }, input: repo.repo });
const b = new TestStep(pipeline, 'B', { content: 'b', sleepMs: 100, inputs: [a.output] });
const mixed = new ChunkStep(pipeline, 'Mixed', { seed: 'mixed', chunks: 4, delayMs: 40, grandchild: true, inputs: [big.output, b.output] });
new ChunkStep(pipeline, 'End', { seed: 'end', chunks: 1, chunkKiB: 4, inputs: [mixed.output, a.output] });
`;
const NODES = ['A', 'B', 'Big', 'End', 'Mixed', 'Repo', 'Sums'];

/** Events of a run directory so far (a torn last line, being written, is left out). */
function eventsOf(outdir: string): Array<{ event: string; node?: string }> {
  let text: string;
  try {
    text = readFileSync(path.join(outdir, 'events.jsonl'), 'utf8');
  } catch {
    return [];
  }
  const events: Array<{ event: string; node?: string }> = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      events.push(JSON.parse(line));
    } catch {
      // The line being written.
    }
  }
  return events;
}

/** How many events of `kind` a run directory has so far. */
function countEvents(outdir: string, ...kinds: string[]): number {
  return eventsOf(outdir).filter((event) => kinds.includes(event.event)).length;
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

/** A process that still runs (not a zombie), with its command line. */
interface LiveProcess {
  readonly pid: number;
  readonly command: string;
}

/** Processes whose environment holds FCOS_TORTURE_ID=`id`: every process a run started, however it was started. */
function processesMarked(id: string): LiveProcess[] {
  const marker = `\0FCOS_TORTURE_ID=${id}\0`;
  const found: LiveProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!`\0${readFileSync(`/proc/${entry}/environ`, 'latin1')}`.includes(marker)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      found.push({ pid: Number(entry), command });
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/**
 * Waits up to SURVIVAL_LIMIT_MS for every process marked `id` to end (the run is over: killed or
 * finished); fails naming those left
 * (and kills them, so that a failure leaves nothing behind either).
 */
async function expectNoSurvivors(id: string, trial: string): Promise<void> {
  const deadline = Date.now() + SURVIVAL_LIMIT_MS;
  let left = processesMarked(id);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    left = processesMarked(id);
  }
  for (const survivor of left) {
    try {
      process.kill(survivor.pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  expect(
    left.map((survivor) => `${survivor.pid} ${survivor.command}`),
    `${trial}: processes of the run alive ${SURVIVAL_LIMIT_MS / 1000} s after it ended`,
  ).toEqual([]);
}

/** Options of one fcos-run process. */
interface RunOptions {
  /** FCOS_TORTURE_ID of its processes. */
  readonly id: string;
  /** More environment: the hook's settings. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Starts fcos-run (under the hook) on `outdir` with `cache`, in the project directory. */
function startRun(project: string, outdir: string, cache: string, options: RunOptions) {
  return execa(
    'node',
    ['--import', HOOK, RUN_BIN, '--out', outdir, '--cache', cache, '--plain', '--cpu', '3'],
    { cwd: project, reject: false, env: { FCOS_TORTURE_ID: options.id, ...options.env } },
  );
}

/** A running fcos-run, as {@link startRun} started it. */
type RunProcess = ReturnType<typeof startRun>;

/**
 * Polls `condition` every 10 ms until it holds; fails if `run` ends first (the kill point was never
 * reached, so the trial would prove nothing).
 */
async function whenReached(run: RunProcess, condition: () => boolean, what: string): Promise<void> {
  let ended = false;
  void run.finally(() => {
    ended = true;
  });
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (ended) {
      const result = await run;
      throw new Error(`the run ended (${result.exitCode}) before ${what}:\n${result.stdout}${result.stderr}`);
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached in 30 s`);
    await sleep(10);
  }
}

/** A fresh output directory for a trial, holding the project's pipeline.json (beside fcos.out, so its project path holds). */
async function trialOutdir(project: string, name: string): Promise<string> {
  const outdir = path.join(project, `out-${name}`);
  await mkdir(outdir, { recursive: true });
  await copyFile(path.join(project, 'fcos.out/pipeline.json'), path.join(outdir, 'pipeline.json'));
  return outdir;
}

/** What the reference run gave. */
interface Reference {
  readonly project: string;
  readonly digests: Record<string, string>;
  readonly blobLinks: number;
  readonly recordWrites: number;
}

let reference: Reference;

beforeAll(async () => {
  console.log(`torture seed ${SEED} (set FCOS_TORTURE_SEED to replay another)`);
  const project = await writeProgram(PROGRAM);
  expect((await synthIn(project)).code).toBe(0);
  const outdir = await trialOutdir(project, 'reference');
  const countFile = path.join(project, 'reference-moments.txt');
  const run = await startRun(project, outdir, path.join(project, 'cache-reference'), {
    id: 'reference',
    env: { FCOS_TORTURE_COUNT_FILE: countFile },
  });
  expect(run.exitCode, run.stdout + run.stderr).toBe(0);
  const moments = readFileSync(countFile, 'utf8').trim().split('\n');
  const finishes = eventsOf(outdir)
    .filter((event) => event.event === 'finish')
    .map((event) => event.node);
  expect(finishes.sort()).toEqual(NODES);
  reference = {
    project,
    digests: await outputDigests(outdir),
    blobLinks: moments.filter((line) => line.startsWith('blob-linked ')).length,
    recordWrites: moments.filter((line) => line.startsWith('record-staged ')).length,
  };
  expect(reference.recordWrites).toBe(NODES.length);
  await expectNoSurvivors('reference', 'reference run');
}, 60_000);

/**
 * After a killed run (or runs) on `cache`: no survivors, `cache verify` clean, a rerun of each
 * output directory gives the reference digests, leaving no work directory or staging file, and a
 * further run is fully cached.
 */
async function expectRecovery(trial: string, ids: string[], outdirs: string[], cache: string): Promise<void> {
  for (const id of ids) await expectNoSurvivors(id, trial);
  const verify = await execa('node', [RUN_BIN, 'cache', 'verify', '--cache', cache], { reject: false });
  expect(verify.exitCode, `${trial}: cache verify\n${verify.stdout}${verify.stderr}`).toBe(0);
  expect(verify.stdout).toMatch(/^\d+ blobs checked, 0 corrupt$/m);
  expect(verify.stdout).toMatch(/^\d+ action records checked, 0 corrupt \(deleted\), 0 missing blobs$/m);
  expect(verify.stdout).not.toMatch(/evicted|deleted:|lost|removed/);

  const project = reference.project;
  const reruns = await Promise.all(
    outdirs.map((outdir, index) => startRun(project, outdir, cache, { id: `${ids[0]}-rerun-${index}` })),
  );
  for (const [index, rerun] of reruns.entries()) {
    expect(rerun.exitCode, `${trial}: rerun\n${rerun.stdout}${rerun.stderr}`).toBe(0);
    expect(await outputDigests(outdirs[index]!), `${trial}: digests after the rerun`).toEqual(
      reference.digests,
    );
  }
  expect(await readdir(path.join(cache, 'work')), `${trial}: work directories left`).toEqual([]);
  expect(await readdir(path.join(cache, 'tmp')), `${trial}: staging files left`).toEqual([]);

  const again = await startRun(project, outdirs[0]!, cache, { id: `${ids[0]}-null` });
  expect(again.exitCode, again.stdout + again.stderr).toBe(0);
  expect(countEvents(outdirs[0]!, 'start'), `${trial}: a node ran again on the null run`).toBe(0);
  expect(countEvents(outdirs[0]!, 'cached')).toBe(NODES.length);
  expect(await outputDigests(outdirs[0]!)).toEqual(reference.digests);
}

/** A kill point: when to kill, found from the run's output directory and the hook's pause file. */
interface KillPoint {
  /** The point, as the trial's report names it. */
  readonly describe: string;
  /** The hook's settings, if the point is inside the cache's writes. */
  readonly env?: (pausedFile: string) => Record<string, string>;
  /** Whether the run reached the point. */
  readonly reached: (outdir: string, pausedFile: string) => boolean;
  /**
   * Command lines that must be among the run's processes at the kill (so the trial kills them).
   * @default []
   */
  readonly alive?: readonly RegExp[];
}

/** Runs one trial: a fresh cache, fcos-run killed with SIGKILL at `point`, then {@link expectRecovery}. */
async function killTrial(name: string, point: KillPoint): Promise<void> {
  const project = reference.project;
  const outdir = await trialOutdir(project, name);
  const cache = path.join(project, `cache-${name}`);
  const pausedFile = path.join(project, `${name}.paused`);
  const id = `torture-${name}`;
  const run = startRun(project, outdir, cache, { id, ...(point.env ? { env: point.env(pausedFile) } : {}) });
  await whenReached(run, () => point.reached(outdir, pausedFile), point.describe);
  // What the kill leaves to stop: at least fcos-run, and its tools and their children if running.
  const alive = processesMarked(id);
  expect(alive.map((entry) => entry.pid)).toContain(run.pid);
  for (const expected of point.alive ?? []) {
    expect(alive.map((entry) => entry.command).join('\n'), `${name}: at the kill`).toMatch(expected);
  }
  run.kill('SIGKILL');
  const killed = await run;
  expect(killed.signal, `${name}: fcos-run ended before the kill`).toBe('SIGKILL');
  const events = eventsOf(outdir);
  console.log(
    `torture ${name}: killed ${point.describe}${existsSync(pausedFile) ? ` (${readFileSync(pausedFile, 'utf8').trim()})` : ''}; ` +
      `${events.filter((event) => event.event === 'start').length} started, ${events.filter((event) => event.event === 'finish').length} finished, ` +
      `${alive.length} processes alive`,
  );
  await expectRecovery(name, [id], [outdir], cache);
  await rm(cache, { recursive: true, force: true });
}

describe('torture: kill -9 of fcos-run, then recovery', () => {
  it('after the Nth start event', async () => {
    const starts = pick('start', 2, NODES.length);
    await killTrial('start', {
      describe: `after start event ${starts}`,
      reached: (outdir) => countEvents(outdir, 'start') >= starts,
    });
  });

  it(`mid-write of the ${BIG_CHUNKS} MiB output (its tool's grandchild ignoring SIGTERM)`, async () => {
    const chunk = pick('mid-output', 1, BIG_CHUNKS - 1);
    await killTrial('mid-output', {
      describe: `after chunk ${chunk}/${BIG_CHUNKS} of Big`,
      alive: [/chunk-step-child\.cjs \S+ big /, /sleep 300/, /^\/bin\/sh -c groups=/m],
      reached: (outdir) => {
        const log = path.join(outdir, 'logs/Big.log');
        return existsSync(log) && readFileSync(log, 'utf8').includes(`chunk ${chunk}/${BIG_CHUNKS} written`);
      },
    });
  });

  it('right after a blob is linked into the cache (its stamp not yet written)', async () => {
    const link = pick('blob-linked', 1, reference.blobLinks);
    await killTrial('blob-linked', {
      describe: `at blob link ${link} of ${reference.blobLinks}`,
      env: (pausedFile) => ({
        FCOS_TORTURE_PAUSE: `blob-linked:${link}`,
        FCOS_TORTURE_PAUSED_FILE: pausedFile,
      }),
      reached: (_outdir, pausedFile) => existsSync(pausedFile),
    });
  });

  it('while an action record is written (staged, not yet renamed into place)', async () => {
    const record = pick('record-staged', 1, reference.recordWrites);
    await killTrial('record-staged', {
      describe: `at action record write ${record} of ${reference.recordWrites}`,
      env: (pausedFile) => ({
        FCOS_TORTURE_PAUSE: `record-staged:${record}`,
        FCOS_TORTURE_PAUSED_FILE: pausedFile,
      }),
      reached: (_outdir, pausedFile) => existsSync(pausedFile),
    });
  });

  it('right after the Nth finish event', async () => {
    const finishes = pick('finish', 1, NODES.length - 1);
    await killTrial('finish', {
      describe: `after finish event ${finishes}`,
      reached: (outdir) => countEvents(outdir, 'finish') >= finishes,
    });
  });

  it('two concurrent runs on one cache, killed at different times', async () => {
    const project = reference.project;
    const outdirs = [await trialOutdir(project, 'concurrent-1'), await trialOutdir(project, 'concurrent-2')];
    const cache = path.join(project, 'cache-concurrent');
    const ids = ['torture-concurrent-1', 'torture-concurrent-2'];
    const runs = outdirs.map((outdir, index) => startRun(project, outdir, cache, { id: ids[index]! }));
    // Counted over both runs, since either may build a node while the other waits on its lock:
    // every node is started by one of them before the survivor ends (again if its builder was
    // killed), so the second kill point comes before the second run ends.
    const startsOfBoth = () => outdirs.reduce((total, outdir) => total + countEvents(outdir, 'start'), 0);
    const first = pick('concurrent', 1, 3);
    const second = pick('concurrent', first + 1, NODES.length - 2);
    await whenReached(runs[0]!, () => startsOfBoth() >= first, `start ${first} of both runs`);
    runs[0]!.kill('SIGKILL');
    const atFirstKill = outdirs.map((outdir) => countEvents(outdir, 'start'));
    await whenReached(runs[1]!, () => startsOfBoth() >= second, `start ${second} of both runs`);
    runs[1]!.kill('SIGKILL');
    for (const [index, run] of runs.entries()) {
      expect((await run).signal, `run ${index + 1} ended before its kill`).toBe('SIGKILL');
    }
    const tally = (outdir: string) =>
      `${countEvents(outdir, 'start')} started, ${countEvents(outdir, 'finish')} finished, ${countEvents(outdir, 'cached')} cached`;
    console.log(
      `torture concurrent: run 1 killed at start ${first} of both (starts ${atFirstKill.join('+')}), ` +
        `run 2 at start ${second} of both; run 1 ${tally(outdirs[0]!)}, run 2 ${tally(outdirs[1]!)}`,
    );
    await expectRecovery('concurrent', ids, outdirs, cache);
  });
});
