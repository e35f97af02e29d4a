/**
 * Cold fcos-run against the same tools run one after another, on the fixed bench profile: the
 * local profile as issue #16 measured it (x86_64; the qemu, metal, aws, azure and gce images; kola
 * basic and the external tests of local-os/tests/kola), selected with `--only`, so that stages
 * added to the default pipeline later do not move the baseline. The sequential chain is measured,
 * not written by hand: a cold `fcos-run --jobs 1` runs every tool alone, and the sum of its tool
 * invocations (the `$? STATUS in SECONDS s` lines of the node logs) is what a shell script calling
 * the same tools in turn would take, without any of fcos-cdk's own work (hashing, caching). The
 * ratio is the parallel cold run's wall time over that sum (target <= 0.5).
 * Run: `npx tsx --conditions=fcos-cdk-source bench/chain.ts` (about 4 min on 2 cores).
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyProject, synthAndRun } from './project-copy.ts';
import { printTable } from './report.ts';

/** The bench profile's nodes: Kola and the five platform images, with what they need. */
const BENCH_PROFILE = ['qemu', 'metal', 'aws', 'azure', 'gce', 'Kola'].flatMap((node) => [
  '--only',
  `testing/x86_64/${node}`,
]);

/** Seconds of every tool invocation in the node logs under `logs`, and the longest ones by node. */
async function toolSeconds(logs: string): Promise<{ total: number; byNode: Map<string, number> }> {
  const byNode = new Map<string, number>();
  let total = 0;
  for (const entry of await readdir(logs, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.log')) continue;
    const file = path.join(entry.parentPath, entry.name);
    let seconds = 0;
    for (const match of (await readFile(file, 'utf8')).matchAll(/^\$\? \S+ in ([\d.]+) s$/gm)) {
      seconds += Number(match[1]);
    }
    byNode.set(path.relative(logs, file).replace(/\.log$/, ''), seconds);
    total += seconds;
  }
  return { total, byNode };
}

/** A cold run of the bench profile in a fresh copy of the project; wall seconds and its logs' tool time. */
async function coldRun(extraArguments: readonly string[]): Promise<{
  wall: number;
  tools: Awaited<ReturnType<typeof toolSeconds>>;
  output: string;
}> {
  const directory = await copyProject('fcos-bench-chain-');
  try {
    const { ms, output } = await synthAndRun(directory, { run: [...BENCH_PROFILE, ...extraArguments] });
    return { wall: ms / 1000, tools: await toolSeconds(path.join(directory, 'fcos.out/logs')), output };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** Runs the benchmark and prints its numbers. */
export async function main(): Promise<void> {
  const sequential = await coldRun(['--jobs', '1']);
  const parallel = await coldRun([]);
  const longest = [...sequential.tools.byNode]
    .sort(([, left], [, right]) => right - left)
    .slice(0, 4)
    .map(([node, seconds]) => `${path.basename(node)} ${seconds.toFixed(1)}`)
    .join(', ');
  printTable('bench profile (x86_64, 5 images, kola): fcos-run against its tools run in turn', [
    [
      'tools run in turn (sum of the --jobs 1 run tool invocations)',
      `${sequential.tools.total.toFixed(1)} s`,
    ],
    ['  longest nodes by tool time', `${longest} s`],
    ['fcos-synth && fcos-run --jobs 1, cold', `${sequential.wall.toFixed(1)} s`],
    ['fcos-synth && fcos-run, cold', `${parallel.wall.toFixed(1)} s`],
    ['  critical path', /critical path (.*)$/m.exec(parallel.output)?.[1] ?? '(not reported)'],
    ['ratio cold run / tools in turn (target <= 0.50)', (parallel.wall / sequential.tools.total).toFixed(2)],
  ]);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
