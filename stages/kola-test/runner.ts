/**
 * The KolaTest runner: plans the tests (test-plan.ts), checks their own Ignition configs before
 * anything boots (test-configs.ts), boots them in VMs and reruns failures
 * (reruns.ts, vm-run.ts, vm-config.ts), and writes the report (test-report.ts). Its fingerprint is
 * the tests directory's and the denylist's contents.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256Bytes } from '../../lib/cache/hash.ts';
import { defineRunner } from '../../lib/runner.ts';
import { directoryListing } from '../../lib/util/directory-listing.ts';
import { vmProblem } from '../../lib/vm/machines.ts';
import { bootableImage } from './bootable-image.ts';
import { KolaTestFailedError } from './errors.ts';
import { kolaTestKind } from './index.ts';
import { runTests } from './reruns.ts';
import { checkTestConfigs } from './test-configs.ts';
import { planTests } from './test-plan.ts';
import { writeReport } from './test-report.ts';

export { KolaTestFailedError, NoMatchingTestError } from './errors.ts';

export default defineRunner(kolaTestKind, {
  timeoutSeconds: 3600,

  /** The external tests' and the denylist's contents (the QEMU and firmware packages come with the image). */
  async fingerprint(context) {
    const { props, projectDir } = context;
    const testsDir = path.resolve(projectDir, props.testsDir);
    const files: Record<string, string> = {};
    if (existsSync(testsDir)) {
      for (const [name, entry] of Object.entries(await directoryListing(testsDir)))
        files[`tests/${name}`] = entry;
    }
    if (props.denylist) {
      const denylist = path.resolve(projectDir, props.denylist);
      files.denylist = existsSync(denylist) ? sha256Bytes(await readFile(denylist)) : 'missing';
    }
    return { files };
  },

  /** Plans, boots, reruns and reports; fails when a test failed. */
  async run(context) {
    const arch = String(context.inputs.image!.metadata.arch ?? 'x86_64');
    // The harness boots the image's arch (lib/vm/machines.ts); synthesis checked this already.
    const problem = vmProblem(arch, context.props.firmware);
    if (problem) {
      throw new KolaTestFailedError(problem.message, {
        constructPath: context.nodePath,
        field: problem.field === 'arch' ? 'image' : problem.field,
      });
    }
    const plan = await planTests({
      props: context.props,
      projectDir: context.projectDir,
      arch,
      platform: 'qemu',
      today: new Date(),
    });
    // Before anything boots (or is decompressed): a test's invalid config.ign is named in its file.
    const planned = await checkTestConfigs(context, plan.planned);
    const image = await bootableImage(context);
    const reportDir = path.join(context.workDir, 'report');
    await mkdir(reportDir, { recursive: true });
    const runs = await runTests(context, image, planned, reportDir);
    const metadata = await writeReport(context, reportDir, {
      results: [...plan.skipped, ...runs.results.values()],
      consoles: runs.consoles,
      warnings: plan.warnings,
    });
    return { report: { storage: 'tree', path: reportDir, metadata } };
  },
});
