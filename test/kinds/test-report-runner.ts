/** The runner of the test-only TestReport kind (release-doubles.ts): a KolaTest-shaped report.json. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FcosError } from '../../lib/errors.ts';
import { defineRunner } from '../../lib/runner.ts';
import { canonicalStringify } from '../../lib/util/canonical-json.ts';
import { testReportKind } from './release-doubles.ts';

/** TestReport: report.json with the given results; fails on a failed test unless tolerating. */
export default defineRunner(testReportKind, {
  async run(context) {
    const directory = path.join(context.workDir, 'report');
    await mkdir(directory);
    const tests = context.props.results.map((test) => ({ ...test, durationSeconds: 1 }));
    const report = { node: context.nodePath, image: '0'.repeat(64), platform: 'qemu', arch: 'x86_64', tests };
    await writeFile(path.join(directory, 'report.json'), `${canonicalStringify(report, 2)}\n`);
    const failed = tests.filter((test) => test.result === 'fail').map((test) => test.name);
    if (failed.length > 0 && !context.props.tolerateFailures) {
      throw new FcosError(
        `${failed.length} test${failed.length === 1 ? '' : 's'} failed: ${failed.join(', ')}`,
        {
          constructPath: context.nodePath,
          field: 'tests',
        },
      );
    }
    // The counts KolaTest's report records.
    const count = (result: string) => tests.filter((test) => test.result === result).length;
    const metadata = {
      total: tests.length,
      passed: count('pass'),
      failed: failed.length,
      skipped: count('skip'),
    };
    return { report: { storage: 'tree', path: directory, metadata } };
  },
});
