/**
 * The three update tests for real, through the binaries on a copy of the project (issue #12): the
 * local profile's UpgradeTest, RollbackTest and RolloutTest and what they need (the previous and
 * broken releases, the current build) are built and run by fcos-run; every scenario passes with the
 * boots it should take, each boot's console is kept, and FleetLock saw the slot taken and given
 * back. QEMU under TCG, one VM at a time; every boot has its own hard limit inside the runner.
 */
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeTempProject, REPO_ROOT } from './helpers/temp-project.ts';

/** Runs one of the bins in `directory`, killed after `timeoutSeconds`. */
function bin(directory: string, timeoutSeconds: number, name: string, ...args: string[]) {
  return execa('node', [path.join(REPO_ROOT, 'bin', `${name}.js`), ...args], {
    cwd: directory,
    reject: false,
    timeout: timeoutSeconds * 1000,
    killSignal: 'SIGTERM',
  });
}

/** What boots.json records. */
interface BootsDocument {
  readonly passed: boolean;
  readonly problems: readonly string[];
  readonly machines: ReadonlyArray<{
    readonly name: string;
    readonly end: string;
    readonly boots: ReadonlyArray<{
      readonly seconds: number;
      readonly end: string;
      readonly console: string;
    }>;
  }>;
  readonly fleetLock: ReadonlyArray<{
    readonly action: string;
    readonly id: string;
    readonly granted: boolean;
  }>;
}

const TESTS = ['UpgradeTest', 'RollbackTest', 'RolloutTest'] as const;

describe('the update tests of the local profile', () => {
  let directory: string;
  let run: Awaited<ReturnType<typeof bin>>;

  /** A scenario's report directory in the copy. */
  const reportDir = (test: string) =>
    path.join(directory, `fcos.out/artifacts/testing/x86_64/${test}/report`);
  /** A scenario's boots.json. */
  const bootsOf = async (test: string): Promise<BootsDocument> =>
    JSON.parse(await readFile(path.join(reportDir(test), 'boots.json'), 'utf8'));

  beforeAll(async () => {
    directory = await makeTempProject('fcos-update-');
    for (const entry of ['pipeline.ts', 'local-os']) {
      await cp(path.join(REPO_ROOT, entry), path.join(directory, entry), { recursive: true });
    }
    const synth = await bin(directory, 60, 'fcos-synth');
    expect(synth.stderr).toBe('');
    // One VM at a time (2 cores): the vm budget fits one 1 GiB machine.
    const only = TESTS.flatMap((test) => ['--only', `testing/x86_64/${test}`]);
    run = await bin(directory, 1500, 'fcos-run', '--plain', '--vm-memory', '1536', ...only);
  }, 1_600_000);

  it('runs all three through fcos-run and each passes', async () => {
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    for (const test of TESTS) {
      expect(run.stdout).toContain(
        `tests: fcos.out/artifacts/testing/x86_64/${test}/report (1 passed, 0 skipped, 0 flaky)`,
      );
      const report = JSON.parse(await readFile(path.join(reportDir(test), 'report.json'), 'utf8'));
      expect(
        report.tests.map((entry: { name: string; result: string }) => [entry.name, entry.result]),
      ).toEqual([
        [
          `update.${{ UpgradeTest: 'upgrade', RollbackTest: 'rollback', RolloutTest: 'rollout' }[test]}`,
          'pass',
        ],
      ]);
    }
  });

  it('upgrade: two boots (stage and reboot, then power off), the FleetLock slot taken and given back', async () => {
    const boots = await bootsOf('UpgradeTest');
    expect(boots.problems).toEqual([]);
    expect(boots.machines[0]!.boots.map((boot) => boot.end)).toEqual(['reboot reason=update', 'power-off']);
    expect(boots.fleetLock.map((event) => [event.action, event.granted])).toEqual([
      ['pre-reboot', true],
      ['steady-state', true],
    ]);
    const console = await readFile(
      path.join(reportDir('UpgradeTest'), boots.machines[0]!.boots[1]!.console),
      'utf8',
    );
    expect(console).toContain('FCOS-CDK: agent fleet-lock released group=default');
  });

  it('rollback: stage, two unhealthy trial boots, the fallback boot powers off', async () => {
    const boots = await bootsOf('RollbackTest');
    expect(boots.problems).toEqual([]);
    expect(boots.machines[0]!.boots.map((boot) => boot.end)).toEqual([
      'reboot reason=update',
      'reboot reason=health-check',
      'reboot reason=health-check',
      'power-off',
    ]);
    const last = await readFile(
      path.join(reportDir('RollbackTest'), boots.machines[0]!.boots[3]!.console),
      'utf8',
    );
    expect(last).toMatch(/FCOS-CDK: rollback from=41\.\d{8}\.2\.1 /);
    expect(last).toMatch(/FCOS-CDK: agent update skipped version=41\.\d{8}\.2\.1 reason=denylisted/);
  });

  it('rollout: the wary machine powers off with no update, the eager one stages and reboots', async () => {
    const boots = await bootsOf('RolloutTest');
    expect(boots.problems).toEqual([]);
    expect(boots.machines.map((machine) => [machine.name, machine.boots.map((boot) => boot.end)])).toEqual([
      ['wary', ['power-off']],
      ['eager', ['reboot reason=update']],
    ]);
  });
});
