/**
 * The InstallTest report: report.json and junit.xml in KolaTest's format (one test named
 * `testiso.<scenario>`, so `Release` gates on it like on kola's), and boots.json with each boot's
 * seconds, console and problems (what the benchmark reads).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cleanConsole, consoleTail } from '../../lib/kola/console.ts';
import { type TestReport, type TestResult, toJunitXml } from '../../lib/kola/report.ts';
import type { ArtifactMetadata } from '../../lib/runner.ts';
import { canonicalStringify } from '../../lib/util/canonical-json.ts';
import type { InstallTestScenario } from './index.ts';

/** One boot as it went. */
export interface BootRecord {
  /** Its name (`live-install`, `installed-uefi` ...). */
  readonly name: string;
  /** Wall-clock seconds the VM ran. */
  readonly seconds: number;
  /** Its console log. */
  readonly consoleFile: string;
  /** What was wrong (empty: it passed). */
  readonly problems: readonly string[];
}

/** What the report is made of. */
export interface InstallReportInput {
  readonly nodePath: string;
  /** The live image's digest. */
  readonly live: string;
  readonly arch: string;
  readonly scenario: InstallTestScenario;
  /** The boots that ran, in order (a failed boot is the last). */
  readonly boots: readonly BootRecord[];
  /** How many boots the scenario has. */
  readonly planned: number;
  readonly passed: boolean;
}

/** The test's name in the report: kola testiso's scenario name. */
export function installTestName(scenario: InstallTestScenario): string {
  return `testiso.${scenario}`;
}

/** Writes report.json, junit.xml and boots.json into `reportDir`; returns the output's metadata. */
export async function writeInstallReport(
  reportDir: string,
  input: InstallReportInput,
): Promise<ArtifactMetadata> {
  const relative = (file: string) => path.relative(reportDir, file);
  const seconds = input.boots.reduce((total, boot) => total + boot.seconds, 0);
  const last = input.boots[input.boots.length - 1];
  let reason: string | undefined;
  if (!input.passed) {
    const problems = input.boots.flatMap((boot) =>
      boot.problems.map((problem) => `${boot.name}: ${problem}`),
    );
    if (input.boots.length < input.planned && problems.length === 0) problems.push('not every boot ran');
    const tail = last ? consoleTail(await readFile(last.consoleFile, 'utf8').catch(() => ''), 15) : '';
    reason = `${problems.join('; ')}${tail ? `\n--- last console lines of ${relative(last!.consoleFile)} ---\n${tail}` : ''}`;
  }
  const result: TestResult = {
    name: installTestName(input.scenario),
    result: input.passed ? 'pass' : 'fail',
    durationSeconds: Math.round(seconds * 1000) / 1000,
    ...(reason === undefined ? {} : { reason }),
    ...(last ? { console: relative(last.consoleFile) } : {}),
  };
  const report: TestReport = {
    node: input.nodePath,
    image: input.live,
    platform: 'metal',
    arch: input.arch,
    tests: [result],
  };
  const consoles = new Map<string, string>();
  for (const boot of input.boots)
    consoles.set(
      relative(boot.consoleFile),
      cleanConsole(await readFile(boot.consoleFile, 'utf8').catch(() => '')),
    );
  await writeFile(path.join(reportDir, 'report.json'), `${canonicalStringify(report, 2)}\n`);
  await writeFile(path.join(reportDir, 'junit.xml'), toJunitXml(report, consoles));
  const boots = input.boots.map((boot) => ({
    name: boot.name,
    seconds: Math.round(boot.seconds * 10) / 10,
    console: relative(boot.consoleFile),
    problems: boot.problems,
  }));
  await writeFile(
    path.join(reportDir, 'boots.json'),
    `${JSON.stringify({ scenario: input.scenario, passed: input.passed, boots }, null, 2)}\n`,
  );
  return {
    total: 1,
    passed: input.passed ? 1 : 0,
    failed: input.passed ? 0 : 1,
    boots: input.boots.length,
    bootSeconds: Math.round(seconds * 10) / 10,
  };
}
