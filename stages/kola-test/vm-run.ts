/**
 * One test VM: its Ignition config written (and validated), the image booted with lib/vm/qemu.ts
 * under a watchdog that stops a VM whose console shows it will never finish or that does not boot
 * in time, and each test's result read from the serial console, kola's console checks included.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseConsole } from '../../lib/kola/console.ts';
import { InvalidIgnitionConfigError, writeIgnitionConfig } from '../../lib/vm/ignition.ts';
import { type BootResult, bootDisk } from '../../lib/vm/qemu.ts';
import { BASIC_TEST_NAME, basicHostProblems } from './basic-test.ts';
import type { BootableImage } from './bootable-image.ts';
import type { KolaRunnerContext } from './runner-context.ts';
import type { PlannedTest } from './test-plan.ts';
import { vmIgnitionConfig } from './vm-config.ts';

/** One test's result within a VM. */
export interface VmTestResult {
  /** Test name. */
  readonly name: string;
  /** Whether it passed. */
  readonly passed: boolean;
  /** Why it failed (empty when it passed). */
  readonly reason: string;
}

/** What one VM gave. */
export interface VmRun {
  /** Each test's result, in the VM's order. */
  readonly results: VmTestResult[];
  /** The console log's text. */
  readonly console: string;
  /** The console log's file. */
  readonly consoleFile: string;
  /** Seconds the VM ran. */
  readonly seconds: number;
}

/** Console lines that mean a boot will never finish: the VM is stopped at once. */
const FATAL_CONSOLE = /Kernel panic - not syncing|FCOS-CDK: initramfs failed/;

/** The platform the harness boots. */
const PLATFORM = 'qemu';

/** Boots one VM with `tests`, and reads each test's result from its console. */
export async function runVm(
  context: KolaRunnerContext,
  image: BootableImage,
  tests: readonly PlannedTest[],
  label: string,
  reportDir: string,
  attempt: number,
): Promise<VmRun> {
  const { props } = context;
  const config = path.join(context.workDir, `${label}.ign`);
  try {
    await writeIgnitionConfig(vmIgnitionConfig(tests, attempt), config, {
      signal: context.signal,
      constructPath: context.nodePath,
    });
  } catch (error) {
    if (!(error instanceof InvalidIgnitionConfigError)) throw error;
    // Each test's own config passed (test-configs.ts): what fails is them together, or the harness's part.
    throw new InvalidIgnitionConfigError(
      `${label}: the merged Ignition config of ${tests.map((test) => test.name).join(', ')} (${config}) is invalid, though each test's own config is valid: ${error.message}`,
      { constructPath: context.nodePath, field: 'tests', cause: error },
    );
  }
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
      arch: image.arch,
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
    boot = {
      console: await readFile(consoleFile, 'utf8').catch(() => ''),
      timedOut: false,
      seconds: 0,
      timeline: [],
    };
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
    // kola's console checks fail every test of the VM, unless the test opted out (skip-base-checks).
    const problems = test.skipBaseChecks ? [] : [...report.failures];
    if (!guest) problems.unshift(`no result: ${ended} before the test reported`);
    else if (!guest.passed) problems.unshift(guest.reason || 'failed');
    if (test.name === BASIC_TEST_NAME && guest?.passed) problems.push(...basicHostProblems(report, PLATFORM));
    return { name: test.name, passed: problems.length === 0, reason: problems.join('; ') };
  });
  context.log(
    `${label}: ${results.map((result) => `${result.name} ${result.passed ? 'pass' : 'FAIL'}`).join(', ')} in ${boot.seconds.toFixed(1)} s`,
  );
  return { results, console: boot.console, consoleFile, seconds: boot.seconds };
}
