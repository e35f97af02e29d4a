/**
 * The update agent's robustness in real machines (issue #12 part 6), through the binaries on a copy
 * of the project: test/fixtures/update-robustness/pipeline.ts builds the local profile's previous
 * and current releases (packages, composes, the previous disk and qemu image, as pipeline.ts does)
 * in a cache of its own and runs the two robustness scenarios of UpdateTest, one VM at a time.
 * fleet-lock-full: every slot of the machine's group is held, the agent gives up and the machine
 * powers off on its release; a slot freed, it is powered on again, takes the slot, reboots into the
 * update and gives the slot back. interrupted-pull: QEMU is killed while the agent pulls the update
 * (the objects served slowly); powered on again, the agent pulls again, stages, reboots, and the
 * system repository passes ostree fsck. Each boot has its time limit (240 s), each scenario 1800 s,
 * and the whole run this file's timeout: fcos-run kills QEMU's process group when it is stopped.
 */
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BootsDocument } from '../stages/update-test/report.ts';
import { makeTempProject, REPO_ROOT } from './helpers/temp-project.ts';

/** The whole cold run's limit: building the releases (~2 min) and six boots with their waits. */
const RUN_TIMEOUT_MS = 1_500_000;
/** The scenarios' nodes. */
const TESTS = {
  'fleet-lock-full': 'FleetLockFullTest',
  'interrupted-pull': 'InterruptedPullTest',
} as const;

describe('the update agent in a machine, when things go wrong', () => {
  let directory: string;
  let run: Awaited<ReturnType<typeof execa>>;
  let runSeconds: number;

  beforeAll(async () => {
    directory = await makeTempProject('fcos-robustness-');
    await cp(path.join(REPO_ROOT, 'local-os'), path.join(directory, 'local-os'), { recursive: true });
    await cp(
      path.join(REPO_ROOT, 'test/fixtures/update-robustness/pipeline.ts'),
      path.join(directory, 'pipeline.ts'),
    );
    const bin = (name: string, ...args: string[]) =>
      execa('node', [path.join(REPO_ROOT, 'bin', `${name}.js`), ...args], {
        cwd: directory,
        reject: false,
        // SIGTERM first: fcos-run cancels its nodes and kills every tool's process group (QEMU's).
        timeout: RUN_TIMEOUT_MS - 60_000,
        killSignal: 'SIGTERM',
      });
    const synth = await bin('fcos-synth');
    expect(synth.stderr).toBe('');
    const started = performance.now();
    run = await bin('fcos-run', '--plain');
    runSeconds = (performance.now() - started) / 1000;
  }, RUN_TIMEOUT_MS);

  /** A scenario's report directory. */
  const reportDir = (scenario: keyof typeof TESTS) =>
    path.join(directory, `fcos.out/artifacts/testing/x86_64/${TESTS[scenario]}/report`);
  /** A scenario's boots.json, its boots' seconds printed for the benchmark. */
  const bootsOf = async (scenario: keyof typeof TESTS): Promise<BootsDocument> => {
    const document: BootsDocument = JSON.parse(
      await readFile(path.join(reportDir(scenario), 'boots.json'), 'utf8'),
    );
    const seconds = document.machines.flatMap((machine) => machine.boots.map((boot) => boot.seconds));
    console.log(
      `${scenario}: ${seconds.length} boots, ${seconds.reduce((total, value) => total + value, 0).toFixed(1)} s (${seconds.join(', ')} s); whole run ${runSeconds.toFixed(0)} s`,
    );
    return document;
  };
  /** The console of boot `index` (1-based) of a scenario's machine. */
  const consoleOf = async (scenario: keyof typeof TESTS, boots: BootsDocument, index: number) =>
    readFile(path.join(reportDir(scenario), boots.machines[0]!.boots[index - 1]!.console), 'utf8');

  it('builds the releases and runs both scenarios, each passing', async () => {
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    for (const [scenario, node] of Object.entries(TESTS)) {
      expect(run.stdout).toContain(
        `tests: fcos.out/artifacts/testing/x86_64/${node}/report (1 passed, 0 skipped, 0 flaky)`,
      );
      const report = JSON.parse(
        await readFile(path.join(reportDir(scenario as keyof typeof TESTS), 'report.json'), 'utf8'),
      );
      expect(report.tests.map((test: { name: string; result: string }) => [test.name, test.result])).toEqual([
        [`update.${scenario}`, 'pass'],
      ]);
    }
  });

  it('fleet-lock-full: gives up on the full group without rebooting, then takes the freed slot, reboots and gives it back', async () => {
    const boots = await bootsOf('fleet-lock-full');
    expect(boots.problems).toEqual([]);
    expect(boots.machines[0]!.boots.map((boot) => boot.end)).toEqual([
      'power-off',
      'reboot reason=update',
      'power-off',
    ]);
    const first = await consoleOf('fleet-lock-full', boots, 1);
    expect(first).toMatch(/FCOS-CDK: agent staged version=41\.\d{8}\.2\.0 /);
    expect(first).toMatch(/FCOS-CDK: agent fleet-lock busy group=default attempt=1 \(.*409/);
    expect(first).toMatch(/FCOS-CDK: agent fleet-lock busy group=default attempt=2 /);
    expect(first).toContain('FCOS-CDK: agent fleet-lock gave-up group=default');
    expect(first).toContain('FCOS-CDK: update staged, not finalized (reboot not allowed)');
    expect(first).not.toContain('FCOS-CDK: finalize staged');
    expect(first).not.toContain('FCOS-CDK: reboot');
    const second = await consoleOf('fleet-lock-full', boots, 2);
    expect(second).toContain('FCOS-CDK: agent fleet-lock acquired group=default');
    const third = await consoleOf('fleet-lock-full', boots, 3);
    expect(third).toContain('FCOS-CDK: agent fleet-lock released group=default');
    // Two peers fill the group, the machine is refused twice, a peer leaves, the machine gets in
    // and, on the new release, gives its slot back.
    const machineId = boots.fleetLock.find((event) => !event.id.startsWith('fleet-peer-'))?.id;
    expect(machineId).toMatch(/^[0-9a-f]{32}$/);
    expect(boots.fleetLock.map((event) => [event.action, event.id, event.granted])).toEqual([
      ['pre-reboot', 'fleet-peer-1', true],
      ['pre-reboot', 'fleet-peer-2', true],
      ['pre-reboot', machineId, false],
      ['pre-reboot', machineId, false],
      ['steady-state', 'fleet-peer-1', true],
      ['pre-reboot', machineId, true],
      ['steady-state', machineId, true],
    ]);
  });

  it('interrupted-pull: the power cut mid-pull, the next boot pulls again, stages and reboots onto a whole repository', async () => {
    const boots = await bootsOf('interrupted-pull');
    expect(boots.problems).toEqual([]);
    const machine = boots.machines[0]!;
    expect(machine.boots.map((boot) => boot.end)).toEqual(['none', 'reboot reason=update', 'power-off']);
    expect(machine.boots[0]!.stoppedBecause).toMatch(
      /^power cut mid-pull \(QEMU killed after \d+ ostree objects were delivered\)$/,
    );
    const first = await consoleOf('interrupted-pull', boots, 1);
    expect(first).toMatch(/FCOS-CDK: agent update available version=41\.\d{8}\.2\.0 /);
    expect(first).not.toContain('FCOS-CDK: agent staged');
    const second = await consoleOf('interrupted-pull', boots, 2);
    expect(second).toMatch(/FCOS-CDK: agent staged version=41\.\d{8}\.2\.0 /);
    expect(second).toContain('update-state| ostree-fsck ok');
    const third = await consoleOf('interrupted-pull', boots, 3);
    expect(third).toContain('FCOS-CDK: agent update none');
    expect(third).toContain('update-state| ostree-fsck ok');
    // The log says how many objects each boot fetched: some before the cut, the rest after.
    const log = await readFile(
      path.join(directory, 'fcos.out/logs/testing/x86_64/InterruptedPullTest.log'),
      'utf8',
    );
    const delivered = [...log.matchAll(/machine: boot (\d+): (\d+) ostree objects delivered/g)].map((match) =>
      Number(match[2]),
    );
    console.log(`interrupted-pull: ostree objects delivered per boot: ${delivered.join(', ')}`);
    expect(delivered[0]).toBeGreaterThanOrEqual(3);
    expect(delivered[1]).toBeGreaterThan(0);
  });
});
