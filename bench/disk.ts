/**
 * Benchmark of DiskImage and PlatformImage through the real executor: a temporary program builds
 * the tiny OS (packages, manifest, compose), a 1 GiB disk, a 4K disk and every platform image.
 * The compose is run first (`--only`), so the cold run times the disks and images; then the same
 * run again, all cached. From the node logs (`$? STATUS in SECONDS s` lines of lib/exec.ts) it
 * sums the tool invocations of the disk and image nodes and prints fcos-run's wall time over
 * that sum (the images run in parallel, so it can be below 1).
 * Run: `npx tsx bench/disk.ts` (about a minute on 2 cores).
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { PLATFORM_NAMES } from '../targets/index.ts';
import { linkFcosCdk } from '../test/helpers/link-project.ts';
import { printTable } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SYNTH_BIN = path.join(ROOT, 'bin/fcos-synth.js');
const RUN_BIN = path.join(ROOT, 'bin/fcos-run.js');

/** The pipeline program: the tiny OS to a 512-byte and a 4K disk, and every platform image. */
function program(): string {
  const platforms = JSON.stringify(PLATFORM_NAMES);
  return `import { DiskImage, LocalPackageRepo, Manifest, Pipeline, PlatformImage, RpmOstreeCompose } from 'fcos-cdk';

const pipeline = new Pipeline({ name: 'bench-disk' });
const repo = new LocalPackageRepo(pipeline, 'Packages', { specs: '${path.join(ROOT, 'local-os/packages')}', name: 'local' });
const manifest = new Manifest(pipeline, 'Manifest', { file: '${path.join(ROOT, 'local-os/manifest.yaml')}', localRepos: [repo.repo] });
const compose = new RpmOstreeCompose(pipeline, 'Compose', { treefile: manifest.treefileFor('x86_64') });
const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit, sizeGiB: 1 });
const disk4k = new DiskImage(pipeline, 'Disk4k', { commit: compose.commit, sizeGiB: 1, sectorSize: 4096 });
for (const platform of ${platforms}) new PlatformImage(pipeline, 'Image-' + platform, { disk: disk.disk, platform });
new PlatformImage(pipeline, 'Image-metal4k', { disk: disk4k.disk, platform: 'metal' });
`;
}

/** Runs fcos-run with `args` in `directory`; returns wall seconds. */
async function timedRun(directory: string, args: readonly string[] = []): Promise<number> {
  const started = performance.now();
  await execa(
    'node',
    [
      RUN_BIN,
      '--out',
      path.join(directory, 'fcos.out'),
      '--cache',
      path.join(directory, 'cache'),
      '-q',
      ...args,
    ],
    { cwd: directory },
  );
  return (performance.now() - started) / 1000;
}

/** Seconds of each tool invocation in a node log, by tool name. */
function toolSeconds(log: string): Map<string, number> {
  const totals = new Map<string, number>();
  let tool = '';
  for (const line of log.split('\n')) {
    if (line.startsWith('$ ')) tool = line.slice(2).split(' ')[0] ?? '';
    const done = /^\$\? \S+ in ([\d.]+) s$/.exec(line);
    if (done) totals.set(tool, (totals.get(tool) ?? 0) + Number(done[1]));
  }
  return totals;
}

/** Node durations of the last run, from events.jsonl, by node path. */
async function nodeSeconds(directory: string): Promise<Map<string, number>> {
  const text = await readFile(path.join(directory, 'fcos.out/events.jsonl'), 'utf8');
  const durations = new Map<string, number>();
  for (const line of text.trim().split('\n')) {
    const event = JSON.parse(line) as { event: string; node?: string; durationMs?: number };
    if (event.event === 'finish' && event.node) durations.set(event.node, (event.durationMs ?? 0) / 1000);
  }
  return durations;
}

/** Runs the benchmark and prints its table. */
export async function main(): Promise<void> {
  const directory = await mkdtemp(path.join(tmpdir(), 'fcos-bench-disk-'));
  try {
    await linkFcosCdk(directory);
    await writeFile(path.join(directory, 'app.ts'), program());
    await execa('node', [SYNTH_BIN, '--app', 'app.ts', '--out', 'fcos.out', '-q'], { cwd: directory });
    const compose = await timedRun(directory, ['--only', 'Compose']);
    const cold = await timedRun(directory);
    const durations = await nodeSeconds(directory);
    const logs = path.join(directory, 'fcos.out/logs');
    const tools = new Map<string, number>();
    for (const name of (await readdir(logs)).filter((file) => /^(Disk|Image-)/.test(file))) {
      for (const [tool, seconds] of toolSeconds(await readFile(path.join(logs, name), 'utf8')))
        tools.set(tool, (tools.get(tool) ?? 0) + seconds);
    }
    const toolTotal = [...tools.values()].reduce((sum, seconds) => sum + seconds, 0);
    const cached = await timedRun(directory);
    const seconds = (value: number | undefined) => `${(value ?? 0).toFixed(2)} s`;
    const rows: Array<[string, string]> = [
      ['packages + manifest + compose (warming the cache, not counted)', seconds(compose)],
      ['cold: Disk, Disk4k and every platform image, whole fcos-run process', seconds(cold)],
      ['  DiskImage 1 GiB, 512-byte sectors (node)', seconds(durations.get('Disk'))],
      ['  DiskImage 1 GiB, 4096-byte sectors (node)', seconds(durations.get('Disk4k'))],
      ...[...PLATFORM_NAMES, 'metal4k'].map(
        (name) =>
          [`  PlatformImage ${name} (node)`, seconds(durations.get(`Image-${name}`))] as [string, string],
      ),
      ['  sum of tool invocations of these nodes', seconds(toolTotal)],
      [
        '  by tool',
        [...tools]
          .sort((a, b) => b[1] - a[1])
          .map(([tool, value]) => `${tool} ${value.toFixed(2)}`)
          .join(', '),
      ],
      ['  fcos-run wall time / sum of tool time', (cold / toolTotal).toFixed(2)],
      ['cached re-run (all hits), whole fcos-run process', seconds(cached)],
    ];
    printTable('disk and platform images of the tiny OS', rows);
  } finally {
    await execa('chattr', ['-R', '-i', directory], { reject: false });
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
