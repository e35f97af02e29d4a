/**
 * kola's built-in `basic` test for the QEMU harness: the guest side (a file Ignition wrote, with its
 * mode and contents; the user core; a read-only /usr) and the host side (what the console says of
 * the deployment, platform, Ignition and users).
 */
import type { ConsoleReport } from '../../lib/kola/console.ts';
import { type IgnitionFile, inlineFile } from '../../lib/vm/ignition.ts';
import type { PlannedTest } from './test-plan.ts';

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

/** The name of the built-in test. */
export const BASIC_TEST_NAME = 'basic';

/** The built-in `basic` test, as the planner sees it (tag `basic`, shares a VM, 60 s). */
export function basicTest(): PlannedTest & { readonly tags: readonly string[] } {
  return {
    name: BASIC_TEST_NAME,
    executable: { name: 'test', contents: Buffer.from(BASIC_SCRIPT) },
    external: false,
    dataFiles: [],
    timeoutSeconds: 60,
    minMemoryMiB: 0,
    exclusive: false,
    conflicts: [],
    warnOnly: false,
    skipBaseChecks: false,
    warnings: [],
    tags: ['basic'],
  };
}

/** The file every VM gets for `basic` (written whether or not basic runs, so configs stay alike). */
export function basicIgnitionFile(): IgnitionFile {
  return inlineFile(BASIC_FILE.path, BASIC_FILE.contents, BASIC_FILE.mode);
}

/** Host-side checks of `basic` on a console: deployment, platform, Ignition, user. */
export function basicHostProblems(report: ConsoleReport, platform: string): string[] {
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
