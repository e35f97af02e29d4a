/**
 * The KolaTest runner: plans the tests (selection, denylist), groups them into VMs, boots each VM
 * under QEMU with an Ignition config, reads the results from the serial console, reruns failures
 * once, and writes the JSON and JUnit reports.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256Bytes } from '../../lib/cache/hash.ts';
import { FcosError } from '../../lib/errors.ts';
import { type ConsoleReport, cleanConsole, consoleTail, parseConsole } from '../../lib/kola/console.ts';
import { judge, readDenylist } from '../../lib/kola/denylist.ts';
import { admits, discoverExternalTests } from '../../lib/kola/external-tests.ts';
import { type TestReport, type TestResult, toJunitXml } from '../../lib/kola/report.ts';
import { globMatcher } from '../../lib/run/glob.ts';
import { defineRunner, type NodeProps, type RunnerContext } from '../../lib/runner.ts';
import { canonicalStringify } from '../../lib/util/canonical-json.ts';
import { directoryListing } from '../../lib/util/directory-listing.ts';
import {
  IGNITION_SPEC_VERSION,
  type IgnitionConfig,
  inlineFile,
  mergeIgnitionJson,
  writeIgnitionConfig,
} from '../../lib/vm/ignition.ts';
import { type BootResult, bootDisk } from '../../lib/vm/qemu.ts';
import { type KolaTestConfig, kolaTestKind } from './index.ts';

/** Props of the node as its runner receives them. */
type KolaRunnerProps = NodeProps<KolaTestConfig>;

/** A test to run: the built-in `basic`, or an external test. */
interface PlannedTest {
  /** Test name (`basic`, `ext.hello`). */
  readonly name: string;
  /** The guest executable's contents. */
  readonly script: Buffer;
  /** Time limit inside the guest, seconds. */
  readonly timeoutSeconds: number;
  /** Memory its VM needs, MiB. */
  readonly minMemoryMiB: number;
  /** Needs a VM of its own. */
  readonly exclusive: boolean;
  /** The denylist turns its failure into a warning. */
  readonly warnOnly: boolean;
  /** The test's own Ignition config, merged into its VM's (such a test gets a VM of its own). */
  readonly ignitionConfig?: Record<string, unknown>;
}

/** One test's result within a VM. */
interface VmTestResult {
  readonly name: string;
  readonly passed: boolean;
  readonly reason: string;
}

/** A test failed; the message names it and shows the console's last lines. */
export class KolaTestFailedError extends FcosError {}

/** The name and contents of the file the built-in `basic` test checks. */
const BASIC_FILE = {
  path: '/etc/fcos-cdk/basic.txt',
  contents: 'written by Ignition for kola basic\n',
  mode: 0o640,
};

/** The guest side of `basic`: the Ignition file with its mode and contents, the user, a read-only /usr. */
const BASIC_SCRIPT = `#!/usr/bin/sh
# kola basic, guest side: what Ignition wrote is there, the user exists, /usr is read-only.
set -e
test "$(cat ${BASIC_FILE.path})" = "${BASIC_FILE.contents.trim()}" || { echo "wrong contents in ${BASIC_FILE.path}"; exit 1; }
test "$(stat -c %a ${BASIC_FILE.path})" = "${BASIC_FILE.mode.toString(8)}" || { echo "wrong mode of ${BASIC_FILE.path}: $(stat -c %a ${BASIC_FILE.path})"; exit 1; }
id core >/dev/null 2>&1 || { echo "user core does not exist"; exit 1; }
test -d /home/core || { echo "home directory of core is missing"; exit 1; }
if touch /usr/.kola-write-probe 2>/dev/null; then echo "/usr is writable"; exit 1; fi
echo "basic: file, user and read-only /usr as expected"
`;

/** Console lines that mean a boot will never finish: the VM is stopped at once. */
const FATAL_CONSOLE = /Kernel panic - not syncing|FCOS-CDK: initramfs failed/;

/** The Ignition config of a VM: basic's file and user, each test's executable, the attempt number. */
function vmIgnitionConfig(tests: readonly PlannedTest[], attempt: number): unknown {
  const files = [
    inlineFile(BASIC_FILE.path, BASIC_FILE.contents, BASIC_FILE.mode),
    // Tests can tell a rerun from the first run (kola reruns failed tests once).
    inlineFile('/etc/fcos-cdk/attempt', `${attempt}\n`),
  ];
  for (const test of tests) {
    files.push(inlineFile(`/etc/fcos-cdk/tests/${test.name}/test`, test.script, 0o755));
    files.push(inlineFile(`/etc/fcos-cdk/tests/${test.name}/timeout`, `${test.timeoutSeconds}\n`));
  }
  const base: IgnitionConfig = {
    ignition: { version: IGNITION_SPEC_VERSION },
    passwd: { users: [{ name: 'core', uid: 1000, gecos: 'CoreOS Admin' }] },
    storage: { files },
  };
  return tests.reduce<unknown>((config, test) => mergeIgnitionJson(config, test.ignitionConfig), base);
}

/** Host-side checks of `basic` on a console: deployment, platform, Ignition, user, no failure pattern. */
function basicHostProblems(report: ConsoleReport, platform: string): string[] {
  const problems: string[] = [];
  if (!report.deployment || report.deployment === 'none' || report.deployment.startsWith('unresolved')) {
    problems.push(`not booted from an ostree deployment (${report.deployment ?? 'no report'})`);
  }
  if (report.platform !== platform)
    problems.push(`platform id is '${report.platform ?? 'unknown'}', expected '${platform}'`);
  if (report.usrReadOnly !== true) problems.push('/usr is not read-only');
  if (report.ignitionResult !== true) problems.push('Ignition did not run');
  if (!report.users.some((user) => user.name === 'core' && user.uid === 1000))
    problems.push('user core (uid 1000) not created');
  return problems;
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

/** The image as QEMU can open it: decompressed into the work dir when it is xz, gzip or zstd. */
async function bootableImage(
  context: RunnerContext<KolaRunnerProps>,
): Promise<{ file: string; format: 'qcow2' | 'raw' }> {
  const image = context.inputs.image!;
  const name = String(image.metadata.path ?? image.metadata.fileName ?? path.basename(image.path));
  const format = /\.qcow2(\.|$)/.test(name) || image.metadata.format === 'qcow2' ? 'qcow2' : 'raw';
  const compression = /\.(xz|gz|zst)$/.exec(name)?.[1];
  if (!compression) return { file: image.path, format };
  const file = path.join(context.workDir, `image.${format}`);
  const tool = { xz: 'xz', gz: 'gzip', zst: 'zstd' }[compression]!;
  await context.exec('sh', ['-c', `${tool} -dc "$1" > "$2"`, 'decompress', image.path, file]);
  return { file, format };
}

/** The tests the props select, with the denylist applied; skipped ones are returned as results. */
async function planTests(
  context: RunnerContext<KolaRunnerProps>,
): Promise<{ planned: PlannedTest[]; skipped: TestResult[] }> {
  const { props, projectDir } = context;
  const arch = String(context.inputs.image!.metadata.arch ?? 'x86_64');
  const external = await discoverExternalTests(path.resolve(projectDir, props.testsDir));
  const denylist = props.denylist ? await readDenylist(path.resolve(projectDir, props.denylist)) : [];
  const candidates: Array<
    PlannedTest & { tags: readonly string[]; arches?: readonly string[]; platforms?: readonly string[] }
  > = [
    {
      name: 'basic',
      script: Buffer.from(BASIC_SCRIPT),
      timeoutSeconds: 60,
      minMemoryMiB: 0,
      exclusive: false,
      warnOnly: false,
      tags: ['basic'],
    },
    ...(await Promise.all(
      external.map(async (test) => ({
        name: test.name,
        script: await readFile(path.join(test.directory, test.executable)),
        timeoutSeconds: Math.round((test.metadata.timeoutMin ?? 2) * 60),
        minMemoryMiB: test.metadata.minMemory ?? 0,
        exclusive: (test.metadata.exclusive ?? false) || test.ignitionConfig !== undefined,
        warnOnly: false,
        ...(test.ignitionConfig ? { ignitionConfig: test.ignitionConfig } : {}),
        tags: test.metadata.tags ?? [],
        ...(test.metadata.architectures ? { arches: test.metadata.architectures } : {}),
        ...(test.metadata.platforms ? { platforms: test.metadata.platforms } : {}),
      })),
    )),
  ];
  const wanted = (name: string) => props.tests.some((pattern) => globMatcher(pattern)(name));
  const planned: PlannedTest[] = [];
  const skipped: TestResult[] = [];
  for (const test of candidates) {
    if (!wanted(test.name)) continue;
    if (props.tags.length > 0 && !test.tags.some((tag) => props.tags.includes(tag))) continue;
    if (!admits(test.arches, arch) || !admits(test.platforms, 'qemu')) {
      skipped.push({
        name: test.name,
        result: 'skip',
        durationSeconds: 0,
        reason: `not for ${arch} on qemu`,
      });
      continue;
    }
    const verdict = judge(denylist, {
      test: test.name,
      arch,
      platform: 'qemu',
      ...(props.stream ? { stream: props.stream } : {}),
      today: new Date(),
    });
    if (verdict.action === 'skip') {
      skipped.push({
        name: test.name,
        result: 'skip',
        durationSeconds: 0,
        reason: `denylisted${verdict.entry.tracker ? ` (${verdict.entry.tracker})` : ''}`,
      });
      continue;
    }
    planned.push({ ...test, warnOnly: verdict.action === 'warn' });
  }
  return { planned, skipped };
}

/** Boots one VM with `tests`, and reads each test's result from its console. */
async function runVm(
  context: RunnerContext<KolaRunnerProps>,
  image: { file: string; format: 'qcow2' | 'raw' },
  tests: readonly PlannedTest[],
  label: string,
  reportDir: string,
  attempt: number,
): Promise<{ results: VmTestResult[]; console: string; consoleFile: string; seconds: number }> {
  const { props } = context;
  const config = path.join(context.workDir, `${label}.ign`);
  await writeIgnitionConfig(vmIgnitionConfig(tests, attempt), config, {
    signal: context.signal,
    constructPath: context.nodePath,
  });
  const consoleFile = path.join(reportDir, 'consoles', `${label}.log`);
  await mkdir(path.dirname(consoleFile), { recursive: true });
  const stop = new AbortController();
  const bootDeadline = Date.now() + props.bootTimeoutSeconds * 1000;
  // Stops the VM as soon as the console shows it will never finish, or it has not booted in time.
  const watchdog = setInterval(() => {
    readFile(consoleFile, 'utf8')
      .catch(() => '')
      .then((text) => {
        if (FATAL_CONSOLE.test(text)) stop.abort(new Error('the boot failed'));
        else if (!/^FCOS-CDK: booted /m.test(text) && Date.now() > bootDeadline) {
          stop.abort(new Error(`the OS did not boot in ${props.bootTimeoutSeconds} s`));
        }
      });
  }, 1000);
  const timeoutSeconds =
    props.bootTimeoutSeconds + tests.reduce((total, test) => total + test.timeoutSeconds, 0);
  context.log(`${label}: booting ${tests.map((test) => test.name).join(', ')} (limit ${timeoutSeconds} s)`);
  let boot: BootResult;
  try {
    boot = await bootDisk({
      disk: image.file,
      format: image.format,
      firmware: props.firmware,
      consoleLog: consoleFile,
      timeoutSeconds,
      ignitionConfig: config,
      memoryMiB: Math.max(props.memoryMiB, ...tests.map((test) => test.minMemoryMiB)),
      accelerator: props.accelerator,
      signal: AbortSignal.any([context.signal, stop.signal]),
      log: context.log,
    });
  } catch (error) {
    context.signal.throwIfAborted();
    if (!stop.signal.aborted) throw error;
    boot = { console: await readFile(consoleFile, 'utf8').catch(() => ''), timedOut: false, seconds: 0 };
  } finally {
    clearInterval(watchdog);
  }
  const report = parseConsole(boot.console);
  const ended = boot.timedOut
    ? `the VM was killed after ${timeoutSeconds} s`
    : stop.signal.aborted
      ? `${(stop.signal.reason as Error).message}, the VM was stopped`
      : 'the VM stopped';
  const results = tests.map((test): VmTestResult => {
    const guest = report.tests.find((result) => result.name === test.name);
    const problems = [...report.failures];
    if (!guest) problems.unshift(`no result: ${ended} before the test reported`);
    else if (!guest.passed) problems.unshift(guest.reason || 'failed');
    if (test.name === 'basic' && guest?.passed) problems.push(...basicHostProblems(report, 'qemu'));
    return { name: test.name, passed: problems.length === 0, reason: problems.join('; ') };
  });
  context.log(
    `${label}: ${results.map((result) => `${result.name} ${result.passed ? 'pass' : 'FAIL'}`).join(', ')} in ${boot.seconds.toFixed(1)} s`,
  );
  return { results, console: boot.console, consoleFile, seconds: boot.seconds };
}

/** Groups tests into VMs: each exclusive test alone, the others together. */
function groupIntoVms(tests: readonly PlannedTest[]): PlannedTest[][] {
  const shared = tests.filter((test) => !test.exclusive);
  return [
    ...(shared.length > 0 ? [shared] : []),
    ...tests.filter((test) => test.exclusive).map((test) => [test]),
  ];
}

export default defineRunner(kolaTestKind, {
  timeoutSeconds: 3600,

  /** The external tests' and the denylist's contents, and the QEMU and firmware packages. */
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

  async run(context) {
    const { props } = context;
    const arch = String(context.inputs.image!.metadata.arch ?? 'x86_64');
    if (arch !== 'x86_64') {
      throw new KolaTestFailedError(
        `the QEMU harness boots x86_64 guests (qemu-system-x86_64); a ${arch} image needs its own emulator and firmware, not supported yet`,
        { constructPath: context.nodePath, field: 'image' },
      );
    }
    const { planned, skipped } = await planTests(context);
    const image = await bootableImage(context);
    const reportDir = path.join(context.workDir, 'report');
    await mkdir(reportDir, { recursive: true });
    const consoles = new Map<string, string>();
    const results = new Map<string, TestResult>(skipped.map((result) => [result.name, result]));
    const vms = groupIntoVms(planned);
    const runs = await inBatches(
      vms.map((tests, index) => () => runVm(context, image, tests, `vm${index + 1}`, reportDir, 1)),
      props.parallelism,
    );
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
        });
      }
    });
    if (props.rerunFailed && failed.length > 0) {
      context.log(`rerunning ${failed.map((test) => test.name).join(', ')}`);
      const reruns = await inBatches(
        groupIntoVms(failed).map(
          (tests, index) => () => runVm(context, image, tests, `rerun${index + 1}`, reportDir, 2),
        ),
        props.parallelism,
      );
      for (const run of reruns) {
        const relative = path.relative(reportDir, run.consoleFile);
        consoles.set(relative, cleanConsole(run.console));
        for (const result of run.results) {
          if (!result.passed) continue;
          results.set(result.name, {
            name: result.name,
            result: 'flaky',
            durationSeconds: run.seconds,
            reason: `failed, then passed on rerun: ${results.get(result.name)?.reason ?? ''}`,
            console: relative,
          });
        }
      }
    }
    const report: TestReport = {
      node: context.nodePath,
      image: context.inputs.image!.digest,
      platform: 'qemu',
      arch: String(context.inputs.image!.metadata.arch ?? 'x86_64'),
      tests: [...results.values()].sort((a, b) => a.name.localeCompare(b.name)),
    };
    await writeFile(path.join(reportDir, 'report.json'), `${canonicalStringify(report, 2)}\n`);
    await writeFile(path.join(reportDir, 'junit.xml'), toJunitXml(report, consoles));
    const failures = report.tests.filter((test) => test.result === 'fail');
    if (failures.length > 0) {
      const first = failures[0]!;
      const tail = consoleTail(consoles.get(first.console ?? '') ?? '', 20);
      context.log(`report:\n${canonicalStringify(report, 2)}`);
      throw new KolaTestFailedError(
        `${failures.length} test${failures.length === 1 ? '' : 's'} failed: ${failures.map((test) => test.name).join(', ')}; ${first.name}: ${first.reason}\n--- last console lines of ${first.name} ---\n${tail}`,
        { constructPath: context.nodePath, field: 'tests' },
      );
    }
    const count = (result: TestResult['result']) =>
      report.tests.filter((test) => test.result === result).length;
    return {
      report: {
        storage: 'tree',
        path: reportDir,
        metadata: {
          total: report.tests.length,
          passed: count('pass'),
          skipped: count('skip'),
          flaky: count('flaky'),
          warned: count('warn'),
        },
      },
    };
  },
});
