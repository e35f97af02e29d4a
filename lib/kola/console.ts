/**
 * Reading a VM's serial console: the tiny OS's `FCOS-CDK:` line protocol (see
 * packages/tiny-init/init.sh) and the failure patterns kola watches for on every console.
 */

/** What a console log says about a boot. */
export interface ConsoleReport {
  /** `<stateroot>/<checksum>.<serial>` of the booted deployment, if the OS reported it. */
  readonly deployment?: string;
  /** `ignition.platform.id` as the OS saw it. */
  readonly platform?: string;
  /** Whether /usr was read-only. */
  readonly usrReadOnly?: boolean;
  /** Whether Ignition left its result file. */
  readonly ignitionResult?: boolean;
  /** Users with uid >= 1000 the OS reported (created by Ignition). */
  readonly users: ReadonlyArray<{ readonly name: string; readonly uid: number; readonly home: string }>;
  /** Per-test results reported by the guest, in order. */
  readonly tests: ReadonlyArray<{ readonly name: string; readonly passed: boolean; readonly reason: string }>;
  /** Whether the OS finished its run (`FCOS-CDK: done`). */
  readonly done: boolean;
  /** Failure patterns found (kernel panic, Oops ...), with their lines. */
  readonly failures: readonly string[];
  /** The kernel command line, if the kernel printed it. */
  readonly commandLine?: string;
}

/** Console patterns that fail any test, as kola checks them. */
export const CONSOLE_FAILURE_PATTERNS: ReadonlyArray<{ readonly name: string; readonly pattern: RegExp }> = [
  { name: 'kernel panic', pattern: /Kernel panic - not syncing/ },
  { name: 'kernel Oops', pattern: /\bOops(: |#)/ },
  { name: 'kernel BUG', pattern: /kernel BUG at/ },
  { name: 'emergency shell', pattern: /(Entering emergency mode|emergency shell|initramfs failed)/ },
  { name: 'segfault', pattern: /segfault at [0-9a-f]+ ip/ },
  { name: 'oom-killer', pattern: /invoked oom-killer/ },
  { name: 'failed unit', pattern: /\[FAILED\] Failed to start/ },
];

/** Parses a serial console log. */
export function parseConsole(text: string): ConsoleReport {
  const tests: Array<{ name: string; passed: boolean; reason: string }> = [];
  const users: Array<{ name: string; uid: number; home: string }> = [];
  let deployment: string | undefined;
  let platform: string | undefined;
  let usrReadOnly: boolean | undefined;
  let ignitionResult: boolean | undefined;
  let done = false;
  let commandLine: string | undefined;
  const failures: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const kernelCommandLine = /Kernel command line: (.*)$/.exec(line);
    if (kernelCommandLine) commandLine = kernelCommandLine[1];
    for (const { name, pattern } of CONSOLE_FAILURE_PATTERNS) {
      if (pattern.test(line)) failures.push(`${name}: ${line.trim()}`);
    }
    const protocol = /^FCOS-CDK: (.*)$/.exec(line)?.[1];
    if (protocol === undefined) continue;
    const booted = /^booted deployment=(\S+) platform=(\S*)/.exec(protocol);
    const usr = /^usr-readonly (yes|no)/.exec(protocol);
    const ignition = /^ignition result=(present|absent)/.exec(protocol);
    const test = /^test (\S+) (pass|fail)\s*(.*)$/.exec(protocol);
    const user = /^user (\S+) uid=(\d+) home=(\S*)/.exec(protocol);
    if (booted) {
      deployment = booted[1];
      platform = booted[2];
    } else if (usr) {
      usrReadOnly = usr[1] === 'yes';
    } else if (ignition) {
      ignitionResult = ignition[1] === 'present';
    } else if (test) {
      tests.push({ name: test[1]!, passed: test[2] === 'pass', reason: test[3] ?? '' });
    } else if (user) {
      users.push({ name: user[1]!, uid: Number(user[2]), home: user[3]! });
    } else if (protocol === 'done') {
      done = true;
    }
  }
  return {
    tests,
    users,
    done,
    failures,
    ...(deployment ? { deployment } : {}),
    ...(platform !== undefined ? { platform } : {}),
    ...(usrReadOnly !== undefined ? { usrReadOnly } : {}),
    ...(ignitionResult !== undefined ? { ignitionResult } : {}),
    ...(commandLine ? { commandLine } : {}),
  };
}

/** Terminal escape sequences (colours, cursor moves) that firmware and kernels print. */
const ANSI_ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');

/** A console log as text: escape sequences and other control characters removed, blank lines dropped. */
export function cleanConsole(text: string): string {
  return text
    .replace(ANSI_ESCAPE, '')
    .replace(/[^\t\n -~]/g, '')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .join('\n');
}

/** The last `count` lines of a console log, cleaned. */
export function consoleTail(text: string, count = 20): string {
  return cleanConsole(text).split('\n').slice(-count).join('\n');
}
