/**
 * Executor benchmarks: the null run (all cached) of the generated 2,000-node pipeline as a whole
 * fcos-run process (target < 1 s); executor overhead per node on 10,000 no-op nodes (target
 * < 0.2 ms); peak memory of fcos-run while it stores a 4 GiB image (target < 200 MB).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Pipeline } from '../lib/index.ts';
import { runPipeline } from '../lib/run/executor.ts';
import { ASSEMBLY_SCHEMA_VERSION, type Assembly } from '../lib/synth/assembly.ts';
import { synthesize } from '../lib/synth/synthesize.ts';
import { canonicalStringify } from '../lib/util/canonical-json.ts';
import { buildGeneratedPipeline } from './generated-pipeline.ts';
import { median, printTable } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUN_BIN = path.join(ROOT, 'bin/fcos-run.js');
const NOOP_RUNNER = 'fcos-cdk/bench/kinds/noop';
const BIG_FILE_RUNNER = 'fcos-cdk/bench/kinds/big-file';

/** Writes `assembly` as `<outdir>/pipeline.json`, every node turned into a BenchNoop. */
export async function writeNoopAssembly(assembly: Assembly, outdir: string): Promise<void> {
  const nodes = Object.fromEntries(
    Object.entries(assembly.nodes).map(([nodePath, node]) => [
      nodePath,
      { ...node, kind: 'BenchNoop', kindVersion: 1, runner: NOOP_RUNNER },
    ]),
  );
  await mkdir(outdir, { recursive: true });
  const rewritten = {
    ...assembly,
    pipeline: { ...assembly.pipeline, project: path.relative(outdir, ROOT) },
    nodes,
  };
  await writeFile(path.join(outdir, 'pipeline.json'), `${canonicalStringify(rewritten, 2)}\n`);
}

/** A layered DAG of `layers` × `width` BenchNoop nodes, each needing two nodes of the layer before. */
function layeredAssembly(layers: number, width: number): Assembly {
  const nodes: Assembly['nodes'] = {};
  for (let layer = 0; layer < layers; layer++) {
    for (let column = 0; column < width; column++) {
      const inputs: Assembly['nodes'][string]['inputs'] = {};
      if (layer > 0) {
        for (const offset of [0, 1]) {
          inputs[`in${offset}`] = {
            node: `l${layer - 1}/n${(column + offset) % width}`,
            output: 'out',
            type: 'blob',
          };
        }
      }
      nodes[`l${layer}/n${column}`] = {
        kind: 'BenchNoop',
        kindVersion: 1,
        runner: NOOP_RUNNER,
        props: { layer, column },
        inputs,
        dependsOn: [],
        resources: { class: 'cpu' },
        outputs: { out: { type: 'blob', attributes: {} } },
      };
    }
  }
  return {
    schemaVersion: ASSEMBLY_SCHEMA_VERSION,
    pipeline: { name: 'layered', context: {}, project: '.', app: 'none.ts' },
    nodes,
  };
}

/** Runs fcos-run as a process; returns wall milliseconds. */
async function timedRun(outdir: string, cache: string): Promise<number> {
  const start = performance.now();
  await execa('node', [RUN_BIN, '--out', outdir, '--cache', cache, '-q']);
  return performance.now() - start;
}

/** Null run of the generated pipeline, whole process. */
async function nullRun(directory: string): Promise<Array<[string, string]>> {
  const assembly = synthesize(buildGeneratedPipeline(new Pipeline({ name: 'generated' })), {
    projectDir: ROOT,
    app: 'bench/generated-app.ts',
  });
  const outdir = path.join(directory, 'generated');
  const cache = path.join(directory, 'generated-cache');
  await writeNoopAssembly(assembly, outdir);
  const cold = await timedRun(outdir, cache);
  const warm = [];
  for (let run = 0; run < 5; run++) warm.push(await timedRun(outdir, cache));
  const nodes = Object.keys(assembly.nodes).length;
  return [
    [`generated pipeline: cold run of ${nodes} no-op nodes, whole process`, `${cold.toFixed(0)} ms`],
    [
      'null run (all cached), whole fcos-run process, median of 5 (target < 1000 ms)',
      `${median(warm).toFixed(0)} ms`,
    ],
  ];
}

/** Executor time per node on a 10,000-node DAG, in-process. */
async function overhead(directory: string): Promise<Array<[string, string]>> {
  const outdir = path.join(directory, 'layered');
  const cache = path.join(directory, 'layered-cache');
  await mkdir(outdir, { recursive: true });
  const assembly = layeredAssembly(100, 100);
  await writeFile(path.join(outdir, 'pipeline.json'), `${canonicalStringify(assembly, 2)}\n`);
  const count = Object.keys(assembly.nodes).length;
  const options = { outdir, cacheDir: cache, checkFreshness: false, observers: [] };
  const cold = await runPipeline(options);
  const warm = await runPipeline(options);
  if (cold.status !== 'ok' || warm.status !== 'ok') throw new Error('layered run failed');
  return [
    [
      `${count} no-op nodes, all cached: executor time per node (target < 0.2 ms)`,
      `${(warm.wallMs / count).toFixed(3)} ms`,
    ],
    [
      `${count} no-op nodes, cold (each output stored, fsynced, recorded): per node`,
      `${(cold.wallMs / count).toFixed(3)} ms`,
    ],
  ];
}

/** Peak RSS of fcos-run while it stores a 4 GiB output. */
async function peakMemory(directory: string): Promise<Array<[string, string]>> {
  const outdir = path.join(directory, 'big');
  const cache = path.join(directory, 'big-cache');
  await mkdir(outdir, { recursive: true });
  const sizeMiB = 4096;
  const assembly: Assembly = {
    schemaVersion: ASSEMBLY_SCHEMA_VERSION,
    pipeline: { name: 'big', context: {}, project: path.relative(outdir, ROOT), app: 'none.ts' },
    nodes: {
      Big: {
        kind: 'BenchBigFile',
        kindVersion: 1,
        runner: BIG_FILE_RUNNER,
        props: { sizeMiB },
        inputs: {},
        dependsOn: [],
        resources: { class: 'io' },
        outputs: { disk: { type: 'disk-image', attributes: {} } },
      },
    },
  };
  await writeFile(path.join(outdir, 'pipeline.json'), `${canonicalStringify(assembly, 2)}\n`);
  const start = performance.now();
  const timed = await execa(
    '/usr/bin/time',
    ['-v', 'node', RUN_BIN, '--out', outdir, '--cache', cache, '-q'],
    {
      reject: false,
    },
  );
  const seconds = (performance.now() - start) / 1000;
  const peakKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(timed.stderr)?.[1] ?? Number.NaN);
  if (timed.exitCode !== 0) throw new Error(`fcos-run failed: ${timed.stdout}\n${timed.stderr}`);
  return [
    [
      `fcos-run writing + hashing + storing a ${sizeMiB / 1024} GiB image: wall time`,
      `${seconds.toFixed(1)} s`,
    ],
    ['  peak RSS of the fcos-run process (target < 200 MB)', `${(peakKiB / 1024).toFixed(0)} MB`],
  ];
}

/** Runs the executor benchmarks and prints their numbers. */
export async function main(): Promise<void> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'fcos-bench-run-'));
  try {
    const rows = [
      ...(await nullRun(directory)),
      ...(await overhead(directory)),
      ...(await peakMemory(directory)),
    ];
    printTable('executor', rows);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
