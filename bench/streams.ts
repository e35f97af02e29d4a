/**
 * The cold local profile at 1, 2 and 3 streams (`-c streams=...`): each stream composes, images,
 * tests and releases its own build, sharing the packages, so the cost of a stream shows. x86_64
 * only (`-c arches=x86_64`): both arches would take over an hour on 2 cores, and the second
 * arch's cost is bench/arches.ts's. Whole `fcos-synth && fcos-run` processes on fresh copies of
 * the project, each with an empty cache.
 * Run: `npx tsx --conditions=fcos-cdk-source bench/streams.ts` (about 20 min on 2 cores).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyProject, synthAndRun } from './project-copy.ts';
import { printTable } from './report.ts';

/** The stream sets measured. */
const STREAM_SETS = [['testing'], ['testing', 'next'], ['testing', 'next', 'stable']] as const;

/** Cold `fcos-synth && fcos-run` of the local profile with `streams`, in a fresh copy; seconds and node count. */
async function coldRun(streams: readonly string[]): Promise<{ seconds: number; summary: string }> {
  const directory = await copyProject('fcos-bench-streams-');
  try {
    const { ms, output } = await synthAndRun(directory, {
      synth: ['-c', `streams=${streams.join(',')}`, '-c', 'arches=x86_64'],
    });
    return { seconds: ms / 1000, summary: /^fcos-run: (.*)$/m.exec(output)?.[1] ?? '' };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** Runs the benchmark and prints one row per stream set. */
export async function main(): Promise<void> {
  const rows: Array<[string, string]> = [];
  for (const streams of STREAM_SETS) {
    const { seconds, summary } = await coldRun(streams);
    rows.push([
      `${streams.length} stream(s) (${streams.join(', ')})`,
      `${seconds.toFixed(0)} s (${summary})`,
    ]);
  }
  printTable(
    'scaling: the cold local profile (x86_64) at 1, 2 and 3 streams (fcos-synth && fcos-run, 2 cores)',
    rows,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
