/**
 * The scenarios: what each serves (the target's rollout, the server's fixed clock), which
 * machines it boots with which agent settings, what the host does between power-ons (a FleetLock
 * slot freed, the repository back to full speed), when it cuts the power, and what it asserts on
 * their consoles and on the server's FleetLock history. Pure: the runner does the booting, the
 * tests feed fake consoles. upgrade, rollback and rollout prove the update path; fleet-lock-full
 * and interrupted-pull the agent's robustness (too many boots for every pipeline run).
 */
import type { UpdateEntryInput } from '../../lib/release/update-metadata.ts';
import { DEFAULT_FLEET_LOCK_SLOTS, type FleetLockEvent } from '../../lib/serve/fleet-lock.ts';
import type { BootLoopResult, MachineBoot } from './boot-loop.ts';
import { type BootConsole, firstLine, linesStartingWith, parseBootConsole } from './console-protocol.ts';
import { GUEST_TEST_NAME, MAX_BOOT_ATTEMPTS } from './guest-config.ts';
import type { UpdateTestScenario } from './index.ts';
import type { ServedRelease } from './served-tree.ts';

/** One machine a scenario boots. */
export interface MachinePlan {
  /** Its name (its consoles' folder). */
  readonly name: string;
  /** The agent's strategy. */
  readonly strategy: 'fleet_lock' | 'immediate';
  /** Its rollout wariness, if set. */
  readonly rolloutWariness?: number;
  /** Most boots. */
  readonly maxBoots: number;
  /** Stop booting it after this boot. @default never */
  readonly stopAfter?: (boot: MachineBoot) => boolean;
  /** The agent's FleetLock retries (`updates.fleet_lock.attempts`, `retry_seconds`). @default the package's */
  readonly fleetLockRetries?: { readonly attempts: number; readonly retrySeconds: number };
  /** Whether the guest script checks the system repository with `ostree fsck`. @default false */
  readonly checkRepository?: boolean;
  /**
   * What the host does before each power-on after the machine powered off or had its power cut,
   * one entry per power-on; the loop ends at a power-off when none is left.
   * @default none
   */
  readonly powerOns?: readonly PowerOnAction[];
}

/** What the host does before powering a machine on again. */
export type PowerOnAction =
  | 'free-fleet-lock-slot' // one of the holders gives its FleetLock slot back
  | 'full-speed-repository'; // the ostree objects are no longer delayed

/** When the host cuts a machine's power in the middle of its pull. */
export interface PullInterruption {
  /** The boot whose pull is cut. */
  readonly boot: number;
  /** Objects the proxy must have delivered before the cut (the pull has written some). */
  readonly afterObjects: number;
}

/** What a scenario serves and boots. */
export interface ScenarioPlan {
  /** The update metadata entries (the target's rollout). */
  readonly updates: readonly UpdateEntryInput[];
  /** The server's clock, ms since the epoch (fixed so the rollout's threshold is known). */
  readonly nowMs: number;
  /** The threshold the target's rollout has at that time. */
  readonly threshold: number;
  /** The machines, booted one after the other. */
  readonly machines: readonly MachinePlan[];
  /** FleetLock slots taken (through the server's HTTP API) by these node ids before any boot. @default none */
  readonly fleetLockHolders?: readonly string[];
  /** Milliseconds each ostree object's answer is held back by a proxy in front of the server. @default no proxy */
  readonly objectDelayMs?: number;
  /** When the power is cut mid-pull. @default never */
  readonly interruptPull?: PullInterruption;
}

/** The served releases: the one the machine starts on, and the one it is offered. */
export interface ScenarioReleases {
  readonly from: ServedRelease;
  readonly to: ServedRelease;
}

/** Rollout length of the rollout scenario; its clock is fixed half-way. */
const ROLLOUT_MINUTES = 60;
/** The rollout scenario's machines: above and below the half-way threshold. */
export const WARY_MACHINE = { name: 'wary', rolloutWariness: 0.9 } as const;
/** The machine below the threshold. */
export const EAGER_MACHINE = { name: 'eager', rolloutWariness: 0.1 } as const;

/** Default most boots of a machine per scenario. */
const DEFAULT_MAX_BOOTS: Readonly<Record<UpdateTestScenario, number>> = {
  // stage + reboot, then the new deployment powers off: 2 expected.
  upgrade: 3,
  // stage, MAX_BOOT_ATTEMPTS failed trial boots, the fallback boot: 4 expected.
  rollback: 2 + MAX_BOOT_ATTEMPTS + 2,
  // the first boot says it all.
  rollout: 1,
  // gives up on the full group and powers off, is powered on with a slot free, stages and reboots,
  // powers off on the new release: 3 expected.
  'fleet-lock-full': 4,
  // power cut mid-pull, powered on: pulls again, stages and reboots, powers off on the new release.
  'interrupted-pull': 4,
};

/** The node ids holding every slot of the machine's group in the fleet-lock-full scenario. */
export const FLEET_LOCK_PEERS: readonly string[] = Array.from(
  { length: DEFAULT_FLEET_LOCK_SLOTS },
  (_, index) => `fleet-peer-${index + 1}`,
);
/** The agent's FleetLock tries in the fleet-lock-full scenario: few and short, the group stays full. */
export const FULL_GROUP_RETRIES = { attempts: 2, retrySeconds: 2 } as const;
/** How long each ostree object's answer is held back in the interrupted-pull scenario. */
const INTERRUPTED_PULL_OBJECT_DELAY_MS = 1500;
/** The start of the reason a boot was stopped for when the test cut its power mid-pull. */
export const PULL_INTERRUPTED = 'power cut mid-pull';

/** What `scenario` serves and boots. */
export function planScenario(
  scenario: UpdateTestScenario,
  releases: ScenarioReleases,
  maxBoots?: number,
): ScenarioPlan {
  const start = releases.to.timestamp;
  const boots = maxBoots ?? DEFAULT_MAX_BOOTS[scenario];
  if (scenario === 'rollout') {
    return {
      updates: [
        {
          version: releases.to.version,
          rollout: { startEpoch: start, startPercentage: 0, durationMinutes: ROLLOUT_MINUTES },
        },
      ],
      // Half-way: the threshold rises from 0 to 1 over the duration.
      nowMs: (start + (ROLLOUT_MINUTES * 60) / 2) * 1000,
      threshold: 0.5,
      machines: [WARY_MACHINE, EAGER_MACHINE].map((machine) => ({
        ...machine,
        strategy: 'immediate' as const,
        maxBoots: boots,
        stopAfter: () => true,
      })),
    };
  }
  // Fully rolled out: offered to every machine from the start.
  const fullyRolledOut = {
    updates: [{ version: releases.to.version, rollout: { startEpoch: start, startPercentage: 1 } }],
    nowMs: (start + 3600) * 1000,
    threshold: 1,
  };
  if (scenario === 'fleet-lock-full') {
    return {
      ...fullyRolledOut,
      machines: [
        {
          name: 'machine',
          strategy: 'fleet_lock',
          maxBoots: boots,
          fleetLockRetries: FULL_GROUP_RETRIES,
          powerOns: ['free-fleet-lock-slot'],
        },
      ],
      fleetLockHolders: FLEET_LOCK_PEERS,
    };
  }
  if (scenario === 'interrupted-pull') {
    return {
      ...fullyRolledOut,
      machines: [
        {
          name: 'machine',
          strategy: 'immediate',
          maxBoots: boots,
          checkRepository: true,
          powerOns: ['full-speed-repository'],
        },
      ],
      objectDelayMs: INTERRUPTED_PULL_OBJECT_DELAY_MS,
      // Three objects in: the commit and its signature are written, the trees are on their way. The
      // cut falls in the machine's first boot, seconds after Ignition wrote /etc: boot 2 also proves
      // those files were on disk before the firstboot stamp went (Ignition never runs again).
      interruptPull: { boot: 1, afterObjects: 3 },
    };
  }
  return {
    ...fullyRolledOut,
    machines: [{ name: 'machine', strategy: 'fleet_lock', maxBoots: boots }],
  };
}

/**
 * Why the host cuts the power of boot `bootIndex` now, or undefined: the plan interrupts this
 * boot's pull, the console shows the update was found and not yet staged, and the proxy has
 * delivered enough objects for the pull to have written some.
 */
export function pullInterruption(
  plan: ScenarioPlan,
  bootIndex: number,
  rawConsole: string,
  objectsDelivered: number,
): string | undefined {
  const cut = plan.interruptPull;
  if (!cut || bootIndex !== cut.boot || objectsDelivered < cut.afterObjects) return undefined;
  const console = parseBootConsole(rawConsole);
  if (!firstLine(console, 'agent', 'update', 'available') || firstLine(console, 'agent', 'staged')) {
    return undefined;
  }
  return `${PULL_INTERRUPTED} (QEMU killed after ${objectsDelivered} ostree objects were delivered)`;
}

/** One machine's boots. */
export interface MachineRun {
  readonly plan: MachinePlan;
  readonly loop: BootLoopResult;
}

/** A scenario's verdict. */
export interface Verdict {
  /** Whether every expectation held. */
  readonly passed: boolean;
  /** The failed expectations (what was expected, what was seen), with the last console lines. */
  readonly problems: readonly string[];
  /** The console file most relevant to the first problem (the last boot's of the machine). */
  readonly console?: string;
}

/** Collects failed expectations of one machine. */
class Expectations {
  readonly problems: string[] = [];
  constructor(private readonly machine: string) {}

  /** Records `expected` as failed, with what was seen instead, unless `holds`. */
  check(holds: boolean, expected: string, seen: string): void {
    if (!holds) this.problems.push(`${this.machine}: expected ${expected}; ${seen}`);
  }
}

/** The protocol lines of a boot as text, for messages. */
function said(boot: MachineBoot | undefined, ...words: string[]): string {
  if (!boot) return 'there was no boot';
  const lines = linesStartingWith(boot.console, ...words).map((line) => line.text);
  return lines.length > 0
    ? `boot ${boot.index} said: ${lines.join(' | ')}`
    : `boot ${boot.index} printed no "${words.join(' ')}" line`;
}

/** The guest script's output of a boot. */
function guestOutput(boot: MachineBoot | undefined): readonly string[] {
  return boot?.console.testOutput.get(GUEST_TEST_NAME) ?? [];
}

/** Whether the guest script printed a line starting with `prefix` in `boot`. */
function guestSaid(boot: MachineBoot | undefined, prefix: string): boolean {
  return guestOutput(boot).some((line) => line.startsWith(prefix));
}

/** The guest script's output as text, for messages. */
function guestText(boot: MachineBoot | undefined): string {
  if (!boot) return 'there was no boot';
  const lines = guestOutput(boot);
  return lines.length > 0
    ? `boot ${boot.index}'s ${GUEST_TEST_NAME} said: ${lines.join(' | ')}`
    : `boot ${boot.index} has no ${GUEST_TEST_NAME} output`;
}

/** Whether a boot's `agent booted` line names `release`. */
function bootedOn(console: BootConsole, release: ServedRelease): boolean {
  const line = firstLine(console, 'agent', 'booted');
  return line?.fields.version === release.version && line.fields.checksum === release.checksum;
}

/** The checksum of the deployment a boot's `booted deployment=<stateroot>/<checksum>.<serial>` names. */
export function bootedChecksum(console: BootConsole): string | undefined {
  const deployment = firstLine(console, 'booted')?.fields.deployment;
  return deployment ? /\/([0-9a-f]{64})\.\d+$/.exec(deployment)?.[1] : undefined;
}

/** How the loop ended, as words. */
function loopEnd(loop: BootLoopResult): string {
  const last = loop.boots[loop.boots.length - 1];
  const ended = {
    'power-off': 'it powered off',
    stopped: 'the test stopped it',
    'boot-timeout': `boot ${last?.index} was killed at its time limit`,
    'no-end': `boot ${last?.index} ended without a reboot or done line${last?.stoppedBecause ? ` (${last.stoppedBecause})` : ''}`,
    'max-boots': `it was still rebooting after ${loop.boots.length} boots`,
    deadline: "the scenario's time was up",
  }[loop.end];
  return `after ${loop.boots.length} boot(s) ${ended}`;
}

/** Judges a scenario's machines and the server's FleetLock history. */
export function assessScenario(
  scenario: UpdateTestScenario,
  releases: ScenarioReleases,
  runs: readonly MachineRun[],
  fleetLock: readonly FleetLockEvent[],
): Verdict {
  const problems: string[] = [];
  let console: string | undefined;
  for (const run of runs) {
    const expect = new Expectations(run.plan.name);
    if (scenario === 'upgrade') assessUpgrade(expect, releases, run, fleetLock);
    else if (scenario === 'rollback') assessRollback(expect, releases, run);
    else if (scenario === 'rollout') assessRollout(expect, releases, run);
    else if (scenario === 'fleet-lock-full') assessFleetLockFull(expect, releases, run, fleetLock);
    else assessInterruptedPull(expect, releases, run);
    if (expect.problems.length > 0 && console === undefined) {
      console = run.loop.boots[run.loop.boots.length - 1]?.consoleFile;
    }
    problems.push(...expect.problems);
  }
  return { passed: problems.length === 0, problems, ...(console ? { console } : {}) };
}

/** Upgrade: staged, slot taken, rebooted into `to`, /etc edit and /var data kept, slot released. */
function assessUpgrade(
  expect: Expectations,
  { from, to }: ScenarioReleases,
  { loop }: MachineRun,
  fleetLock: readonly FleetLockEvent[],
): void {
  const first = loop.boots[0];
  const last = loop.boots[loop.boots.length - 1];
  expect.check(
    loop.end === 'power-off',
    'the machine to power off by itself on the new release',
    loopEnd(loop),
  );
  expect.check(
    first !== undefined && bootedOn(first.console, from),
    `boot 1 on ${from.version} (${from.checksum})`,
    said(first, 'agent', 'booted'),
  );
  const staged = first ? firstLine(first.console, 'agent', 'staged') : undefined;
  expect.check(
    staged?.fields.version === to.version && staged.fields.checksum === to.checksum,
    `boot 1 to stage ${to.version} (${to.checksum})`,
    said(first, 'agent'),
  );
  expect.check(
    first?.console.end.kind === 'reboot' && first.console.end.reason === 'update',
    'boot 1 to end with "reboot reason=update"',
    said(first, 'reboot'),
  );
  expect.check(
    last !== undefined && last !== first && bootedOn(last.console, to),
    `the last boot on ${to.version} (${to.checksum})`,
    said(last, 'agent', 'booted'),
  );
  expect.check(
    last !== undefined && bootedChecksum(last.console) === to.checksum,
    `the last boot's deployment to be ${to.checksum}`,
    said(last, 'booted'),
  );
  expect.check(
    loop.boots.length === 2,
    '2 boots (stage and reboot, then power off)',
    `there were ${loop.boots.length}`,
  );
  expect.check(guestSaid(first, 'etc-edit written'), 'boot 1 to edit /etc after staging', guestText(first));
  expect.check(
    last !== first && guestSaid(last, 'etc-edit present made-after-staging'),
    'the /etc edit made after staging on the new deployment',
    guestText(last),
  );
  expect.check(guestSaid(first, 'var-data written'), 'boot 1 to write /var data', guestText(first));
  expect.check(
    last !== first && guestSaid(last, 'var-data present written-on-first-boot'),
    "boot 1's /var data on the new deployment",
    guestText(last),
  );
  expect.check(
    first !== undefined && firstLine(first.console, 'agent', 'fleet-lock', 'acquired') !== undefined,
    'boot 1 to acquire a FleetLock slot before rebooting',
    said(first, 'agent', 'fleet-lock'),
  );
  expect.check(
    last !== undefined && firstLine(last.console, 'agent', 'fleet-lock', 'released') !== undefined,
    'the new deployment to release its FleetLock slot',
    said(last, 'agent', 'fleet-lock'),
  );
  const taken = fleetLock.findIndex((event) => event.action === 'pre-reboot' && event.granted);
  const holder = taken >= 0 ? fleetLock[taken]! : undefined;
  const released =
    holder !== undefined &&
    fleetLock
      .slice(taken + 1)
      .some(
        (event) =>
          event.action === 'steady-state' &&
          event.granted &&
          event.id === holder.id &&
          event.group === holder.group,
      );
  expect.check(
    released,
    'the server to grant a pre-reboot slot and later see steady-state from the same node',
    `its FleetLock history: ${fleetLock.map((event) => `${event.action} id=${event.id} group=${event.group} granted=${event.granted}`).join(' | ') || 'no request'}`,
  );
}

/** Rollback: staged the broken release, failed its trial boots, fell back, recorded it, skips it. */
function assessRollback(expect: Expectations, { from, to }: ScenarioReleases, { loop }: MachineRun): void {
  const boots = loop.boots;
  const first = boots[0];
  const last = boots[boots.length - 1];
  expect.check(
    loop.end === 'power-off',
    'the machine to power off by itself back on the good release',
    loopEnd(loop),
  );
  const staged = first ? firstLine(first.console, 'agent', 'staged') : undefined;
  expect.check(
    staged?.fields.version === to.version && staged.fields.checksum === to.checksum,
    `boot 1 to stage ${to.version} (${to.checksum})`,
    said(first, 'agent'),
  );
  const trialBoots = boots.filter((boot) => bootedChecksum(boot.console) === to.checksum);
  const healthReboots = boots.filter(
    (boot) => boot.console.end.kind === 'reboot' && boot.console.end.reason === 'health-check',
  );
  expect.check(
    trialBoots.length === MAX_BOOT_ATTEMPTS,
    `${MAX_BOOT_ATTEMPTS} trial boots of ${to.version}`,
    `there were ${trialBoots.length}`,
  );
  expect.check(
    trialBoots.every((boot) => firstLine(boot.console, 'boot-attempt') !== undefined),
    'a boot-attempt line on every trial boot',
    trialBoots.map((boot) => said(boot, 'boot-attempt')).join('; ') || 'no trial boot',
  );
  expect.check(
    trialBoots.every((boot) =>
      linesStartingWith(boot.console, 'health').some((line) => line.fields.result === 'unhealthy'),
    ),
    'health result=unhealthy on every trial boot',
    trialBoots.map((boot) => said(boot, 'health')).join('; ') || 'no trial boot',
  );
  expect.check(
    healthReboots.length === MAX_BOOT_ATTEMPTS,
    `${MAX_BOOT_ATTEMPTS} reboots with reason=health-check`,
    `there were ${healthReboots.length}`,
  );
  const rollbackBoot = boots.find((boot) => firstLine(boot.console, 'rollback') !== undefined);
  const rollback = rollbackBoot ? firstLine(rollbackBoot.console, 'rollback') : undefined;
  expect.check(
    rollback?.fields.from === to.version,
    `a "rollback from=${to.version}" line`,
    rollback ? `boot ${rollbackBoot?.index} said: ${rollback.text}` : 'no boot printed a rollback line',
  );
  expect.check(
    last !== undefined && bootedOn(last.console, from) && bootedChecksum(last.console) === from.checksum,
    `the last boot on ${from.version} (${from.checksum})`,
    `${said(last, 'agent', 'booted')}; ${said(last, 'booted')}`,
  );
  const skipped = last ? firstLine(last.console, 'agent', 'update', 'skipped') : undefined;
  expect.check(
    skipped?.fields.version === to.version && skipped.fields.reason === 'denylisted',
    `the last boot's agent to skip ${to.version} as denylisted`,
    said(last, 'agent'),
  );
  expect.check(
    last === undefined || firstLine(last.console, 'agent', 'staged') === undefined,
    `no new staging of ${to.version} after the rollback`,
    said(last, 'agent', 'staged'),
  );
}

/** Rollout: the wary machine is offered nothing, the eager one is offered `to` and stages it. */
function assessRollout(expect: Expectations, { to }: ScenarioReleases, { plan, loop }: MachineRun): void {
  const first = loop.boots[0];
  const completed = first !== undefined && !first.timedOut && first.console.end.kind !== 'none';
  expect.check(completed, 'the first boot to run to its end', loopEnd(loop));
  if (plan.name === WARY_MACHINE.name) {
    expect.check(
      first !== undefined && firstLine(first.console, 'agent', 'update', 'none') !== undefined,
      `"agent update none" (wariness ${plan.rolloutWariness} is above the threshold)`,
      said(first, 'agent'),
    );
    expect.check(
      first !== undefined &&
        firstLine(first.console, 'agent', 'staged') === undefined &&
        firstLine(first.console, 'agent', 'update', 'available') === undefined,
      'no update offered or staged',
      said(first, 'agent'),
    );
    return;
  }
  const available = first ? firstLine(first.console, 'agent', 'update', 'available') : undefined;
  expect.check(
    available?.fields.version === to.version && available.fields.checksum === to.checksum,
    `"agent update available version=${to.version}" (wariness ${plan.rolloutWariness} is below the threshold)`,
    said(first, 'agent'),
  );
  const staged = first ? firstLine(first.console, 'agent', 'staged') : undefined;
  expect.check(
    staged?.fields.version === to.version && staged.fields.checksum === to.checksum,
    `"agent staged version=${to.version}"`,
    said(first, 'agent'),
  );
}

/** A FleetLock history as text, for messages. */
function historyText(fleetLock: readonly FleetLockEvent[]): string {
  return `its FleetLock history: ${fleetLock.map((event) => `${event.action} id=${event.id} group=${event.group} granted=${event.granted}`).join(' | ') || 'no request'}`;
}

/** The common end of both robustness scenarios: the last boot is on `to` and powered off there. */
function endsOnTarget(expect: Expectations, to: ServedRelease, loop: BootLoopResult, boots: number): void {
  const last = loop.boots[loop.boots.length - 1];
  expect.check(
    loop.end === 'power-off',
    'the machine to power off by itself on the new release',
    loopEnd(loop),
  );
  expect.check(loop.boots.length === boots, `${boots} boots`, `there were ${loop.boots.length}`);
  expect.check(
    last !== undefined && loop.boots.length > 1 && bootedOn(last.console, to),
    `the last boot on ${to.version} (${to.checksum})`,
    said(last, 'agent', 'booted'),
  );
  expect.check(
    last !== undefined && bootedChecksum(last.console) === to.checksum,
    `the last boot's deployment to be ${to.checksum}`,
    said(last, 'booted'),
  );
}

/** Whether a boot staged `to`. */
function stagedTarget(boot: MachineBoot | undefined, to: ServedRelease): boolean {
  const staged = boot ? firstLine(boot.console, 'agent', 'staged') : undefined;
  return staged?.fields.version === to.version && staged.fields.checksum === to.checksum;
}

/**
 * FleetLock group full: boot 1 stages `to`, is refused a slot on each try, gives up, leaves the
 * update unfinalized and powers off on `from`; with a slot freed, boot 2 stages again, takes it and
 * reboots; boot 3 is on `to` and gives the slot back. Never a reboot without a granted pre-reboot.
 */
function assessFleetLockFull(
  expect: Expectations,
  { from, to }: ScenarioReleases,
  { plan, loop }: MachineRun,
  fleetLock: readonly FleetLockEvent[],
): void {
  const [first, second] = loop.boots;
  const attempts = plan.fleetLockRetries?.attempts ?? 0;
  expect.check(
    first !== undefined && bootedOn(first.console, from),
    `boot 1 on ${from.version} (${from.checksum})`,
    said(first, 'agent', 'booted'),
  );
  expect.check(
    stagedTarget(first, to),
    `boot 1 to stage ${to.version} (${to.checksum})`,
    said(first, 'agent'),
  );
  const busy = first ? linesStartingWith(first.console, 'agent', 'fleet-lock', 'busy') : [];
  // The agent adds the server's answer after the number: `attempt=1 (curl: ... 409)`.
  expect.check(
    busy.length === attempts &&
      busy.every((line, index) => line.fields.attempt?.split(' ')[0] === String(index + 1)),
    `boot 1 to be refused a slot ${attempts} times ("agent fleet-lock busy ... attempt=1..${attempts}")`,
    said(first, 'agent', 'fleet-lock'),
  );
  expect.check(
    first !== undefined &&
      firstLine(first.console, 'agent', 'fleet-lock', 'gave-up') !== undefined &&
      firstLine(first.console, 'agent', 'fleet-lock', 'acquired') === undefined,
    'boot 1 to give up on the slot ("agent fleet-lock gave-up") without acquiring one',
    said(first, 'agent', 'fleet-lock'),
  );
  expect.check(
    first !== undefined &&
      firstLine(first.console, 'update', 'staged,', 'not', 'finalized') !== undefined &&
      firstLine(first.console, 'finalize') === undefined,
    'boot 1 to leave the update staged, not finalized (reboot not allowed)',
    said(first, 'update'),
  );
  expect.check(
    first?.console.end.kind === 'power-off',
    'boot 1 to power off ("done") without rebooting',
    said(first, 'reboot') + (first?.console.end.kind === 'power-off' ? '' : ` (${first?.console.end.kind})`),
  );
  expect.check(
    second !== undefined && bootedOn(second.console, from) && stagedTarget(second, to),
    `boot 2 (a slot freed) on ${from.version} again, staging ${to.version} again`,
    said(second, 'agent'),
  );
  expect.check(
    second !== undefined &&
      firstLine(second.console, 'agent', 'fleet-lock', 'acquired') !== undefined &&
      second.console.end.kind === 'reboot' &&
      second.console.end.reason === 'update',
    'boot 2 to acquire the freed slot and reboot with reason=update',
    `${said(second, 'agent', 'fleet-lock')}; ${said(second, 'reboot')}`,
  );
  endsOnTarget(expect, to, loop, 3);
  const last = loop.boots[loop.boots.length - 1];
  expect.check(
    last !== undefined &&
      last !== second &&
      firstLine(last.console, 'agent', 'fleet-lock', 'released') !== undefined,
    'the new deployment to release its FleetLock slot',
    said(last, 'agent', 'fleet-lock'),
  );
  // Every update reboot was preceded by a slot acquired in the same boot.
  const unlocked = loop.boots.filter(
    (boot) =>
      boot.console.end.kind === 'reboot' &&
      boot.console.end.reason === 'update' &&
      firstLine(boot.console, 'agent', 'fleet-lock', 'acquired') === undefined,
  );
  expect.check(
    unlocked.length === 0,
    'never a reboot into the update without a slot acquired in that boot',
    `boot(s) ${unlocked.map((boot) => boot.index).join(', ')} rebooted without one`,
  );
  // The server's side: the machine's requests, in order, and never a grant beyond the group's slots.
  const peers = new Set(FLEET_LOCK_PEERS);
  const machine = fleetLock.filter((event) => !peers.has(event.id));
  const expected = [
    ...Array.from({ length: attempts }, () => 'pre-reboot:refused'),
    'pre-reboot:granted',
    'steady-state:granted',
  ];
  const seen = machine.map((event) => `${event.action}:${event.granted ? 'granted' : 'refused'}`);
  expect.check(
    seen.join(' ') === expected.join(' ') && new Set(machine.map((event) => event.id)).size === 1,
    `the server to see one node ask ${expected.join(', ')}`,
    historyText(fleetLock),
  );
  const freed = fleetLock.findIndex((event) => event.action === 'steady-state' && peers.has(event.id));
  const granted = fleetLock.findIndex(
    (event) => !peers.has(event.id) && event.action === 'pre-reboot' && event.granted,
  );
  expect.check(
    freed >= 0 && granted > freed,
    "the machine's slot granted only after a peer gave one back",
    historyText(fleetLock),
  );
}

/**
 * Pull cut by a power failure: boot 1 finds `to` and is killed while pulling it (no staging); boot
 * 2, on `from` again, pulls it again, stages and reboots; boot 3 is on `to`, the system repository
 * whole (`ostree fsck`) after each completed boot.
 */
function assessInterruptedPull(
  expect: Expectations,
  { from, to }: ScenarioReleases,
  { loop }: MachineRun,
): void {
  const [first, second] = loop.boots;
  const available = first ? firstLine(first.console, 'agent', 'update', 'available') : undefined;
  expect.check(
    first !== undefined && bootedOn(first.console, from),
    `boot 1 on ${from.version} (${from.checksum})`,
    said(first, 'agent', 'booted'),
  );
  expect.check(
    available?.fields.version === to.version && available.fields.checksum === to.checksum,
    `boot 1 to find ${to.version} ("agent update available")`,
    said(first, 'agent'),
  );
  expect.check(
    first !== undefined &&
      first.stoppedBecause?.startsWith(PULL_INTERRUPTED) === true &&
      firstLine(first.console, 'agent', 'staged') === undefined &&
      first.console.end.kind === 'none',
    'boot 1 to have its power cut mid-pull, before "agent staged"',
    `${said(first, 'agent')}; ${first?.stoppedBecause ? `stopped: ${first.stoppedBecause}` : 'it was not stopped by the test'}`,
  );
  expect.check(
    second !== undefined && guestOutput(second).length > 0,
    "boot 2 to still have what Ignition wrote in boot 1 before the cut (the agent's config, the guest script)",
    guestText(second),
  );
  expect.check(
    second !== undefined && bootedOn(second.console, from) && stagedTarget(second, to),
    `boot 2 on ${from.version} again, pulling and staging ${to.version}`,
    said(second, 'agent'),
  );
  expect.check(
    second?.console.end.kind === 'reboot' && second.console.end.reason === 'update',
    'boot 2 to reboot with reason=update',
    said(second, 'reboot'),
  );
  endsOnTarget(expect, to, loop, 3);
  const last = loop.boots[loop.boots.length - 1];
  expect.check(
    last !== undefined && firstLine(last.console, 'agent', 'update', 'none') !== undefined,
    'the last boot\'s agent to find nothing newer ("agent update none")',
    said(last, 'agent'),
  );
  for (const boot of loop.boots.slice(1)) {
    expect.check(
      guestSaid(boot, 'ostree-fsck ok'),
      `boot ${boot.index}'s system repository to pass ostree fsck`,
      guestText(boot),
    );
  }
}
