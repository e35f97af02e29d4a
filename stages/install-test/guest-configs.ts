/**
 * The Ignition configs of an InstallTest: the installed system's (kola basic: its file, the user
 * core, the guest-side test), and the live system's, which for the install scenarios adds the
 * test that runs coreos-installer (from the ISO's image), or the checks that a wrong sha256 and a
 * bad signature are refused, with the key coreos-installer trusts and its console setting.
 */

import {
  IGNITION_SPEC_VERSION,
  type IgnitionConfig,
  type IgnitionFile,
  inlineFile,
} from '../../lib/vm/ignition.ts';
import { basicIgnitionFile, basicTest } from '../kola-test/basic-test.ts';

/** Where the tiny OS's init runs tests from (local-os/packages/tiny-init/init.sh). */
const TESTS_DIRECTORY = '/etc/fcos-cdk/tests';
/** Where the live system keeps the installed system's config (written by its own Ignition). */
export const TARGET_CONFIG_PATH = '/etc/fcos-cdk/install/target.ign';
/** The keyring coreos-installer trusts, written into the live system. */
const TRUSTED_KEYRING_PATH = '/etc/coreos-installer/keys.d/install-test.gpg';
/** coreos-installer's config directory, read by its automated install (`--from-kargs`). */
const INSTALLER_CONFIG_PATH = '/etc/coreos/installer.d/10-install-test.yaml';
/** Seconds a guest test may run: an install writes the whole image under TCG. */
const INSTALL_TEST_TIMEOUT_SECONDS = 900;
/** The disk the live system installs to (QEMU's one virtio disk). */
export const TARGET_DEVICE = '/dev/vda';

/** A test the tiny OS's init runs: its script and time limit. */
function testFiles(name: string, script: string, timeoutSeconds: number): IgnitionFile[] {
  return [
    inlineFile(`${TESTS_DIRECTORY}/${name}/test`, script, 0o755),
    inlineFile(`${TESTS_DIRECTORY}/${name}/timeout`, `${timeoutSeconds}\n`),
  ];
}

/** kola basic's config: its file, the user core and the guest-side test (as KolaTest's VMs get). */
export function basicConfig(): IgnitionConfig {
  const basic = basicTest();
  return {
    ignition: { version: IGNITION_SPEC_VERSION },
    passwd: { users: [{ name: 'core', uid: 1000, gecos: 'CoreOS Admin' }] },
    storage: {
      files: [
        basicIgnitionFile(),
        ...testFiles(basic.name, basic.executable.contents.toString('utf8'), basic.timeoutSeconds),
      ],
    },
  };
}

/** `config` with `files` added. */
function withFiles(config: IgnitionConfig, files: readonly IgnitionFile[]): IgnitionConfig {
  return { ...config, storage: { ...config.storage, files: [...(config.storage?.files ?? []), ...files] } };
}

/** A shell word quoting `value`. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The live system's config of an offline install: basic, the installed system's config, and a
 * test installing the ISO's own image to the target with it; `expectSectorSize` is checked against
 * what coreos-installer says it picked. The installed system's `console` (`ttyS0,115200n8`) is the
 * serial console the harness reads.
 */
export function offlineInstallConfig(
  target: IgnitionConfig,
  expectSectorSize: 512 | 4096,
  console: string,
): IgnitionConfig {
  const script = `#!/usr/bin/sh
# InstallTest, guest side: install the live ISO's own image (offline) with the target's config.
set -e
coreos-installer install ${TARGET_DEVICE} --offline --ignition-file ${TARGET_CONFIG_PATH} --console ${console} 2>&1 | tee /run/install.log
grep -q '(${expectSectorSize}-byte sectors' /run/install.log || { echo "coreos-installer did not pick the ${expectSectorSize}-byte image"; exit 1; }
grep -q 'Install complete' /run/install.log
`;
  return withFiles(basicConfig(), [
    inlineFile(TARGET_CONFIG_PATH, JSON.stringify(target), 0o600),
    ...testFiles('install', script, INSTALL_TEST_TIMEOUT_SECONDS),
  ]);
}

/** What the PXE live system is told about the served files. */
export interface RefusalUrls {
  /** A stream metadata base URL whose metal sha256 is wrong. */
  readonly wrongSha256StreamBase: string;
  /** An image URL whose `.sig` is a signature of something else. */
  readonly badSignatureImage: string;
}

/**
 * The PXE live system's config: basic, the trusted keyring, coreos-installer's console setting for
 * the automated install, and a test that runs two installs that must be refused (wrong sha256,
 * bad signature), each leaving the target's first MiB as it was; `console` as in
 * {@link offlineInstallConfig}.
 */
export function pxeLiveConfig(trustedKeyring: Buffer, urls: RefusalUrls, console: string): IgnitionConfig {
  const script = `#!/usr/bin/sh
# InstallTest, guest side: installs that must be refused, the target untouched each time.
set -u
# The first and the last MiB (partition tables: the primary and the backup GPT).
disk_digest() {
  size=$(blockdev --getsize64 ${TARGET_DEVICE})
  { head -c 1048576 ${TARGET_DEVICE}; dd if=${TARGET_DEVICE} bs=1048576 skip=$((size / 1048576 - 1)) count=1 2>/dev/null; } | sha256sum | cut -d' ' -f1
}
# refused NAME EXPECTED-MESSAGE ARGS...: the install fails saying EXPECTED and writes nothing.
refused() {
  name=$1; expected=$2; shift 2
  before=$(disk_digest)
  if coreos-installer install ${TARGET_DEVICE} "$@" >/run/refused-$name.log 2>&1; then
    echo "$name: installed, expected a refusal"; cat /run/refused-$name.log; exit 1
  fi
  grep -q "$expected" /run/refused-$name.log || { echo "$name: refused without '$expected':"; cat /run/refused-$name.log; exit 1; }
  [ "$(disk_digest)" = "$before" ] || { echo "$name: the disk was written"; exit 1; }
  echo "$name: refused ($(grep 'error:' /run/refused-$name.log | tail -n 1))"
}
refused wrong-sha256 'sha256 mismatch' --stream testing --stream-base-url ${shellQuote(urls.wrongSha256StreamBase)}
refused bad-signature 'bad signature' --image-url ${shellQuote(urls.badSignatureImage)}
`;
  return withFiles(basicConfig(), [
    inlineFile(TRUSTED_KEYRING_PATH, trustedKeyring),
    inlineFile(INSTALLER_CONFIG_PATH, `console:\n  - ${console}\n`),
    ...testFiles('install-refusals', script, INSTALL_TEST_TIMEOUT_SECONDS),
  ]);
}
