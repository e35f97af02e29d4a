/**
 * UpdateTest: a machine booted from a release's qemu image updates itself from a served release,
 * end to end (issue #12): the test serves the releases with fcos-serve on loopback (a signed
 * archive repository, releases.json, updates/<stream>.json, FleetLock), boots the machine with
 * QEMU's user network as many times as it reboots itself, and asserts on its console. One kind,
 * five scenarios: three with a thin construct each ({@link UpgradeTest}, {@link RollbackTest},
 * {@link RolloutTest}), and two robustness scenarios of the agent, used as
 * `new UpdateTest(scope, id, { scenario: 'fleet-lock-full' | 'interrupted-pull', ... })` (3 boots
 * each plus waits: kept out of the default pipeline). Run by runner.ts; the report has KolaTest's
 * format, so `Release` gates on it.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';
import { harnessImageCheck } from '../kola-test/harness-check.ts';

/**
 * The scenarios an UpdateTest runs. `fleet-lock-full`: every FleetLock slot of the machine's group
 * is held by other nodes; the agent (2 tries, 2 s apart) gives up, the staged update is left
 * unfinalized and the machine powers off on its release; a slot is freed, the machine is powered on
 * again, takes it, reboots into the update and gives it back. `interrupted-pull`: the ostree objects
 * are served slowly and the machine's power is cut (QEMU killed) while it pulls the update; powered
 * on again, it pulls again, stages, reboots into the update, and `ostree fsck` passes.
 */
export const UPDATE_TEST_SCENARIOS = [
  'upgrade',
  'rollback',
  'rollout',
  'fleet-lock-full',
  'interrupted-pull',
] as const;
/** One scenario. */
export type UpdateTestScenario = (typeof UPDATE_TEST_SCENARIOS)[number];

/** Props every scenario takes. */
export interface UpdateTestCommonProps {
  /** The qemu image of the release the machine starts on. */
  readonly image: Artifact<'platform-image'>;
  /** That release's commit (the image's; served too, so the agent finds its booted node in the graph). */
  readonly from: Artifact<'ostree-commit'>;
  /** The release the machine is offered. */
  readonly to: Artifact<'ostree-commit'>;
  /**
   * The stream served (the remote's URL and the graph's).
   * @default the last part of `to`'s ref (`fedora/x86_64/coreos/testing` → `testing`)
   */
  readonly stream?: string;
  /**
   * The key the served commits are signed with (the guest verifies them).
   * @default 'throwaway' (the local builds' key kept in the cache)
   */
  readonly signing?: 'throwaway' | 'environment';
  /**
   * Memory of the VM in MiB.
   * @default 1024
   */
  readonly memoryMiB?: number;
  /**
   * Firmware the VM boots with.
   * @default 'uefi'
   */
  readonly firmware?: 'uefi' | 'bios';
  /**
   * Hard limit of one boot, in seconds (the VM is killed).
   * @default 240
   */
  readonly bootTimeoutSeconds?: number;
  /**
   * Hard limit of the whole scenario, every boot of every machine, in seconds.
   * @default 1800
   */
  readonly totalTimeoutSeconds?: number;
  /**
   * Most boots of one machine before the test gives up on it.
   * @default 3 (upgrade), 6 (rollback), 1 (rollout), 4 (fleet-lock-full, interrupted-pull)
   */
  readonly maxBoots?: number;
  /**
   * QEMU accelerator.
   * @default 'tcg'
   */
  readonly accelerator?: 'tcg' | 'kvm';
}

/** Props of {@link UpdateTest}: the common ones and the scenario. */
export interface UpdateTestProps extends UpdateTestCommonProps {
  /** What is served and what is asserted. */
  readonly scenario: UpdateTestScenario;
}

const schema = z
  .object({
    scenario: z.enum(UPDATE_TEST_SCENARIOS),
    image: artifactSchema('platform-image'),
    from: artifactSchema('ostree-commit'),
    to: artifactSchema('ostree-commit'),
    stream: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)
      .optional(),
    signing: z.enum(['throwaway', 'environment']).default('throwaway'),
    memoryMiB: z.number().int().min(256).default(1024),
    firmware: z.enum(['uefi', 'bios']).default('uefi'),
    bootTimeoutSeconds: z.number().int().min(10).max(3600).default(240),
    totalTimeoutSeconds: z
      .number()
      .int()
      .min(10)
      .max(6 * 3600)
      .default(1800),
    maxBoots: z.number().int().min(1).max(20).optional(),
    accelerator: z.enum(['tcg', 'kvm']).default('tcg'),
  })
  .strict();

/** Parsed props of {@link UpdateTest}. */
export type UpdateTestConfig = z.output<typeof schema>;

/** The UpdateTest kind. */
export const updateTestKind = defineKind({
  kind: 'UpdateTest',
  version: 1,
  schema,
  // The machines of a scenario boot one after the other: one VM at a time.
  resources: (props) => ({ class: 'vm', memoryMiB: props.memoryMiB }),
  runner: new URL('./runner.ts', import.meta.url),
});

/** An update scenario run against a machine booted from `image` (see the scenario constructs). */
export class UpdateTest extends Step<UpdateTestProps, UpdateTestConfig> {
  /** The test report (report.json and junit.xml in KolaTest's format, every boot's console, boots.json). */
  readonly report: Artifact<'test-report'>;

  constructor(scope: Construct, id: string, props: UpdateTestProps) {
    super(scope, id, updateTestKind, props);
    this.report = this.addOutput('report', 'test-report', {});
    const imageCheck = harnessImageCheck(this.props.image, this.props.firmware);
    this.addCheck(() => {
      const issues = imageCheck().map(({ field, message }) => this.issue(field, message));
      for (const field of ['from', 'to'] as const) {
        const arch = this.props[field].attributes.arch;
        if (arch !== this.props.image.attributes.arch) {
          issues.push(
            this.issue(
              field,
              `the commit is for ${arch}, the image for ${this.props.image.attributes.arch}: a machine updates within its arch`,
            ),
          );
        }
      }
      return issues;
    });
  }
}

/**
 * Upgrade: the machine boots release `from` (image and commit), is offered `to` (fully rolled
 * out, FleetLock strategy), stages it, takes a reboot slot, reboots into it and gives the slot
 * back. Asserted: booted version and checksum are `to`'s, an /etc edit made after staging and /var
 * data survived, the server saw pre-reboot then steady-state, the boot count.
 */
export class UpgradeTest extends UpdateTest {
  constructor(scope: Construct, id: string, props: UpdateTestCommonProps) {
    super(scope, id, { ...props, scenario: 'upgrade' });
  }
}

/**
 * Rollback: the machine boots `from` and is offered `to`, a release whose required health check
 * fails. It must stage it, fail its trial boots, fall back to `from` by itself, report the
 * rollback, and skip `to` from then on (denylisted).
 */
export class RollbackTest extends UpdateTest {
  constructor(scope: Construct, id: string, props: UpdateTestCommonProps) {
    super(scope, id, { ...props, scenario: 'rollback' });
  }
}

/**
 * Rollout: the server's clock is fixed half-way through a rollout of `to` (threshold 0.5); a
 * machine of wariness 0.9 must not be offered it, one of wariness 0.1 must be and stage it.
 */
export class RolloutTest extends UpdateTest {
  constructor(scope: Construct, id: string, props: UpdateTestCommonProps) {
    super(scope, id, { ...props, scenario: 'rollout' });
  }
}
