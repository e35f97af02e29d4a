/**
 * Synthesis benchmark: the generated pipeline (≥ 2,000 nodes), in-process (construct + synthesize)
 * and as a whole `fcos-synth` process. Targets: < 250 ms in-process, < 1.5 s whole process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Pipeline } from '../lib/index.ts';
import { synthesize } from '../lib/synth/synthesize.ts';
import { buildGeneratedPipeline } from './generated-pipeline.ts';
import { median, printTable } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Builds and synthesizes the generated pipeline in this process; returns ms and the node count. */
function synthesizeInProcess(): { ms: number; nodes: number } {
  const start = performance.now();
  const pipeline = buildGeneratedPipeline(new Pipeline({ name: 'generated' }));
  const assembly = synthesize(pipeline, { projectDir: ROOT, app: 'bench/generated-app.ts' });
  const ms = performance.now() - start;
  return { ms, nodes: Object.keys(assembly.nodes).length };
}

/** Runs the benchmark and prints its numbers. */
export async function main(): Promise<void> {
  synthesizeInProcess(); // warm-up: module loading and JIT are not what the target measures
  const inProcess = Array.from({ length: 7 }, () => synthesizeInProcess());
  const nodes = inProcess[0]!.nodes;
  if (nodes < 2000)
    throw new Error(`the generated pipeline has ${nodes} nodes; the benchmark is defined for at least 2,000`);
  const out = await mkdtemp(path.join(os.tmpdir(), 'fcos-bench-'));
  const wholeProcess: number[] = [];
  try {
    for (let run = 0; run < 5; run++) {
      const start = performance.now();
      await execa(
        'node',
        [path.join(ROOT, 'bin/fcos-synth.js'), '--app', 'bench/generated-app.ts', '--out', out, '-q'],
        {
          cwd: ROOT,
        },
      );
      wholeProcess.push(performance.now() - start);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
  printTable('synthesis of the generated pipeline', [
    ['nodes', String(nodes)],
    [
      'in-process synthesis, median of 7 (target < 250 ms)',
      `${median(inProcess.map((run) => run.ms)).toFixed(1)} ms`,
    ],
    ['whole fcos-synth process, median of 5 (target < 1500 ms)', `${median(wholeProcess).toFixed(0)} ms`],
  ]);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
