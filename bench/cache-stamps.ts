/**
 * Benchmark of the cache's stamps: the null run of a pipeline holding a few 100 MiB blobs, on the
 * cache that built it and on a copy of that cache (`cp -a`: every inode differs, so every stamp
 * misses once), counting the blobs re-hashed (`verify` events of the cached outputs), and the
 * cost of the hash pass that verifies a consumed 1 GiB input, from the page cache and from disk.
 * Run: `npx tsx --conditions=fcos-cdk-source bench/cache-stamps.ts`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { sha256File } from '../lib/cache/hash.ts';
import { runPipeline } from '../lib/run/executor.ts';
import { ASSEMBLY_SCHEMA_VERSION, type Assembly } from '../lib/synth/assembly.ts';
import { canonicalStringify } from '../lib/util/canonical-json.ts';
import { median, printTable } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIG_FILE_RUNNER = 'fcos-cdk/bench/kinds/big-file';
/** Sizes of the blobs of the pipeline, in MiB: different sizes, so different contents. */
const BLOB_SIZES_MIB = [100, 104, 108];
const NULL_RUNS = 3;
const MIB = 1024 * 1024;

/** A pipeline of one BenchBigFile node per size. */
function bigFileAssembly(outdir: string): Assembly {
  const nodes: Assembly['nodes'] = {};
  for (const sizeMiB of BLOB_SIZES_MIB) {
    nodes[`Big${sizeMiB}`] = {
      kind: 'BenchBigFile',
      kindVersion: 1,
      runner: BIG_FILE_RUNNER,
      props: { sizeMiB },
      inputs: {},
      dependsOn: [],
      resources: { class: 'io' },
      outputs: { disk: { type: 'disk-image', attributes: {} } },
    };
  }
  return {
    schemaVersion: ASSEMBLY_SCHEMA_VERSION,
    pipeline: { name: 'stamps', context: {}, project: path.relative(outdir, ROOT), app: 'none.ts' },
    nodes,
  };
}

/** One run in-process: its wall time and how many blobs its lookups re-hashed. */
async function timedRun(outdir: string, cacheDir: string): Promise<{ ms: number; rehashed: number }> {
  const result = await runPipeline({ outdir, cacheDir, checkFreshness: false, observers: [] });
  if (result.status !== 'ok') throw new Error(`run failed: ${result.status}`);
  const events = (await readFile(path.join(outdir, 'events.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { event: string; purpose?: string; blobs?: number });
  const rehashed = events
    .filter((event) => event.event === 'verify' && event.purpose === 'cached-output')
    .reduce((total, event) => total + (event.blobs ?? 0), 0);
  return { ms: result.wallMs, rehashed };
}

/** Null runs on the building cache, then on a `cp -a` copy of it. */
async function nullRuns(directory: string): Promise<Array<[string, string]>> {
  const outdir = path.join(directory, 'stamps');
  const cache = path.join(directory, 'cache');
  await mkdir(outdir, { recursive: true });
  await writeFile(path.join(outdir, 'pipeline.json'), `${canonicalStringify(bigFileAssembly(outdir), 2)}\n`);
  const cold = await timedRun(outdir, cache);
  const warm = [];
  for (let run = 0; run < NULL_RUNS; run++) warm.push(await timedRun(outdir, cache));
  const copy = path.join(directory, 'cache-copy');
  await execa('cp', ['-a', cache, copy]);
  const copied = [];
  for (let run = 0; run < NULL_RUNS; run++) copied.push(await timedRun(outdir, copy));
  const total = BLOB_SIZES_MIB.reduce((sum, size) => sum + size, 0);
  const describe = (runs: ReadonlyArray<{ ms: number; rehashed: number }>) =>
    runs.map((run) => `${run.ms.toFixed(0)} ms (${run.rehashed} re-hashed)`).join(', ');
  return [
    [`cold run of ${BLOB_SIZES_MIB.length} nodes writing ${total} MiB`, `${cold.ms.toFixed(0)} ms`],
    [
      `null run, the cache that built it, median of ${NULL_RUNS}`,
      `${median(warm.map((run) => run.ms)).toFixed(0)} ms (${warm.at(-1)!.rehashed} re-hashed)`,
    ],
    [`null runs on a cp -a copy of the cache, in order`, describe(copied)],
  ];
}

/** The hash pass that verifies a consumed 1 GiB input: from the page cache and from disk. */
async function inputHashPass(directory: string): Promise<Array<[string, string]>> {
  const file = path.join(directory, 'input-1GiB');
  const block = randomBytes(4 * MIB);
  const handle = await open(file, 'w');
  try {
    for (let index = 0; index < 256; index++) {
      block.writeUInt32LE(index, 0);
      await handle.write(block);
    }
  } finally {
    await handle.close();
  }
  await execa('sync');
  const time = async () => {
    const started = performance.now();
    await sha256File(file);
    return (performance.now() - started) / 1000;
  };
  await time();
  const cached = Math.min(await time(), await time());
  // GNU dd's nocache flag drops the file's pages (posix_fadvise DONTNEED): the next read is from disk.
  await execa('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
  const fromDisk = await time();
  return [
    ['verifying a consumed 1 GiB input: sha256 pass, page cache', `${cached.toFixed(2)} s`],
    ['verifying a consumed 1 GiB input: sha256 pass, pages dropped first', `${fromDisk.toFixed(2)} s`],
  ];
}

/** Runs the stamp benchmarks and prints their numbers. */
export async function main(): Promise<void> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'fcos-bench-stamps-'));
  try {
    printTable('cache stamps', [...(await nullRuns(directory)), ...(await inputHashPass(directory))]);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
