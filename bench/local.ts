/**
 * The newcomer's job: `fcos-synth && fcos-run` of the default pipeline's local profile (the tiny OS
 * composed, a disk, five platform images, kola in QEMU, the update tests), cold, and the no-change
 * rerun through npx as the README runs it, on a copy of the project. Prints the critical path
 * fcos-run reports, each update test's boots (count, seconds each) from its boots.json, and where
 * the seconds of the Kola boot and of UpgradeTest's boots went, phase by phase, from their console
 * timelines: TCG boots dominate.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { bootPhases, PHASE_NAMES } from '../lib/vm/boot-phases.ts';
import { parseTimeline, timelineFileOf } from '../lib/vm/console-timeline.ts';
import type { BootsDocument } from '../stages/update-test/report.ts';
import { copyProject, synthAndRun } from './project-copy.ts';
import { median, printTable } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Wall milliseconds of one command in `directory`. */
async function timed(file: string, args: readonly string[], directory: string): Promise<number> {
  const start = performance.now();
  await execa(file, args, { cwd: directory });
  return performance.now() - start;
}

/**
 * The no-change rerun as the README gives it (`npx fcos-synth -q && npx fcos-run -q`), and each
 * program started directly: medians of 5, in ms.
 */
async function noChangeRerun(directory: string): Promise<{ npx: number; synth: number; run: number }> {
  const npx: number[] = [];
  const synth: number[] = [];
  const run: number[] = [];
  for (let round = 0; round < 5; round++) {
    npx.push(
      (await timed('npx', ['fcos-synth', '-q'], directory)) +
        (await timed('npx', ['fcos-run', '-q'], directory)),
    );
    synth.push(await timed('node', [path.join(ROOT, 'bin/fcos-synth.js'), '-q'], directory));
    run.push(await timed('node', [path.join(ROOT, 'bin/fcos-run.js'), '-q'], directory));
  }
  return { npx: median(npx), synth: median(synth), run: median(run) };
}

/** The update tests of the local profile. */
const UPDATE_TESTS = ['UpgradeTest', 'RollbackTest', 'RolloutTest'] as const;

/** One row per update test: wall time of its node, boots and seconds per boot, from the cold run. */
async function updateTestRows(directory: string): Promise<[string, string][]> {
  const events = (await readFile(path.join(directory, 'fcos.out/events.jsonl'), 'utf8'))
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { event?: string; node?: string; durationMs?: number });
  const rows: [string, string][] = [];
  for (const test of UPDATE_TESTS) {
    const node = `testing/x86_64/${test}`;
    const finish = events.find((event) => event.event === 'finish' && event.node === node);
    const boots = JSON.parse(
      await readFile(path.join(directory, `fcos.out/artifacts/${node}/report/boots.json`), 'utf8'),
    ) as BootsDocument;
    const perMachine = boots.machines
      .map(
        (machine) => `${machine.name}: ${machine.boots.map((boot) => boot.seconds.toFixed(1)).join(' + ')} s`,
      )
      .join('; ');
    const count = boots.machines.reduce((total, machine) => total + machine.boots.length, 0);
    const wall = finish?.durationMs !== undefined ? `${(finish.durationMs / 1000).toFixed(1)} s` : '?';
    rows.push([`${test} (node wall time ${wall})`, `${count} boots (${perMachine})`]);
  }
  return rows;
}

/** One boot to break down: its label, console log, and seconds (QEMU's whole run). */
interface BootToBreakDown {
  readonly label: string;
  readonly consoleLog: string;
  readonly seconds: number;
}

/** The Kola VM's boot and UpgradeTest's boots of the cold run. */
async function bootsToBreakDown(directory: string): Promise<BootToBreakDown[]> {
  const artifacts = path.join(directory, 'fcos.out/artifacts/testing/x86_64');
  const kola = JSON.parse(await readFile(path.join(artifacts, 'Kola/report/report.json'), 'utf8')) as {
    tests: { console?: string; durationSeconds: number }[];
  };
  const kolaTest = kola.tests.find((test) => test.console !== undefined);
  const boots: BootToBreakDown[] = kolaTest?.console
    ? [
        {
          label: 'Kola',
          consoleLog: path.join(artifacts, 'Kola/report', kolaTest.console),
          seconds: kolaTest.durationSeconds,
        },
      ]
    : [];
  const upgrade = JSON.parse(
    await readFile(path.join(artifacts, 'UpgradeTest/report/boots.json'), 'utf8'),
  ) as BootsDocument;
  for (const machine of upgrade.machines) {
    for (const boot of machine.boots) {
      boots.push({
        label: `Upgrade ${boot.index}`,
        consoleLog: path.join(artifacts, 'UpgradeTest/report', boot.console),
        seconds: boot.seconds,
      });
    }
  }
  return boots;
}

/** Rows of seconds per boot phase (lib/vm/boot-phases.ts) of the run in `directory`, one column per boot. */
export async function bootPhaseRows(directory: string): Promise<[string, string][]> {
  const boots = await bootsToBreakDown(directory);
  const columns = await Promise.all(
    boots.map(async (boot) => {
      const timeline = parseTimeline(await readFile(timelineFileOf(boot.consoleLog), 'utf8').catch(() => ''));
      return new Map(bootPhases(timeline, boot.seconds).map((phase) => [phase.name, phase.seconds]));
    }),
  );
  const names = PHASE_NAMES.filter((name) => columns.some((column) => column.has(name)));
  const cell = (value: string) => value.padStart(10);
  const rows: [string, string][] = [['phase (seconds)', boots.map((boot) => cell(boot.label)).join('')]];
  for (const name of names) {
    rows.push([name, columns.map((column) => cell(column.get(name)?.toFixed(1) ?? '-')).join('')]);
  }
  rows.push(['whole boot', boots.map((boot) => cell(boot.seconds.toFixed(1))).join('')]);
  return rows;
}

/** Runs the benchmark and prints its numbers. */
export async function main(): Promise<void> {
  const directory = await copyProject('fcos-bench-local-');
  try {
    const cold = await synthAndRun(directory);
    const rerun = await noChangeRerun(directory);
    const criticalPath = /critical path (.*)$/m.exec(cold.output)?.[1] ?? '(not reported)';
    const updateRows = await updateTestRows(directory);
    const phaseRows = await bootPhaseRows(directory);
    printTable('local profile: fcos-synth && fcos-run (whole processes, 2 cores)', [
      ['cold', `${(cold.ms / 1000).toFixed(1)} s`],
      [
        'no-change rerun through npx, both commands, median of 5 (target <= 1.0 s)',
        `${(rerun.npx / 1000).toFixed(2)} s`,
      ],
      [
        '  fcos-synth / fcos-run started with node, medians of 5 (target <= 0.35 s each)',
        `${(rerun.synth / 1000).toFixed(2)} s / ${(rerun.run / 1000).toFixed(2)} s`,
      ],
      ['critical path of the cold run', criticalPath],
      ...updateRows,
    ]);
    printTable('where the boots of the cold run went (console timelines; nodes ran side by side)', phaseRows);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
