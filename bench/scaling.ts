/**
 * The scaling curve: whole `fcos-synth` and null-run `fcos-run` processes of the generated
 * pipeline at about 100, 1,000 and 10,000 nodes, so that cost growing faster than the node count
 * shows. The null run is of the same DAG with every node a BenchNoop, built once before.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { Assembly } from '../lib/synth/assembly.ts';
import type { GeneratedSize } from './generated-pipeline.ts';
import { median, printTable } from './report.ts';
import { writeNoopAssembly } from './run.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SYNTH_BIN = path.join(ROOT, 'bin/fcos-synth.js');
const RUN_BIN = path.join(ROOT, 'bin/fcos-run.js');

/** The sizes measured: 120 nodes for a stream of x86_64 and aarch64, 176 per stream of the four arches. */
const SIZES: readonly GeneratedSize[] = [
  { streams: 1, arches: 2 },
  { streams: 6, arches: 4 },
  { streams: 57, arches: 4 },
];

/** Wall milliseconds of `node file args` in the repository. */
async function timed(file: string, args: readonly string[]): Promise<number> {
  const start = performance.now();
  await execa('node', [file, ...args], { cwd: ROOT });
  return performance.now() - start;
}

/** Median synthesis and null-run times of one size; its node count. */
async function measure(size: GeneratedSize, directory: string): Promise<[string, string, string, string]> {
  const synthOut = path.join(directory, `synth-${size.streams}x${size.arches}`);
  const context = ['-c', `streams=${size.streams}`, '-c', `arches=${size.arches}`];
  const synthArgs = ['--app', 'bench/generated-app.ts', ...context, '--out', synthOut, '-q'];
  const synthMs: number[] = [];
  for (let run = 0; run < 3; run++) synthMs.push(await timed(SYNTH_BIN, synthArgs));
  const assembly = JSON.parse(await readFile(path.join(synthOut, 'pipeline.json'), 'utf8')) as Assembly;
  const nodes = Object.keys(assembly.nodes).length;
  const runOut = path.join(directory, `run-${nodes}`);
  const cache = path.join(directory, `cache-${nodes}`);
  await writeNoopAssembly(assembly, runOut);
  const runArgs = ['--out', runOut, '--cache', cache, '-q'];
  const coldMs = await timed(RUN_BIN, runArgs);
  const nullMs: number[] = [];
  for (let run = 0; run < 3; run++) nullMs.push(await timed(RUN_BIN, runArgs));
  return [
    String(nodes),
    `${median(synthMs).toFixed(0)} ms`,
    `${median(nullMs).toFixed(0)} ms`,
    `${(coldMs / 1000).toFixed(1)} s`,
  ];
}

/** Runs the scaling benchmark and prints one row per size. */
export async function main(): Promise<void> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'fcos-bench-scaling-'));
  try {
    const rows: Array<[string, string]> = [];
    for (const size of SIZES) {
      const [nodes, synth, nullRun, cold] = await measure(size, directory);
      rows.push([
        `${nodes} nodes: fcos-synth / null fcos-run (medians of 3, whole processes) / first run of no-ops`,
        `${synth} / ${nullRun} / ${cold}`,
      ]);
    }
    printTable('scaling: the generated pipeline at three sizes', rows);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
