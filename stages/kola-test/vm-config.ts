/**
 * The Ignition config of one test VM: basic's file and the user core, the attempt number, and for
 * each test the files the tiny OS's init runs (`/etc/fcos-cdk/tests/<name>/test` and its time
 * limit). An external test's `test` is a wrapper giving it kola's environment (`KOLA_TEST`,
 * `KOLA_TEST_EXE`, `KOLA_UNIT`, `KOLA_EXT_DATA`) before running its executable, and its `data/`
 * goes where kola puts it. The tests' own configs are merged in, as kola merges them.
 */
import { GUEST_DATA_DIRECTORY } from '../../lib/kola/test-data.ts';
import {
  IGNITION_SPEC_VERSION,
  type IgnitionConfig,
  type IgnitionFile,
  inlineFile,
  mergeIgnitionJson,
} from '../../lib/vm/ignition.ts';
import { basicIgnitionFile } from './basic-test.ts';
import type { PlannedTest } from './test-plan.ts';

/** Where the tiny OS's init looks for tests (packages/tiny-init/init.sh). */
const GUEST_TESTS_DIRECTORY = '/etc/fcos-cdk/tests';

/** kola's systemd unit name for external tests, numbered for the non-exclusive ones. */
const KOLA_UNIT_NAME = 'kola-runext';

/** A shell word quoting `value` (single quotes). */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The wrapper running an external test with kola's environment. */
function kolaWrapper(test: PlannedTest, executablePath: string, unit: string, dataDirectory: string): string {
  return [
    '#!/usr/bin/sh',
    "# Written by fcos-cdk's kola harness: kola's environment for an external test, then the test.",
    `export KOLA_TEST=${shellQuote(test.name)}`,
    `export KOLA_TEST_EXE=${shellQuote(test.executable.name)}`,
    `export KOLA_UNIT=${shellQuote(unit)}`,
    `export KOLA_EXT_DATA=${shellQuote(dataDirectory)}`,
    `exec ${shellQuote(executablePath)}`,
    '',
  ].join('\n');
}

/** The files of one test in its VM; `slot` numbers the non-exclusive tests of a VM as kola does. */
function testFiles(test: PlannedTest, slot: number | undefined): IgnitionFile[] {
  const directory = `${GUEST_TESTS_DIRECTORY}/${test.name}`;
  const files = [inlineFile(`${directory}/timeout`, `${test.timeoutSeconds}\n`)];
  if (!test.external) {
    files.push(inlineFile(`${directory}/test`, test.executable.contents, 0o755));
    return files;
  }
  // kola installs the executable as kola-runext-<name>; a test called `test` cannot clash with init's entry point.
  const executablePath = `${directory}/kola-runext-${test.executable.name}`;
  const unit = slot === undefined ? `${KOLA_UNIT_NAME}.service` : `${KOLA_UNIT_NAME}-${slot}.service`;
  const dataDirectory = slot === undefined ? GUEST_DATA_DIRECTORY : `${GUEST_DATA_DIRECTORY}-${slot}`;
  files.push(inlineFile(executablePath, test.executable.contents, 0o755));
  files.push(inlineFile(`${directory}/test`, kolaWrapper(test, executablePath, unit, dataDirectory), 0o755));
  for (const data of test.dataFiles) {
    files.push(inlineFile(`${dataDirectory}/${data.relativePath}`, data.contents, data.mode));
  }
  return files;
}

/** The Ignition config of a VM running `tests`: basic's file and user, each test's files, the attempt number. */
export function vmIgnitionConfig(tests: readonly PlannedTest[], attempt: number): unknown {
  const shared = tests.length > 1;
  const files = [
    basicIgnitionFile(),
    // Tests can tell a rerun from the first run (kola reruns failed tests once).
    inlineFile('/etc/fcos-cdk/attempt', `${attempt}\n`),
    ...tests.flatMap((test, index) => testFiles(test, shared ? index + 1 : undefined)),
  ];
  const base: IgnitionConfig = {
    ignition: { version: IGNITION_SPEC_VERSION },
    passwd: { users: [{ name: 'core', uid: 1000, gecos: 'CoreOS Admin' }] },
    storage: { files },
  };
  return tests.reduce<unknown>((config, test) => mergeIgnitionJson(config, test.ignitionConfig), base);
}
