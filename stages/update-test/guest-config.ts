/**
 * The Ignition config of an update test's machine (the guest contract of issue #12): the ostree
 * remote pointing at the served stream with signature verification and its public key, the update
 * agent's configuration fragment (Zincati's TOML shape), greenboot's boot-attempt limit, and the
 * test's guest script, which tiny-init runs on every boot after the agent and whose output says
 * what the host asserts on (the /etc edit made after staging, the /var data of the first boot).
 */
import {
  IGNITION_SPEC_VERSION,
  type IgnitionConfig,
  type IgnitionFile,
  inlineFile,
} from '../../lib/vm/ignition.ts';

/** The host as the guest reaches it on QEMU's user network. */
export const GUEST_HOST_ADDRESS = '10.0.2.2';

/** The guest test's name: its output lines are `  update-state| ...`. */
export const GUEST_TEST_NAME = 'update-state';

/** Where the guest looks for the public key of the served commits. */
export const GUEST_SIGNING_KEY_PATH = '/etc/pki/fcos-cdk/signing-key.asc';

/** The identity and FleetLock group of a test machine unless a scenario names another. */
export const MACHINE_GROUP = 'default';

/** Boot attempts of a new deployment before GRUB falls back (greenboot's default is 3). */
export const MAX_BOOT_ATTEMPTS = 2;

/** The file the guest script writes in /etc once an update is staged (finalization must carry it over). */
const ETC_EDIT = '/etc/fcos-cdk-update-test/edited-after-staging';
/** The file the guest script writes in /var on the machine's first boot. */
const VAR_DATA = '/var/lib/fcos-cdk-update-test/first-boot';

/** What the machine's configuration depends on. */
export interface GuestConfigOptions {
  /** The server's port on the host's loopback. */
  readonly port: number;
  /** The stream served. */
  readonly stream: string;
  /** The ASCII-armoured public key the served commits are signed with. */
  readonly publicKey: string;
  /** Zincati's update strategy. */
  readonly strategy: 'fleet_lock' | 'immediate';
  /** The machine's `identity.rollout_wariness`, if the scenario sets one. */
  readonly rolloutWariness?: number;
  /**
   * The FleetLock / identity group.
   * @default 'default'
   */
  readonly group?: string;
  /**
   * The port the ostree remote is reached at (a delaying proxy in front of the server).
   * @default `port`
   */
  readonly repositoryPort?: number;
  /**
   * The agent's `updates.fleet_lock.attempts` and `retry_seconds` (this agent's own keys).
   * @default the package's (6 attempts, 10 s apart)
   */
  readonly fleetLockRetries?: { readonly attempts: number; readonly retrySeconds: number };
  /**
   * Whether the guest script also checks the system repository (`ostree fsck`) on every boot.
   * @default false
   */
  readonly checkRepository?: boolean;
}

/** The served stream's remote, verifying commit signatures with the key Ignition writes. */
export function remoteConfig(baseUrl: string, stream: string): string {
  return [
    '[remote "fedora"]',
    `url=${baseUrl}/prod/streams/${stream}/repo`,
    'gpg-verify=true',
    `gpgkeypath=${GUEST_SIGNING_KEY_PATH}`,
    '',
  ].join('\n');
}

/** The agent's configuration fragment, in Zincati's TOML shape. */
export function agentConfig(baseUrl: string, options: GuestConfigOptions): string {
  const lines = [
    '# Written by the fcos-cdk update test.',
    '[cincinnati]',
    `base_url = "${baseUrl}"`,
    '',
    '[identity]',
    `group = "${options.group ?? MACHINE_GROUP}"`,
  ];
  // A TOML float: always with a fraction, so 1 is written 1.0.
  if (options.rolloutWariness !== undefined) {
    const value = options.rolloutWariness;
    lines.push(`rollout_wariness = ${Number.isInteger(value) ? value.toFixed(1) : String(value)}`);
  }
  lines.push('', '[updates]', 'enabled = true', `strategy = "${options.strategy}"`);
  if (options.strategy === 'fleet_lock') {
    lines.push('', '[updates.fleet_lock]', `base_url = "${baseUrl}"`);
    if (options.fleetLockRetries) {
      const { attempts, retrySeconds } = options.fleetLockRetries;
      lines.push(`attempts = ${attempts}`, `retry_seconds = ${retrySeconds}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The guest script: prints the state the host asserts on, then makes the next boot's state. It
 * always passes (the host judges); `sync` so a power-off right after keeps what it wrote. With
 * `checkRepository`, it also says whether the system repository is whole (`ostree fsck`: every
 * object of every commit present and matching its checksum), after a pull cut by a power failure.
 */
export function guestTestScript(checkRepository = false): string {
  const fsck = checkRepository
    ? [
        'if ostree fsck --repo=/ostree/repo >/run/update-state-fsck.log 2>&1; then',
        '  echo "ostree-fsck ok"',
        'else',
        '  echo "ostree-fsck failed $(grep -v \'^[[:space:]]*$\' /run/update-state-fsck.log | tail -n 1)"',
        'fi',
      ]
    : [];
  return [
    '#!/usr/bin/sh',
    "# Written by fcos-cdk's update test: reports /var and /etc state every boot (the host asserts).",
    `var_data=${VAR_DATA}`,
    `etc_edit=${ETC_EDIT}`,
    'if [ -e "$var_data" ]; then',
    '  echo "var-data present $(cat "$var_data")"',
    'else',
    '  echo "var-data absent"',
    '  mkdir -p "$(dirname "$var_data")" && echo "written-on-first-boot" > "$var_data" && echo "var-data written"',
    'fi',
    'if [ -e "$etc_edit" ]; then echo "etc-edit present $(cat "$etc_edit")"; else echo "etc-edit absent"; fi',
    'if [ -e /run/ostree/staged-deployment ]; then',
    '  echo "staged yes"',
    '  mkdir -p "$(dirname "$etc_edit")" && echo "made-after-staging" > "$etc_edit" && echo "etc-edit written"',
    'else',
    '  echo "staged no"',
    'fi',
    ...fsck,
    'sync',
    'exit 0',
    '',
  ].join('\n');
}

/** The machine's whole Ignition config. */
export function guestIgnitionConfig(options: GuestConfigOptions): IgnitionConfig {
  const baseUrl = `http://${GUEST_HOST_ADDRESS}:${options.port}`;
  const repositoryUrl = `http://${GUEST_HOST_ADDRESS}:${options.repositoryPort ?? options.port}`;
  const files: IgnitionFile[] = [
    inlineFile('/etc/ostree/remotes.d/fedora.conf', remoteConfig(repositoryUrl, options.stream)),
    inlineFile(GUEST_SIGNING_KEY_PATH, options.publicKey),
    inlineFile('/etc/update-agent/config.d/50-test.toml', agentConfig(baseUrl, options)),
    inlineFile('/etc/greenboot/greenboot.conf', `GREENBOOT_MAX_BOOT_ATTEMPTS=${MAX_BOOT_ATTEMPTS}\n`),
    inlineFile(
      `/etc/fcos-cdk/tests/${GUEST_TEST_NAME}/test`,
      guestTestScript(options.checkRepository),
      0o755,
    ),
  ];
  return {
    ignition: { version: IGNITION_SPEC_VERSION },
    passwd: { users: [{ name: 'core', uid: 1000, gecos: 'CoreOS Admin' }] },
    storage: { files },
  };
}
