/**
 * The KolaTest report: report.json (canonical JSON) and junit.xml (lib/kola/report.ts) in the report
 * directory, the node's failure when a test failed (naming it, with its console's last lines), and
 * the counts recorded as the output's metadata.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { consoleTail } from '../../lib/kola/console.ts';
import { type TestReport, type TestResult, toJunitXml } from '../../lib/kola/report.ts';
import type { ArtifactMetadata } from '../../lib/runner.ts';
import { canonicalStringify } from '../../lib/util/canonical-json.ts';
import { KolaTestFailedError } from './errors.ts';
import type { KolaRunnerContext } from './runner-context.ts';

/** What the report needs besides the node: every result, the consoles, the warnings. */
export interface ReportInput {
  /** Results of every test, run or skipped. */
  readonly results: Iterable<TestResult>;
  /** Cleaned console text by path relative to the report directory. */
  readonly consoles: ReadonlyMap<string, string>;
  /** Warnings about the tests directory not tied to one test. */
  readonly warnings: readonly string[];
}

/** Writes report.json and junit.xml, throws if a test failed, else returns the counts. */
export async function writeReport(
  context: KolaRunnerContext,
  reportDir: string,
  input: ReportInput,
): Promise<ArtifactMetadata> {
  const image = context.inputs.image!;
  for (const warning of input.warnings) context.log(`warning: ${warning}`);
  const report: TestReport = {
    node: context.nodePath,
    image: image.digest,
    platform: 'qemu',
    arch: String(image.metadata.arch ?? 'x86_64'),
    tests: [...input.results].sort((a, b) => a.name.localeCompare(b.name)),
    ...(input.warnings.length > 0 ? { warnings: input.warnings } : {}),
  };
  for (const test of report.tests) {
    for (const warning of test.warnings ?? []) context.log(`warning: ${test.name}: ${warning}`);
  }
  await writeFile(path.join(reportDir, 'report.json'), `${canonicalStringify(report, 2)}\n`);
  await writeFile(path.join(reportDir, 'junit.xml'), toJunitXml(report, input.consoles));
  const failures = report.tests.filter((test) => test.result === 'fail');
  if (failures.length > 0) {
    const first = failures[0]!;
    const tail = consoleTail(input.consoles.get(first.console ?? '') ?? '', 20);
    context.log(`report:\n${canonicalStringify(report, 2)}`);
    throw new KolaTestFailedError(
      `${failures.length} test${failures.length === 1 ? '' : 's'} failed: ${failures.map((test) => test.name).join(', ')}; ${first.name}: ${first.reason}\n--- last console lines of ${first.name} ---\n${tail}`,
      { constructPath: context.nodePath, field: 'tests' },
    );
  }
  const count = (result: TestResult['result']) =>
    report.tests.filter((test) => test.result === result).length;
  return {
    total: report.tests.length,
    passed: count('pass'),
    skipped: count('skip'),
    flaky: count('flaky'),
    warned: count('warn'),
  };
}
