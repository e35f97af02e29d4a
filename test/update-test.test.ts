/**
 * The host side of the update tests (issue #12), without a guest: the console protocol, the
 * multi-boot loop with fake consoles, each scenario's judgement of good and bad boot sequences, the
 * machine's Ignition config, and the served tree made with the publish stage's pieces: real ostree
 * commits signed with a throwaway key, served by fcos-serve at a fixed clock, pulled by a
 * gpg-verifying ostree client as the guest's remote is configured, the graph offering (or, during
 * a rollout, hiding) the target, and the FleetLock history.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTool, type ToolExec } from '../lib/exec.ts';
import type { FleetLockEvent } from '../lib/serve/fleet-lock.ts';
import { startServer } from '../lib/serve/server.ts';
import { resolveSigningKey, stopAgent, throwawayHomeOf } from '../lib/signing/index.ts';
import { validateIgnitionFile } from '../lib/vm/ignition.ts';
import { ReleaseGateError } from '../stages/release/errors.ts';
import { checkGates } from '../stages/release/gate.ts';
import {
  type BootOutcome,
  type BootRequest,
  bootUntilPowerOff,
  type MachineBoot,
} from '../stages/update-test/boot-loop.ts';
import { parseBootConsole, parseProtocolLine } from '../stages/update-test/console-protocol.ts';
import { UpdateTestSetupError } from '../stages/update-test/errors.ts';
import { FleetLockPeers, fleetLockRequest } from '../stages/update-test/fleet-lock-peers.ts';
import { agentConfig, GUEST_TEST_NAME, guestIgnitionConfig } from '../stages/update-test/guest-config.ts';
import { writeUpdateReport } from '../stages/update-test/report.ts';
import {
  assessScenario,
  EAGER_MACHINE,
  type MachineRun,
  planScenario,
  pullInterruption,
  type ScenarioReleases,
  WARY_MACHINE,
} from '../stages/update-test/scenarios.ts';
import { checkServedGraph } from '../stages/update-test/served-graph-check.ts';
import { type ServedRelease, writeServedTree } from '../stages/update-test/served-tree.ts';
import { isObjectPath, startSlowRepository } from '../stages/update-test/slow-repository.ts';
import { makeTempDir } from './helpers/temp-project.ts';

const logLines: string[] = [];
const exec: ToolExec = (file, args, options) =>
  runTool(file, args, { ...options, log: (line) => logLines.push(line) });

const FROM: ServedRelease = {
  version: '41.20260901.2.0',
  checksum: 'a'.repeat(64),
  ref: 'fedora/x86_64/coreos/testing',
  arch: 'x86_64',
  timestamp: Date.parse('2026-09-01T00:00:00Z') / 1000,
};
const TO: ServedRelease = {
  version: '41.20261101.2.0',
  checksum: 'b'.repeat(64),
  ref: 'fedora/x86_64/coreos/testing',
  arch: 'x86_64',
  timestamp: Date.parse('2026-11-01T00:00:00Z') / 1000,
};
const RELEASES: ScenarioReleases = { from: FROM, to: TO };

/** A console of one boot: firmware noise, then the protocol lines given, `\r\n` endings as a serial port writes them. */
function fakeConsole(lines: readonly string[], output: readonly string[] = []): string {
  const protocol = lines.map((line) => `FCOS-CDK: ${line}`);
  const tests = output.map((line) => `  ${GUEST_TEST_NAME}| ${line}`);
  // The guest script's output comes after the agent's lines, before the end.
  const end = protocol.length > 0 && /FCOS-CDK: (done|reboot)/.test(protocol[protocol.length - 1]!) ? 1 : 0;
  return `\u001b[2JBdsDxe: loading Boot0001\r\n[    0.000000] Linux version 6.1\r\n${[
    ...protocol.slice(0, protocol.length - end),
    ...tests,
    ...protocol.slice(protocol.length - end),
  ].join('\r\n')}\r\n`;
}

/** `booted deployment=` of a release. */
function booted(release: ServedRelease, serial = 0): string {
  return `booted deployment=fedora-coreos/${release.checksum}.${serial} platform=qemu`;
}

/** `agent booted` of a release. */
function agentBooted(release: ServedRelease): string {
  return `agent booted version=${release.version} checksum=${release.checksum} stream=testing`;
}

/** A boot as the loop records it, from a console. */
function boot(index: number, raw: string): MachineBoot {
  return {
    index,
    consoleFile: `/consoles/console-${index}.log`,
    console: parseBootConsole(raw),
    raw,
    seconds: 20,
    timedOut: false,
  };
}

/** The consoles of a good upgrade. */
function goodUpgrade(): string[] {
  return [
    fakeConsole(
      [
        booted(FROM),
        agentBooted(FROM),
        `agent update available version=${TO.version} checksum=${TO.checksum}`,
        `agent staged version=${TO.version} checksum=${TO.checksum}`,
        'agent fleet-lock acquired group=default',
        'test update-state pass',
        `finalize staged version=${TO.version}`,
        'reboot reason=update',
      ],
      ['var-data absent', 'var-data written', 'etc-edit absent', 'staged yes', 'etc-edit written'],
    ),
    fakeConsole(
      [
        booted(TO, 1),
        'boot-attempt 1 of 2',
        'health result=healthy',
        agentBooted(TO),
        'agent fleet-lock released group=default',
        'agent update none',
        'test update-state pass',
        'done',
      ],
      ['var-data present written-on-first-boot', 'etc-edit present made-after-staging', 'staged no'],
    ),
  ];
}

/** The FleetLock history of a good upgrade. */
const GOOD_FLEET_LOCK: FleetLockEvent[] = [
  { action: 'pre-reboot', id: 'node-1', group: 'default', granted: true },
  { action: 'steady-state', id: 'node-1', group: 'default', granted: true },
];

/** A machine run from consoles. */
function run(
  consoles: readonly string[],
  name = 'machine',
  end: MachineRun['loop']['end'] = 'power-off',
): MachineRun {
  const plan = planScenario('upgrade', RELEASES).machines[0]!;
  return {
    plan: { ...plan, name },
    loop: { boots: consoles.map((text, index) => boot(index + 1, text)), end },
  };
}

describe('the console protocol', () => {
  it('splits protocol lines into words and fields whose values may hold spaces', () => {
    const line = parseProtocolLine(
      `rollback from=${TO.version} checksum=${TO.checksum} reason=required check 50-always-fails failed`,
    );
    expect(line.words).toEqual(['rollback']);
    expect(line.fields).toEqual({
      from: TO.version,
      checksum: TO.checksum,
      reason: 'required check 50-always-fails failed',
    });
    expect(parseProtocolLine('boot-attempt 1 of 2').words).toEqual(['boot-attempt', '1', 'of', '2']);
  });

  it('reads protocol lines, the guest script output and how the boot ended', () => {
    const [first, second] = goodUpgrade();
    const parsed = parseBootConsole(first!);
    expect(parsed.end).toEqual({ kind: 'reboot', reason: 'update' });
    expect(parsed.testOutput.get(GUEST_TEST_NAME)).toContain('etc-edit written');
    expect(parsed.lines.map((line) => line.words[0])).toContain('agent');
    expect(parseBootConsole(second!).end).toEqual({ kind: 'power-off' });
    expect(parseBootConsole('[ 1.0] Kernel panic - not syncing\r\n').end).toEqual({ kind: 'none' });
  });
});

describe('the boot loop', () => {
  /** A fake boot that answers the consoles in turn and records the requests. */
  function fakeBoots(outcomes: readonly Partial<BootOutcome>[]) {
    const requests: BootRequest[] = [];
    const bootOnce = async (request: BootRequest): Promise<BootOutcome> => {
      requests.push(request);
      const outcome = outcomes[request.index - 1] ?? {};
      return { console: '', timedOut: false, seconds: 1, ...outcome };
    };
    return { requests, bootOnce };
  }
  const common = {
    consoleFileOf: (index: number) => `/tmp/console-${index}.log`,
    bootTimeoutSeconds: 100,
    log: () => {},
  };

  it('boots again after each reboot and stops at the power-off', async () => {
    const consoles = [
      fakeConsole(['reboot reason=update']),
      fakeConsole(['reboot reason=health-check']),
      fakeConsole(['done']),
      fakeConsole(['done']),
    ];
    const { requests, bootOnce } = fakeBoots(consoles.map((text) => ({ console: text })));
    const result = await bootUntilPowerOff({
      ...common,
      boot: bootOnce,
      maxBoots: 6,
      deadline: Date.now() + 1e6,
    });
    expect(result.end).toBe('power-off');
    expect(result.boots.map((entry) => entry.console.end.kind)).toEqual(['reboot', 'reboot', 'power-off']);
    expect(requests.map((request) => request.consoleFile)).toEqual([1, 2, 3].map(common.consoleFileOf));
  });

  it('stops at the most boots, at a boot timeout, on a boot without an end, when told, and at the deadline', async () => {
    const rebooting = fakeBoots(
      Array.from({ length: 5 }, () => ({ console: fakeConsole(['reboot reason=update']) })),
    );
    expect(
      (
        await bootUntilPowerOff({
          ...common,
          boot: rebooting.bootOnce,
          maxBoots: 3,
          deadline: Date.now() + 1e6,
        })
      ).end,
    ).toBe('max-boots');
    expect(rebooting.requests).toHaveLength(3);

    const hung = fakeBoots([
      { console: fakeConsole(['reboot reason=update']) },
      { console: 'FCOS-CDK: booted', timedOut: true },
    ]);
    const hungResult = await bootUntilPowerOff({
      ...common,
      boot: hung.bootOnce,
      maxBoots: 5,
      deadline: Date.now() + 1e6,
    });
    expect([hungResult.end, hungResult.boots.length]).toEqual(['boot-timeout', 2]);

    const crashed = fakeBoots([{ console: 'Kernel panic - not syncing' }]);
    expect(
      (
        await bootUntilPowerOff({
          ...common,
          boot: crashed.bootOnce,
          maxBoots: 5,
          deadline: Date.now() + 1e6,
        })
      ).end,
    ).toBe('no-end');

    const stopped = fakeBoots([{ console: fakeConsole(['reboot reason=update']) }]);
    const stoppedResult = await bootUntilPowerOff({
      ...common,
      boot: stopped.bootOnce,
      maxBoots: 5,
      deadline: Date.now() + 1e6,
      stopAfter: () => true,
    });
    expect([stoppedResult.end, stopped.requests.length]).toEqual(['stopped', 1]);

    // The boot limit shrinks to what is left of the scenario's time; none starts after it.
    let clock = 1_000_000;
    const timed = fakeBoots([
      { console: fakeConsole(['reboot reason=update']) },
      { console: fakeConsole(['reboot reason=update']) },
    ]);
    const timedResult = await bootUntilPowerOff({
      ...common,
      boot: async (request) => {
        clock += 40_000;
        return timed.bootOnce(request);
      },
      maxBoots: 5,
      deadline: clock + 60_000,
      now: () => clock,
    });
    expect(timed.requests.map((request) => request.timeoutSeconds)).toEqual([60, 20]);
    expect(timedResult.end).toBe('deadline');
  });
});

describe('the scenarios', () => {
  it('upgrade: passes a good sequence and names each broken expectation', () => {
    expect(assessScenario('upgrade', RELEASES, [run(goodUpgrade())], GOOD_FLEET_LOCK)).toEqual({
      passed: true,
      problems: [],
    });

    // The /etc edit lost by the finalization, and a slot never given back.
    const [first, second] = goodUpgrade();
    const lostEdit = second!.replace('etc-edit present made-after-staging', 'etc-edit absent');
    const verdict = assessScenario(
      'upgrade',
      RELEASES,
      [run([first!, lostEdit])],
      GOOD_FLEET_LOCK.slice(0, 1),
    );
    expect(verdict.passed).toBe(false);
    expect(verdict.problems.join('\n')).toContain('the /etc edit made after staging on the new deployment');
    expect(verdict.problems.join('\n')).toContain(
      "boot 2's update-state said: var-data present written-on-first-boot | etc-edit absent",
    );
    expect(verdict.problems.join('\n')).toContain('steady-state from the same node');
    expect(verdict.console).toBe('/consoles/console-2.log');

    // Still on the old release after the reboot.
    const stayed = fakeConsole(
      [booted(FROM), agentBooted(FROM), 'agent update none', 'done'],
      ['var-data present written-on-first-boot'],
    );
    const stayedVerdict = assessScenario('upgrade', RELEASES, [run([first!, stayed])], GOOD_FLEET_LOCK);
    expect(stayedVerdict.problems.join('\n')).toContain(`the last boot on ${TO.version}`);
    expect(stayedVerdict.problems.join('\n')).toContain(`boot 2 said: ${agentBooted(FROM)}`);
  });

  it('rollback: passes stage, two unhealthy trial boots, the fallback with the rollback and the skip', () => {
    const trial = (attempt: number) =>
      fakeConsole([
        booted(TO, 1),
        `boot-attempt ${attempt} of 2`,
        'health check 50-always-fails fail required',
        'health result=unhealthy',
        'reboot reason=health-check',
      ]);
    const staged = fakeConsole([
      booted(FROM),
      agentBooted(FROM),
      `agent staged version=${TO.version} checksum=${TO.checksum}`,
      `finalize staged version=${TO.version}`,
      'reboot reason=update',
    ]);
    const fallback = fakeConsole([
      booted(FROM),
      `rollback from=${TO.version} checksum=${TO.checksum} reason=boot counter spent`,
      'health result=healthy',
      agentBooted(FROM),
      `agent update skipped version=${TO.version} reason=denylisted`,
      'agent update none',
      'done',
    ]);
    expect(assessScenario('rollback', RELEASES, [run([staged, trial(1), trial(2), fallback])], [])).toEqual({
      passed: true,
      problems: [],
    });

    // Retried the broken release after the rollback: no skip, staged again, still rebooting.
    const retried = fallback
      .replace(
        `agent update skipped version=${TO.version} reason=denylisted`,
        `agent staged version=${TO.version} checksum=${TO.checksum}`,
      )
      .replace('FCOS-CDK: done', 'FCOS-CDK: reboot reason=update');
    const verdict = assessScenario(
      'rollback',
      RELEASES,
      [run([staged, trial(1), trial(2), retried], 'machine', 'max-boots')],
      [],
    );
    expect(verdict.passed).toBe(false);
    const text = verdict.problems.join('\n');
    expect(text).toContain('it was still rebooting after 4 boots');
    expect(text).toContain(`skip ${TO.version} as denylisted`);
    expect(text).toContain(`no new staging of ${TO.version}`);

    // One trial boot only (the counter was not honoured).
    const short = assessScenario('rollback', RELEASES, [run([staged, trial(1), fallback])], []);
    expect(short.problems.join('\n')).toContain('2 trial boots');
  });

  it('rollout: the plan fixes the clock at threshold 0.5; the wary machine must see none, the eager one stage', () => {
    const plan = planScenario('rollout', RELEASES);
    expect(plan.machines.map((machine) => [machine.name, machine.rolloutWariness])).toEqual([
      [WARY_MACHINE.name, 0.9],
      [EAGER_MACHINE.name, 0.1],
    ]);
    expect(plan.nowMs / 1000 - TO.timestamp).toBe(30 * 60);
    const none = fakeConsole([booted(FROM), agentBooted(FROM), 'agent update none', 'done']);
    const stages = fakeConsole([
      booted(FROM),
      agentBooted(FROM),
      `agent update available version=${TO.version} checksum=${TO.checksum}`,
      `agent staged version=${TO.version} checksum=${TO.checksum}`,
      'reboot reason=update',
    ]);
    const machine = (name: string, consoles: string[]): MachineRun => {
      const machinePlan = plan.machines.find((entry) => entry.name === name)!;
      return {
        plan: machinePlan,
        loop: { boots: consoles.map((text, index) => boot(index + 1, text)), end: 'stopped' },
      };
    };
    expect(
      assessScenario('rollout', RELEASES, [machine('wary', [none]), machine('eager', [stages])], []),
    ).toEqual({ passed: true, problems: [] });
    const swapped = assessScenario(
      'rollout',
      RELEASES,
      [machine('wary', [stages]), machine('eager', [none])],
      [],
    );
    expect(swapped.problems).toHaveLength(4);
    expect(swapped.problems[0]).toContain(
      'wary: expected "agent update none" (wariness 0.9 is above the threshold)',
    );
  });
});

describe("the machine's Ignition config", () => {
  it('configures the remote, the key, the agent, greenboot and the guest script, and validates', async () => {
    const config = guestIgnitionConfig({
      port: 41234,
      stream: 'testing',
      publicKey: 'KEY',
      strategy: 'fleet_lock',
      rolloutWariness: 1,
    });
    const files = new Map(
      config.storage!.files!.map((file) => [
        file.path,
        Buffer.from(file.contents!.source.split(',')[1]!, 'base64').toString(),
      ]),
    );
    expect(files.get('/etc/ostree/remotes.d/fedora.conf')).toBe(
      '[remote "fedora"]\nurl=http://10.0.2.2:41234/prod/streams/testing/repo\ngpg-verify=true\ngpgkeypath=/etc/pki/fcos-cdk/signing-key.asc\n',
    );
    expect(files.get('/etc/pki/fcos-cdk/signing-key.asc')).toBe('KEY');
    const agent = files.get('/etc/update-agent/config.d/50-test.toml')!;
    expect(agent).toContain('[cincinnati]\nbase_url = "http://10.0.2.2:41234"');
    expect(agent).toContain('rollout_wariness = 1.0');
    expect(agent).toContain(
      'strategy = "fleet_lock"\n\n[updates.fleet_lock]\nbase_url = "http://10.0.2.2:41234"',
    );
    expect(
      agentConfig('http://h:1', { port: 1, stream: 's', publicKey: '', strategy: 'immediate' }),
    ).not.toMatch(/fleet_lock|rollout_wariness/);
    expect(files.get('/etc/greenboot/greenboot.conf')).toBe('GREENBOOT_MAX_BOOT_ATTEMPTS=2\n');
    expect(config.storage!.files!.find((file) => file.path.endsWith('/update-state/test'))?.mode).toBe(0o755);
    const file = path.join(await makeTempDir('fcos-update-ign-'), 'config.ign');
    await writeFile(file, JSON.stringify(config));
    const validation = await validateIgnitionFile(file);
    expect(validation.errors).toEqual([]);
    expect(validation.valid).toBe(true);
  });

  it('the guest script reports first-boot /var data, then the /etc edit made while an update was staged', async () => {
    // Run on the host with its paths moved into a scratch root (the script names only these three).
    const root = await makeTempDir('fcos-update-script-');
    const config = guestIgnitionConfig({ port: 1, stream: 's', publicKey: '', strategy: 'immediate' });
    const source = config.storage!.files!.find((file) => file.path.endsWith('/update-state/test'))!.contents!
      .source;
    const script = Buffer.from(source.split(',')[1]!, 'base64')
      .toString()
      .replaceAll('/var/lib/', `${root}/var/lib/`)
      .replaceAll('/etc/fcos-cdk-update-test/', `${root}/etc/fcos-cdk-update-test/`)
      .replaceAll('/run/ostree/', `${root}/run/ostree/`);
    const file = path.join(root, 'test');
    await writeFile(file, script, { mode: 0o755 });
    const runOnce = async () => (await exec('sh', [file])).stdout.trim().split('\n');
    expect(await runOnce()).toEqual(['var-data absent', 'var-data written', 'etc-edit absent', 'staged no']);
    await mkdir(path.join(root, 'run/ostree'), { recursive: true });
    await writeFile(path.join(root, 'run/ostree/staged-deployment'), '');
    expect(await runOnce()).toEqual([
      'var-data present written-on-first-boot',
      'etc-edit absent',
      'staged yes',
      'etc-edit written',
    ]);
  });
});

describe('the served tree', () => {
  const cache = makeTempDir('fcos-update-cache-');
  afterAll(async () => {
    await stopAgent(throwawayHomeOf(await cache));
  });

  it('is signed, pulled by a verifying client, offers the target by the scenario, and records FleetLock', async () => {
    const directory = await makeTempDir('fcos-update-tree-');
    const source = path.join(directory, 'source');
    await exec('ostree', ['init', '--mode=archive', `--repo=${source}`]);
    const ref = 'fedora/x86_64/coreos/testing';
    const commits: string[] = [];
    for (const [index, day] of ['2026-09-01', '2026-11-01'].entries()) {
      const tree = path.join(directory, `tree-${index}`);
      await mkdir(path.join(tree, 'usr/lib'), { recursive: true });
      await writeFile(path.join(tree, 'usr/lib/os-release'), `VERSION=${index}\n`);
      const committed = await exec('ostree', [
        `--repo=${source}`,
        'commit',
        `--branch=${ref}`,
        `--tree=dir=${tree}`,
        `--timestamp=${day}T00:00:00Z`,
        '--owner-uid=0',
        '--owner-gid=0',
        '--no-xattrs',
        `--subject=release ${index}`,
      ]);
      commits.push(committed.stdout.trim());
    }
    const releases: ScenarioReleases = {
      from: { ...FROM, checksum: commits[0]! },
      to: { ...TO, checksum: commits[1]! },
    };
    const key = await resolveSigningKey(exec, {
      mode: 'throwaway',
      environment: {},
      workDir: directory,
      cacheDirectory: await cache,
      nodePath: 'test/UpdateTest',
    });
    const root = path.join(directory, 'served');
    await mkdir(root);
    const events: FleetLockEvent[] = [];
    const plan = planScenario('rollout', releases);
    const server = await startServer({
      root,
      port: 0,
      now: () => plan.nowMs,
      onFleetLock: (event) => events.push(event),
    });
    try {
      const served = await writeServedTree({
        exec,
        log: () => {},
        root,
        workDir: path.join(directory, 'scratch'),
        stream: 'testing',
        baseUrl: server.url,
        sourceRepository: source,
        releases: [releases.from, releases.to],
        updates: plan.updates,
        key: key!,
      });
      expect(
        served.releaseIndex.releases.map((release) => [release.version, release.commits[0]?.checksum]),
      ).toEqual([
        [FROM.version, commits[0]],
        [TO.version, commits[1]],
      ]);
      // A client configured as the guest's remote: gpg-verify with the key file; the ref is the target.
      const client = path.join(directory, 'client');
      await exec('ostree', ['init', '--mode=bare-user', `--repo=${client}`]);
      const keyFile = path.join(directory, 'signing-key.asc');
      await writeFile(keyFile, served.publicKey);
      await exec('ostree', [
        `--repo=${client}`,
        'remote',
        'add',
        '--set=gpg-verify=true',
        `--set=gpgkeypath=${keyFile}`,
        'fedora',
        `${server.url}/prod/streams/testing/repo`,
      ]);
      await exec('ostree', [`--repo=${client}`, 'pull', 'fedora', ref]);
      expect((await exec('ostree', ['rev-parse', `--repo=${client}`, `fedora:${ref}`])).stdout.trim()).toBe(
        commits[1],
      );
      await exec('ostree', [`--repo=${client}`, 'pull', 'fedora', commits[0]!]);

      // Half-way through the rollout: 0.1 is offered the target, 0.9 is not; the wrong expectation is refused.
      await checkServedGraph(
        server.url,
        'testing',
        'x86_64',
        releases,
        [
          { machine: 'eager', rolloutWariness: 0.1, offered: true },
          { machine: 'wary', rolloutWariness: 0.9, offered: false },
        ],
        'test/UpdateTest',
      );
      await expect(
        checkServedGraph(
          server.url,
          'testing',
          'x86_64',
          releases,
          [{ machine: 'wary', rolloutWariness: 0.9, offered: true }],
          'test/UpdateTest',
        ),
      ).rejects.toThrow(UpdateTestSetupError);

      const post = (endpoint: string) =>
        fetch(`${server.url}/v1/${endpoint}`, {
          method: 'POST',
          headers: { 'fleet-lock-protocol': 'true' },
          body: JSON.stringify({ client_params: { id: 'node-1', group: 'default' } }),
        });
      expect((await post('pre-reboot')).status).toBe(200);
      expect((await post('steady-state')).status).toBe(200);
      expect((await post('steady-state')).status).toBe(200);
      expect(events).toEqual([
        { action: 'pre-reboot', id: 'node-1', group: 'default', granted: true },
        { action: 'steady-state', id: 'node-1', group: 'default', granted: true },
        { action: 'steady-state', id: 'node-1', group: 'default', granted: false },
      ]);
    } finally {
      await server.close();
      await key?.release();
    }
  }, 120_000);

  it('upgrade and rollback serve the target fully rolled out to any machine', async () => {
    const plan = planScenario('upgrade', RELEASES);
    expect(plan.updates).toEqual([
      { version: TO.version, rollout: { startEpoch: TO.timestamp, startPercentage: 1 } },
    ]);
    expect(plan.nowMs).toBeGreaterThan(TO.timestamp * 1000);
    expect(planScenario('rollback', RELEASES).machines[0]?.strategy).toBe('fleet_lock');
  });
});

describe('the report', () => {
  it("is KolaTest's format: a failed scenario is a fail result naming what was expected, and the Release gate refuses it", async () => {
    const reportDir = await makeTempDir('fcos-update-report-');
    const consoleFile = path.join(reportDir, 'consoles/machine/console-1.log');
    await mkdir(path.dirname(consoleFile), { recursive: true });
    const raw = fakeConsole([
      booted(FROM),
      agentBooted(FROM),
      'agent error graph: connection refused',
      'done',
    ]);
    await writeFile(consoleFile, raw);
    const machine: MachineRun = {
      plan: planScenario('upgrade', RELEASES).machines[0]!,
      loop: { boots: [{ ...boot(1, raw), consoleFile }], end: 'power-off' },
    };
    const verdict = assessScenario('upgrade', RELEASES, [machine], []);
    const metadata = await writeUpdateReport(reportDir, {
      nodePath: 'testing/x86_64/UpgradeTest',
      image: 'c'.repeat(64),
      arch: 'x86_64',
      scenario: 'upgrade',
      runs: [machine],
      verdict,
      fleetLock: [],
    });
    expect(metadata).toMatchObject({ total: 1, passed: 0, failed: 1, boots: 1 });
    const report = JSON.parse(await readFile(path.join(reportDir, 'report.json'), 'utf8'));
    expect(report.tests).toHaveLength(1);
    expect(report.tests[0]).toMatchObject({
      name: 'update.upgrade',
      result: 'fail',
      console: 'consoles/machine/console-1.log',
    });
    expect(report.tests[0].reason).toContain(`machine: expected boot 1 to stage ${TO.version}`);
    expect(report.tests[0].reason).toContain('FCOS-CDK: agent error graph: connection refused');
    expect(await readFile(path.join(reportDir, 'junit.xml'), 'utf8')).toContain(
      '<failure message="machine: expected',
    );
    const boots = JSON.parse(await readFile(path.join(reportDir, 'boots.json'), 'utf8'));
    expect(boots.machines[0].boots).toEqual([
      { index: 1, seconds: 20, end: 'power-off', timedOut: false, console: 'consoles/machine/console-1.log' },
    ]);
    await expect(checkGates([{ field: 'tests.1', path: reportDir }], 'testing/Release')).rejects.toThrow(
      ReleaseGateError,
    );
  });
});

describe('the robustness scenarios (issue #12 part 6)', () => {
  /** The consoles of a machine refused a slot of its full group, then granted one once a peer left. */
  function fullGroup(): string[] {
    const staging = [
      booted(FROM),
      agentBooted(FROM),
      `agent update available version=${TO.version} checksum=${TO.checksum}`,
      `agent staged version=${TO.version} checksum=${TO.checksum}`,
    ];
    return [
      fakeConsole([
        ...staging,
        'agent fleet-lock busy group=default attempt=1 (curl: (22) The requested URL returned error: 409)',
        'agent fleet-lock busy group=default attempt=2 (curl: (22) The requested URL returned error: 409)',
        'agent fleet-lock gave-up group=default',
        'update staged, not finalized (reboot not allowed)',
        'done',
      ]),
      fakeConsole([
        ...staging,
        'agent fleet-lock acquired group=default',
        `finalize staged version=${TO.version}`,
        'reboot reason=update',
      ]),
      fakeConsole([booted(TO, 1), agentBooted(TO), 'agent fleet-lock released group=default', 'done']),
    ];
  }
  const MACHINE_ID = 'f'.repeat(32);
  /** The server's history of that: two peers fill the group, one leaves after the machine gave up. */
  const FULL_GROUP_HISTORY: FleetLockEvent[] = [
    { action: 'pre-reboot', id: 'fleet-peer-1', group: 'default', granted: true },
    { action: 'pre-reboot', id: 'fleet-peer-2', group: 'default', granted: true },
    { action: 'pre-reboot', id: MACHINE_ID, group: 'default', granted: false },
    { action: 'pre-reboot', id: MACHINE_ID, group: 'default', granted: false },
    { action: 'steady-state', id: 'fleet-peer-1', group: 'default', granted: true },
    { action: 'pre-reboot', id: MACHINE_ID, group: 'default', granted: true },
    { action: 'steady-state', id: MACHINE_ID, group: 'default', granted: true },
  ];
  /** A machine run of `scenario`'s plan from consoles. */
  const runOf = (
    scenario: 'fleet-lock-full' | 'interrupted-pull',
    consoles: readonly (string | MachineBoot)[],
    end: MachineRun['loop']['end'] = 'power-off',
  ): MachineRun => ({
    plan: planScenario(scenario, RELEASES).machines[0]!,
    loop: {
      boots: consoles.map((entry, index) => (typeof entry === 'string' ? boot(index + 1, entry) : entry)),
      end,
    },
  });

  it('the boot loop powers a machine on again after a power-off or a watchdog stop, as often as the scenario says', async () => {
    const consoles = [
      { console: fakeConsole(['done']) },
      { console: 'FCOS-CDK: agent update available', stoppedBecause: 'power cut mid-pull' },
      { console: fakeConsole(['reboot reason=update']) },
      { console: fakeConsole(['done']) },
    ];
    let asked = 0;
    const requests: number[] = [];
    const result = await bootUntilPowerOff({
      consoleFileOf: (index) => `/tmp/console-${index}.log`,
      bootTimeoutSeconds: 100,
      log: () => {},
      maxBoots: 6,
      deadline: Date.now() + 1e6,
      boot: async (request) => {
        requests.push(request.index);
        return { timedOut: false, seconds: 1, ...consoles[request.index - 1]! };
      },
      powerOnAgain: async () => ++asked <= 2,
    });
    // Powered on after boot 1 (power-off) and boot 2 (stopped); asked again after boot 4: no more.
    expect(requests).toEqual([1, 2, 3, 4]);
    expect(asked).toBe(3);
    expect(result.end).toBe('power-off');
    expect(result.boots[1]!.stoppedBecause).toBe('power cut mid-pull');

    // Never after a boot killed at its time limit, and never past the most boots.
    let timedOutAsked = false;
    const timedOut = await bootUntilPowerOff({
      consoleFileOf: (index) => `/tmp/console-${index}.log`,
      bootTimeoutSeconds: 100,
      log: () => {},
      maxBoots: 1,
      deadline: Date.now() + 1e6,
      boot: async () => ({ console: '', timedOut: true, seconds: 100 }),
      powerOnAgain: async () => {
        timedOutAsked = true;
        return true;
      },
    });
    expect([timedOut.end, timedOutAsked]).toEqual(['boot-timeout', false]);
  });

  it('fleet-lock-full: the plan fills the group and frees a slot once; a good sequence passes, a reboot without a slot does not', () => {
    const plan = planScenario('fleet-lock-full', RELEASES);
    expect(plan.fleetLockHolders).toEqual(['fleet-peer-1', 'fleet-peer-2']);
    expect(plan.machines[0]).toMatchObject({
      strategy: 'fleet_lock',
      fleetLockRetries: { attempts: 2, retrySeconds: 2 },
      powerOns: ['free-fleet-lock-slot'],
      maxBoots: 4,
    });
    expect(plan.objectDelayMs).toBeUndefined();
    expect(
      assessScenario(
        'fleet-lock-full',
        RELEASES,
        [runOf('fleet-lock-full', fullGroup())],
        FULL_GROUP_HISTORY,
      ),
    ).toEqual({ passed: true, problems: [] });

    // The agent reboots into the update although the group stayed full.
    const [first, second, third] = fullGroup();
    const rebootedAnyway = first!
      .replace(
        'FCOS-CDK: update staged, not finalized (reboot not allowed)',
        `FCOS-CDK: finalize staged version=${TO.version}`,
      )
      .replace('FCOS-CDK: done', 'FCOS-CDK: reboot reason=update');
    const verdict = assessScenario(
      'fleet-lock-full',
      RELEASES,
      [runOf('fleet-lock-full', [rebootedAnyway, third!])],
      FULL_GROUP_HISTORY.filter((event) => event.id !== MACHINE_ID || !event.granted),
    );
    const text = verdict.problems.join('\n');
    expect(verdict.passed).toBe(false);
    expect(text).toContain(
      'never a reboot into the update without a slot acquired in that boot; boot(s) 1 rebooted without one',
    );
    expect(text).toContain('boot 1 to leave the update staged, not finalized');
    expect(text).toContain('boot 1 to power off ("done") without rebooting');
    expect(text).toContain('3 boots; there were 2');

    // The server granted the machine a slot while both peers still held theirs.
    const early: FleetLockEvent[] = [
      ...FULL_GROUP_HISTORY.slice(0, 2),
      { action: 'pre-reboot', id: MACHINE_ID, group: 'default', granted: false },
      { action: 'pre-reboot', id: MACHINE_ID, group: 'default', granted: false },
      { action: 'pre-reboot', id: MACHINE_ID, group: 'default', granted: true },
      { action: 'steady-state', id: 'fleet-peer-1', group: 'default', granted: true },
      { action: 'steady-state', id: MACHINE_ID, group: 'default', granted: true },
    ];
    const earlyVerdict = assessScenario(
      'fleet-lock-full',
      RELEASES,
      [runOf('fleet-lock-full', [first!, second!, third!])],
      early,
    );
    expect(earlyVerdict.problems).toEqual([
      expect.stringContaining("machine: expected the machine's slot granted only after a peer gave one back"),
    ]);

    // One try instead of two, and no give-up line: the retry setting was not honoured.
    const once = first!.replace(/\r\nFCOS-CDK: agent fleet-lock busy group=default attempt=2[^\r]*/, '');
    const onceVerdict = assessScenario(
      'fleet-lock-full',
      RELEASES,
      [runOf('fleet-lock-full', [once, second!, third!])],
      FULL_GROUP_HISTORY,
    );
    expect(onceVerdict.problems.join('\n')).toContain('boot 1 to be refused a slot 2 times');
  });

  it('interrupted-pull: the power is cut only mid-pull, after objects were delivered; the sequence is judged boot by boot', () => {
    const plan = planScenario('interrupted-pull', RELEASES);
    expect(plan.objectDelayMs).toBe(1500);
    expect(plan.interruptPull).toEqual({ boot: 1, afterObjects: 3 });
    expect(plan.machines[0]).toMatchObject({
      strategy: 'immediate',
      checkRepository: true,
      powerOns: ['full-speed-repository'],
    });
    const pulling = fakeConsole([
      booted(FROM),
      agentBooted(FROM),
      `agent update available version=${TO.version} checksum=${TO.checksum}`,
    ]);
    const staged = `${pulling}FCOS-CDK: agent staged version=${TO.version} checksum=${TO.checksum}\r\n`;
    expect(pullInterruption(plan, 1, pulling, 3)).toBe(
      'power cut mid-pull (QEMU killed after 3 ostree objects were delivered)',
    );
    // Not before the update is found, not before 3 objects, not once staged, not on another boot.
    expect(pullInterruption(plan, 1, fakeConsole([booted(FROM), agentBooted(FROM)]), 10)).toBeUndefined();
    expect(pullInterruption(plan, 1, pulling, 2)).toBeUndefined();
    expect(pullInterruption(plan, 1, staged, 10)).toBeUndefined();
    expect(pullInterruption(plan, 2, pulling, 10)).toBeUndefined();
    expect(pullInterruption(planScenario('upgrade', RELEASES), 1, pulling, 10)).toBeUndefined();

    const cut: MachineBoot = { ...boot(1, pulling), stoppedBecause: pullInterruption(plan, 1, pulling, 3)! };
    const again = fakeConsole(
      [
        booted(FROM),
        agentBooted(FROM),
        `agent update available version=${TO.version} checksum=${TO.checksum}`,
        `agent staged version=${TO.version} checksum=${TO.checksum}`,
        `finalize staged version=${TO.version}`,
        'reboot reason=update',
      ],
      ['staged yes', 'ostree-fsck ok'],
    );
    const updated = fakeConsole(
      [booted(TO, 1), agentBooted(TO), 'agent update none', 'done'],
      ['ostree-fsck ok'],
    );
    expect(
      assessScenario('interrupted-pull', RELEASES, [runOf('interrupted-pull', [cut, again, updated])], []),
    ).toEqual({
      passed: true,
      problems: [],
    });

    // The pull finished before the cut (boot 1 staged and rebooted): not the scenario.
    const tooFast = assessScenario(
      'interrupted-pull',
      RELEASES,
      [runOf('interrupted-pull', [again, updated])],
      [],
    );
    expect(tooFast.problems.join('\n')).toContain(
      'boot 1 to have its power cut mid-pull, before "agent staged"',
    );
    // A damaged repository after the retried pull.
    const damaged = updated.replace(
      'ostree-fsck ok',
      'ostree-fsck failed error: Object missing: 1234.dirtree',
    );
    const damagedVerdict = assessScenario(
      'interrupted-pull',
      RELEASES,
      [runOf('interrupted-pull', [cut, again, damaged])],
      [],
    );
    expect(damagedVerdict.problems).toEqual([
      expect.stringContaining(
        "boot 3's system repository to pass ostree fsck; boot 3's update-state said: ostree-fsck failed error: Object missing",
      ),
    ]);
    // Ignition's files lost with the cut (the firstboot stamp gone first): boot 2 has the package's
    // defaults (the graph at port 8080) and no guest script.
    const unconfigured = fakeConsole([
      booted(FROM),
      agentBooted(FROM),
      "agent error graph: curl: (7) Failed to connect to 10.0.2.2 port 8080 after 24 ms: Couldn't connect to server",
      'tests total=0 failed=0',
      'done',
    ]);
    const lost = assessScenario(
      'interrupted-pull',
      RELEASES,
      [runOf('interrupted-pull', [cut, unconfigured])],
      [],
    ).problems.join('\n');
    expect(lost).toContain(
      "boot 2 to still have what Ignition wrote in boot 1 before the cut (the agent's config, the guest script); boot 2 has no update-state output",
    );
    expect(lost).toContain('port 8080');
  });

  it("the machine's config: the repository through the proxy's port, the agent's FleetLock tries, the guest's fsck", async () => {
    const config = guestIgnitionConfig({
      port: 41234,
      repositoryPort: 41999,
      stream: 'testing',
      publicKey: 'KEY',
      strategy: 'fleet_lock',
      fleetLockRetries: { attempts: 2, retrySeconds: 2 },
      checkRepository: true,
    });
    const files = new Map(
      config.storage!.files!.map((file) => [
        file.path,
        Buffer.from(file.contents!.source.split(',')[1]!, 'base64').toString(),
      ]),
    );
    expect(files.get('/etc/ostree/remotes.d/fedora.conf')).toContain(
      'url=http://10.0.2.2:41999/prod/streams/testing/repo',
    );
    expect(files.get('/etc/update-agent/config.d/50-test.toml')).toContain(
      '[updates.fleet_lock]\nbase_url = "http://10.0.2.2:41234"\nattempts = 2\nretry_seconds = 2\n',
    );
    // The guest script's fsck, with an ostree that passes, then one that fails.
    const root = await makeTempDir('fcos-update-fsck-');
    const script = files
      .get('/etc/fcos-cdk/tests/update-state/test')!
      .replaceAll('/var/lib/', `${root}/var/lib/`)
      .replaceAll('/etc/fcos-cdk-update-test/', `${root}/etc/fcos-cdk-update-test/`)
      .replaceAll('/run/', `${root}/run/`);
    await mkdir(path.join(root, 'bin'));
    await mkdir(path.join(root, 'run'));
    await writeFile(path.join(root, 'test'), script, { mode: 0o755 });
    const fsckOutput = async (ostree: string) => {
      await writeFile(path.join(root, 'bin/ostree'), `#!/bin/sh\n${ostree}\n`, { mode: 0o755 });
      const result = await exec('sh', [path.join(root, 'test')], {
        env: { PATH: `${path.join(root, 'bin')}:${process.env.PATH}` },
      });
      return result.stdout.split('\n').filter((line) => line.startsWith('ostree-fsck'));
    };
    expect(await fsckOutput('[ "$2" = --repo=/ostree/repo ] && echo "Validating objects..."')).toEqual([
      'ostree-fsck ok',
    ]);
    expect(await fsckOutput('echo "error: In commits 1: Object missing: ab.dirtree" >&2; exit 1')).toEqual([
      'ostree-fsck failed error: In commits 1: Object missing: ab.dirtree',
    ]);
    expect(
      guestIgnitionConfig({ port: 1, stream: 's', publicKey: '', strategy: 'immediate' })
        .storage!.files!.map((file) => Buffer.from(file.contents!.source.split(',')[1]!, 'base64').toString())
        .join(''),
    ).not.toContain('fsck');
  });

  it('the slow repository delays only ostree objects and counts them; FleetLock peers fill a group through the HTTP API', async () => {
    const root = await makeTempDir('fcos-update-slow-');
    const object = `prod/streams/testing/repo/objects/ab/${'c'.repeat(62)}.dirtree`;
    await mkdir(path.join(root, path.dirname(object)), { recursive: true });
    await writeFile(path.join(root, object), 'tree');
    await writeFile(path.join(root, 'prod/streams/testing/repo/config'), '[core]\nmode=archive-z2\n');
    const events: FleetLockEvent[] = [];
    const server = await startServer({ root, port: 0, onFleetLock: (event) => events.push(event) });
    const proxy = await startSlowRepository(server.port, 400);
    try {
      const timed = async (file: string) => {
        const started = performance.now();
        const response = await fetch(`http://127.0.0.1:${proxy.port}/${file}`);
        return { status: response.status, body: await response.text(), ms: performance.now() - started };
      };
      const config = await timed('prod/streams/testing/repo/config');
      expect([config.status, config.body]).toEqual([200, '[core]\nmode=archive-z2\n']);
      expect(config.ms).toBeLessThan(300);
      const slow = await timed(object);
      expect([slow.status, slow.body]).toEqual([200, 'tree']);
      expect(slow.ms).toBeGreaterThanOrEqual(390);
      expect(proxy.objectsDelivered()).toBe(1);
      // A missing object is not counted as delivered.
      expect((await timed(object.replace('ab/', 'cd/'))).status).toBe(404);
      expect(proxy.objectsDelivered()).toBe(1);
      proxy.setDelay(0);
      expect((await timed(object)).ms).toBeLessThan(300);
      expect(proxy.objectsDelivered()).toBe(2);
      expect(isObjectPath(`/repo/objects/ab/${'c'.repeat(62)}.commitmeta`)).toBe(true);
      expect(isObjectPath('/repo/refs/heads/x')).toBe(false);

      const peers = new FleetLockPeers(server.url, 'default', 'testing/x86_64/FleetLockFullTest');
      await peers.take(['fleet-peer-1', 'fleet-peer-2']);
      expect(await fleetLockRequest(server.url, 'preReboot', 'machine', 'default')).toBe(false);
      expect(await peers.freeOne()).toBe('fleet-peer-1');
      expect(await fleetLockRequest(server.url, 'preReboot', 'machine', 'default')).toBe(true);
      await expect(peers.take(['fleet-peer-3'])).rejects.toThrow(UpdateTestSetupError);
      expect(events.map((event) => `${event.action} ${event.id} ${event.granted}`)).toEqual([
        'pre-reboot fleet-peer-1 true',
        'pre-reboot fleet-peer-2 true',
        'pre-reboot machine false',
        'steady-state fleet-peer-1 true',
        'pre-reboot machine true',
        'pre-reboot fleet-peer-3 false',
      ]);
    } finally {
      await proxy.close();
      await server.close();
    }
  });
});
