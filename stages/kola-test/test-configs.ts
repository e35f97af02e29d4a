/**
 * The planned tests' own Ignition configs (their directory's config.ign) checked before anything
 * boots, with the validator the harness runs on the configs it writes (ignition-validate), on the
 * user's file as it is: an invalid one fails the node naming its tests and pointing into that file
 * (`tests/kola/foo/config.ign:2:29: $.storage.files.0.path: path not absolute`), instead of into a
 * VM's merged config after the boot. The validator's warnings become the tests' warnings unless
 * their metadata says `allowConfigWarnings`. Not at synthesis: synthesis runs no tool, and
 * ignition-validate (a Go program) is the one authority on what Ignition accepts.
 */
import path from 'node:path';
import { InvalidIgnitionConfigError, validateIgnitionFile } from '../../lib/vm/ignition.ts';
import type { KolaRunnerContext } from './runner-context.ts';
import type { PlannedTest } from './test-plan.ts';

/** ignition-validate's report line: `error at $.a.b, line 2 col 29: message` (the JSON path may be missing). */
const REPORT_LINE = /^(?:error|warning) at (?:(\$[^,]*), )?line (\d+) col (\d+): (.*)$/;

/**
 * A report line of ignition-validate as a pointer into `shownFile`:
 * `FILE:LINE:COLUMN: $.json.path: message`, or `FILE: line` when it names no place.
 */
export function pointIntoFile(shownFile: string, reportLine: string): string {
  const match = REPORT_LINE.exec(reportLine);
  if (!match) return `${shownFile}: ${reportLine}`;
  const [, jsonPath, line, column, message] = match;
  return `${shownFile}:${line}:${column}: ${jsonPath ? `${jsonPath}: ` : ''}${message}`;
}

/** `file` as the user knows it: relative to the project when inside it. */
function shownPath(projectDir: string, file: string): string {
  const relative = path.relative(projectDir, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

/**
 * Validates the config file of every test in `planned` (each file once); throws an
 * {@link InvalidIgnitionConfigError} naming the tests and the places in their files when one is
 * invalid, else returns the tests with the validator's warnings added to theirs.
 */
export async function checkTestConfigs(
  context: KolaRunnerContext,
  planned: readonly PlannedTest[],
): Promise<PlannedTest[]> {
  const testsOfFile = new Map<string, PlannedTest[]>();
  for (const test of planned) {
    if (test.ignitionConfigFile === undefined) continue;
    testsOfFile.set(test.ignitionConfigFile, [...(testsOfFile.get(test.ignitionConfigFile) ?? []), test]);
  }
  const problems: string[] = [];
  const warningsOfFile = new Map<string, string[]>();
  for (const [file, tests] of testsOfFile) {
    const validation = await validateIgnitionFile(file, { signal: context.signal });
    if (!validation.validated) {
      context.log('ignition-validate is not installed: the tests’ config.ign files are not checked');
      return [...planned];
    }
    const shown = shownPath(context.projectDir, file);
    const names = tests.map((test) => test.name).join(', ');
    if (!validation.valid) {
      const pointers = validation.errors.map((line) => `  ${pointIntoFile(shown, line)}`);
      problems.push(
        `the Ignition config of ${names} is invalid (ignition-validate):\n${pointers.join('\n')}`,
      );
    }
    warningsOfFile.set(
      file,
      validation.warnings.map((line) => `Ignition config warning: ${pointIntoFile(shown, line)}`),
    );
  }
  if (problems.length > 0) {
    throw new InvalidIgnitionConfigError(problems.join('\n'), {
      constructPath: context.nodePath,
      field: 'testsDir',
    });
  }
  return planned.map((test) => {
    const warnings = test.ignitionConfigFile ? (warningsOfFile.get(test.ignitionConfigFile) ?? []) : [];
    if (warnings.length === 0 || test.allowConfigWarnings) return test;
    return { ...test, warnings: [...test.warnings, ...warnings] };
  });
}
