/**
 * Running the planned tests in VMs and kola's rerun rule: tests are grouped into VMs (each
 * exclusive test alone, the others together in as few VMs as their `conflicts` allow), VMs run
 * `parallelism` at a time, failed tests run once more (with attempt number 2), and a test that then
 * passes is flaky. A test whose failure is only a warning is not rerun.
 */
import path from 'node:path';
import { cleanConsole } from '../../lib/kola/console.ts';
import type { TestResult } from '../../lib/kola/report.ts';
import type { BootableImage } from './bootable-image.ts';
import type { KolaRunnerContext } from './runner-context.ts';
import type { PlannedTest } from './test-plan.ts';
import { runVm, type VmRun } from './vm-run.ts';

/** The results of every test that ran, and the consoles by report-relative path. */
export interface TestRuns {
  /** Results by test name. */
  readonly results: Map<string, TestResult>;
  /** Cleaned console text by path relative to the report directory. */
  readonly consoles: Map<string, string>;
}

/**
 * Groups tests into VMs: each exclusive test alone; the others in buckets the way kola's
 * createTestBuckets fills them (first bucket without a conflicting test, conflicts symmetric).
 */
export function groupIntoVms(tests: readonly PlannedTest[]): PlannedTest[][] {
  const conflicting = (a: PlannedTest, b: PlannedTest) =>
    a.conflicts.includes(b.name) || b.conflicts.includes(a.name);
  const buckets: PlannedTest[][] = [];
  for (const test of tests.filter((candidate) => !candidate.exclusive)) {
    const bucket = buckets.find((members) => !members.some((member) => conflicting(member, test)));
    if (bucket) bucket.push(test);
    else buckets.push([test]);
  }
  return [...buckets, ...tests.filter((test) => test.exclusive).map((test) => [test])];
}

/** Runs `tasks` with at most `limit` at once, keeping their order in the results. */
async function inBatches<T>(tasks: ReadonlyArray<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** Boots the VMs of `tests`, labelled `<labelPrefix><n>`, `parallelism` at a time. */
async function runVms(
  context: KolaRunnerContext,
  image: BootableImage,
  vms: readonly PlannedTest[][],
  labelPrefix: string,
  reportDir: string,
  attempt: number,
): Promise<VmRun[]> {
  return inBatches(
    vms.map(
      (tests, index) => () => runVm(context, image, tests, `${labelPrefix}${index + 1}`, reportDir, attempt),
    ),
    context.props.parallelism,
  );
}

/** Runs every planned test, then reruns the failed ones once when `rerunFailed` is set. */
export async function runTests(
  context: KolaRunnerContext,
  image: BootableImage,
  planned: readonly PlannedTest[],
  reportDir: string,
): Promise<TestRuns> {
  const results = new Map<string, TestResult>();
  const consoles = new Map<string, string>();
  const vms = groupIntoVms(planned);
  const runs = await runVms(context, image, vms, 'vm', reportDir, 1);
  const failed: PlannedTest[] = [];
  runs.forEach((run, index) => {
    const relative = path.relative(reportDir, run.consoleFile);
    consoles.set(relative, cleanConsole(run.console));
    for (const result of run.results) {
      const test = vms[index]!.find((candidate) => candidate.name === result.name)!;
      if (!result.passed && !test.warnOnly) failed.push(test);
      results.set(result.name, {
        name: result.name,
        result: result.passed ? 'pass' : test.warnOnly ? 'warn' : 'fail',
        durationSeconds: run.seconds,
        ...(result.passed ? {} : { reason: result.reason }),
        console: relative,
        ...(test.warnings.length > 0 ? { warnings: test.warnings } : {}),
      });
    }
  });
  if (!context.props.rerunFailed || failed.length === 0) return { results, consoles };
  context.log(`rerunning ${failed.map((test) => test.name).join(', ')}`);
  const reruns = await runVms(context, image, groupIntoVms(failed), 'rerun', reportDir, 2);
  for (const run of reruns) {
    const relative = path.relative(reportDir, run.consoleFile);
    consoles.set(relative, cleanConsole(run.console));
    for (const result of run.results) {
      if (!result.passed) continue;
      const first = results.get(result.name);
      results.set(result.name, {
        name: result.name,
        result: 'flaky',
        durationSeconds: run.seconds,
        reason: `failed, then passed on rerun: ${first?.reason ?? ''}`,
        console: relative,
        ...(first?.warnings ? { warnings: first.warnings } : {}),
      });
    }
  }
  return { results, consoles };
}
