/**
 * The newcomer's job: `fcos-synth && fcos-run` of the default pipeline's local profile (the tiny OS
 * composed, a disk, five platform images, kola in QEMU), cold and warm, whole processes, on a copy
 * of the project. Targets: cold < 60 s, warm < 2 s. Prints the critical path fcos-run reports.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { linkFcosCdk } from '../test/helpers/link-project.ts';
import { median, printTable } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Runs `fcos-synth && fcos-run` in `directory`; milliseconds and fcos-run's output. */
async function synthAndRun(directory: string): Promise<{ ms: number; output: string }> {
  const start = performance.now();
  await execa('node', [path.join(ROOT, 'bin/fcos-synth.js'), '-q'], { cwd: directory });
  const result = await execa('node', [path.join(ROOT, 'bin/fcos-run.js'), '--plain', '-q'], {
    cwd: directory,
  });
  return { ms: performance.now() - start, output: result.stdout };
}

/** What `npx NAME` adds to running the bin directly, in ms (npm's own start-up), in the repository. */
async function npxOverhead(): Promise<number> {
  const time = async (file: string, args: string[]) => {
    const start = performance.now();
    await execa(file, args, { cwd: ROOT });
    return performance.now() - start;
  };
  const direct: number[] = [];
  const viaNpx: number[] = [];
  for (let run = 0; run < 3; run++) {
    direct.push(await time('node', [path.join(ROOT, 'bin/fcos-run.js'), '--help']));
    viaNpx.push(await time('npx', ['fcos-run', '--help']));
  }
  return median(viaNpx) - median(direct);
}

/** Runs the benchmark and prints its numbers. */
export async function main(): Promise<void> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'fcos-bench-local-'));
  try {
    for (const entry of ['pipeline.ts', 'local-os']) {
      await cp(path.join(ROOT, entry), path.join(directory, entry), { recursive: true });
    }
    await linkFcosCdk(directory);
    const cold = await synthAndRun(directory);
    const warm: number[] = [];
    for (let run = 0; run < 3; run++) warm.push((await synthAndRun(directory)).ms);
    const overhead = await npxOverhead();
    const criticalPath = /critical path (.*)$/m.exec(cold.output)?.[1] ?? '(not reported)';
    printTable('local profile: fcos-synth && fcos-run (whole processes, 2 cores)', [
      ['cold (target < 60 s)', `${(cold.ms / 1000).toFixed(1)} s`],
      ['warm, median of 3 (target < 2 s)', `${(median(warm) / 1000).toFixed(2)} s`],
      ['npx start-up added per command (npm itself)', `${(overhead / 1000).toFixed(2)} s`],
      ['critical path of the cold run', criticalPath],
    ]);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
