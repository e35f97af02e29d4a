/**
 * Multi-arch cost (issue #14): the cold local profile with x86_64 alone and with x86_64 and aarch64
 * (the default), each in a fresh copy with an empty cache, then the warm (no-change) rerun of the
 * two-arch copy; the ratio two-arch/x86_64 is the issue's goal (≤ 1.5). Then each aarch64 test's
 * time from its report (kola, the update tests, the install tests), beside x86_64's.
 * Run: `npx tsx --conditions=fcos-cdk-source bench/arches.ts` (about 25 min on 2 cores).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestReport } from '../lib/kola/report.ts';
import { copyProject, synthAndRun } from './project-copy.ts';
import { printTable } from './report.ts';

/** One cold run: seconds, fcos-run's summary line, and the copy (kept for the reports). */
interface ColdRun {
  readonly seconds: number;
  readonly summary: string;
  readonly directory: string;
}

/** Cold `fcos-synth && fcos-run` of the local profile for `arches` in a fresh copy. */
async function coldRun(arches: readonly string[]): Promise<ColdRun> {
  const directory = await copyProject(`fcos-bench-arches-${arches.length}-`);
  const { ms, output } = await synthAndRun(directory, { synth: ['-c', `arches=${arches.join(',')}`] });
  return { seconds: ms / 1000, summary: /^fcos-run: (.*)$/m.exec(output)?.[1] ?? '', directory };
}

/** Each test report of `arch` in a run's artifacts: node name → seconds per test. */
async function testSeconds(directory: string, arch: string): Promise<Map<string, string>> {
  const archDirectory = path.join(directory, 'fcos.out/artifacts/testing', arch);
  const seconds = new Map<string, string>();
  if (!existsSync(archDirectory)) return seconds;
  for (const node of (await readdir(archDirectory)).sort()) {
    const file = path.join(archDirectory, node, 'report/report.json');
    if (!existsSync(file)) continue;
    const report = JSON.parse(await readFile(file, 'utf8')) as TestReport;
    const tests = report.tests.filter((test) => test.result !== 'skip');
    seconds.set(node, tests.map((test) => `${test.name} ${test.durationSeconds.toFixed(1)} s`).join(', '));
  }
  return seconds;
}

/** Runs the benchmark and prints the cold/warm table and the per-test table. */
export async function main(): Promise<void> {
  const x86 = await coldRun(['x86_64']);
  await rm(x86.directory, { recursive: true, force: true });
  const both = await coldRun(['x86_64', 'aarch64']);
  try {
    const warm = await synthAndRun(both.directory, { synth: ['-c', 'arches=x86_64,aarch64'] });
    printTable(
      'arches: the cold local profile, x86_64 alone and with aarch64 (fcos-synth && fcos-run, 2 cores)',
      [
        ['x86_64 cold', `${x86.seconds.toFixed(0)} s (${x86.summary})`],
        ['x86_64 + aarch64 cold', `${both.seconds.toFixed(0)} s (${both.summary})`],
        ['ratio (goal ≤ 1.5)', (both.seconds / x86.seconds).toFixed(2)],
        ['x86_64 + aarch64 warm', `${(warm.ms / 1000).toFixed(2)} s`],
      ],
    );
    const rows: Array<[string, string]> = [];
    for (const arch of ['aarch64', 'x86_64']) {
      for (const [node, tests] of await testSeconds(both.directory, arch))
        rows.push([`${arch}/${node}`, tests]);
    }
    printTable('arches: each test of the two-arch run (its report)', rows);
  } finally {
    await rm(both.directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
