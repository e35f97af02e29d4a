/**
 * The UpdateTest report: report.json and junit.xml in KolaTest's format (one test named
 * `update.<scenario>`, so `Release` gates on it like on kola's), and boots.json with what the
 * benchmark needs: each machine's boots, their seconds and how each ended, the FleetLock history.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cleanConsole, consoleTail } from '../../lib/kola/console.ts';
import { type TestReport, type TestResult, toJunitXml } from '../../lib/kola/report.ts';
import type { ArtifactMetadata } from '../../lib/runner.ts';
import type { FleetLockEvent } from '../../lib/serve/fleet-lock.ts';
import { canonicalStringify } from '../../lib/util/canonical-json.ts';
import type { UpdateTestScenario } from './index.ts';
import type { MachineRun, Verdict } from './scenarios.ts';

/** What the report is made of. */
export interface UpdateReportInput {
  /** The node. */
  readonly nodePath: string;
  /** The image's digest. */
  readonly image: string;
  /** The image's arch. */
  readonly arch: string;
  /** The scenario. */
  readonly scenario: UpdateTestScenario;
  /** Each machine's boots. */
  readonly runs: readonly MachineRun[];
  /** The verdict. */
  readonly verdict: Verdict;
  /** The server's FleetLock history. */
  readonly fleetLock: readonly FleetLockEvent[];
}

/** The test's name in the report. */
export function updateTestName(scenario: UpdateTestScenario): string {
  return `update.${scenario}`;
}

/** boots.json: each machine's boots (seconds, how each ended, its console) and the FleetLock history. */
export interface BootsDocument {
  readonly scenario: UpdateTestScenario;
  readonly passed: boolean;
  readonly problems: readonly string[];
  readonly machines: ReadonlyArray<{
    readonly name: string;
    readonly strategy: string;
    readonly rolloutWariness?: number;
    readonly end: string;
    readonly boots: ReadonlyArray<{
      readonly index: number;
      readonly seconds: number;
      readonly end: string;
      readonly timedOut: boolean;
      readonly stoppedBecause?: string;
      /** Relative to the report directory. */
      readonly console: string;
    }>;
  }>;
  readonly fleetLock: readonly FleetLockEvent[];
}

/** Writes report.json, junit.xml and boots.json into `reportDir`; returns the output's metadata. */
export async function writeUpdateReport(
  reportDir: string,
  input: UpdateReportInput,
): Promise<ArtifactMetadata> {
  const relative = (file: string) => path.relative(reportDir, file);
  const boots = input.runs.flatMap((run) => run.loop.boots);
  const seconds = boots.reduce((total, boot) => total + boot.seconds, 0);
  const lastConsole = input.verdict.console ?? boots[boots.length - 1]?.consoleFile;
  let reason: string | undefined;
  if (!input.verdict.passed) {
    const tail = lastConsole ? consoleTail(await readFile(lastConsole, 'utf8').catch(() => ''), 15) : '';
    reason = `${input.verdict.problems.join('; ')}${tail ? `\n--- last console lines of ${relative(lastConsole!)} ---\n${tail}` : ''}`;
  }
  const result: TestResult = {
    name: updateTestName(input.scenario),
    result: input.verdict.passed ? 'pass' : 'fail',
    durationSeconds: Math.round(seconds * 1000) / 1000,
    ...(reason === undefined ? {} : { reason }),
    ...(lastConsole ? { console: relative(lastConsole) } : {}),
  };
  const report: TestReport = {
    node: input.nodePath,
    image: input.image,
    platform: 'qemu',
    arch: input.arch,
    tests: [result],
  };
  const consoles = new Map<string, string>();
  if (lastConsole)
    consoles.set(relative(lastConsole), cleanConsole(await readFile(lastConsole, 'utf8').catch(() => '')));
  await writeFile(path.join(reportDir, 'report.json'), `${canonicalStringify(report, 2)}\n`);
  await writeFile(path.join(reportDir, 'junit.xml'), toJunitXml(report, consoles));
  const bootsDocument: BootsDocument = {
    scenario: input.scenario,
    passed: input.verdict.passed,
    problems: input.verdict.problems,
    machines: input.runs.map((run) => ({
      name: run.plan.name,
      strategy: run.plan.strategy,
      ...(run.plan.rolloutWariness === undefined ? {} : { rolloutWariness: run.plan.rolloutWariness }),
      end: run.loop.end,
      boots: run.loop.boots.map((boot) => ({
        index: boot.index,
        seconds: Math.round(boot.seconds * 10) / 10,
        end:
          boot.console.end.kind === 'reboot'
            ? `reboot reason=${boot.console.end.reason}`
            : boot.console.end.kind,
        timedOut: boot.timedOut,
        ...(boot.stoppedBecause === undefined ? {} : { stoppedBecause: boot.stoppedBecause }),
        console: relative(boot.consoleFile),
      })),
    })),
    fleetLock: input.fleetLock,
  };
  await writeFile(path.join(reportDir, 'boots.json'), `${JSON.stringify(bootsDocument, null, 2)}\n`);
  return {
    total: 1,
    passed: input.verdict.passed ? 1 : 0,
    failed: input.verdict.passed ? 0 : 1,
    boots: boots.length,
    bootSeconds: Math.round(seconds * 10) / 10,
  };
}
