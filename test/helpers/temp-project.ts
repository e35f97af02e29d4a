/** Temporary pipeline programs for tests: written to a fresh project directory whose `fcos-cdk` is this checkout. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll } from 'vitest';
import type { CliIo } from '../../lib/cli/io.ts';
import { main } from '../../lib/cli/synth.ts';
import { linkFcosCdk, REPO_ROOT } from './link-project.ts';

export { linkFcosCdk, REPO_ROOT };

/** `import` line header giving a temporary program the library, the stages and Construct. */
export function programHeader(): string {
  // Three lines, as ever: the tests' expected line numbers count from the program's fourth line.
  return [
    "import { Construct, Pipeline } from 'fcos-cdk';",
    "import * as stages from 'fcos-cdk';",
    'const { LocalPackageRepo, Manifest, RpmOstreeCompose, DiskImage, PlatformImage, Upload, KolaTest } = stages;',
    '',
  ].join('\n');
}

const created: string[] = [];
afterAll(async () => {
  await Promise.all(created.map((directory) => rm(directory, { recursive: true, force: true })));
});

/** Makes a temporary directory removed after the test file. */
export async function makeTempDir(prefix = 'fcos-test-'): Promise<string> {
  const directory = await mkdtemp(path.join(os.tmpdir(), prefix));
  created.push(directory);
  return directory;
}

/** Makes a temporary project directory (see {@link linkFcosCdk}) removed after the test file. */
export async function makeTempProject(prefix = 'fcos-test-'): Promise<string> {
  const directory = await makeTempDir(prefix);
  await linkFcosCdk(directory);
  return directory;
}

/** Writes a program (header + body) as `app.ts` in a new temporary project; returns its directory. */
export async function writeProgram(body: string, files: Record<string, string> = {}): Promise<string> {
  const directory = await makeTempProject();
  await writeFile(path.join(directory, 'app.ts'), `${programHeader()}${body}\n`);
  for (const [name, content] of Object.entries(files)) {
    await writeFile(path.join(directory, name), content);
  }
  return directory;
}

/** Result of an in-process fcos-synth run. */
export interface SynthRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** CLI output streams that collect what is written. */
export function captureIo(): CliIo & { readonly out: string[]; readonly err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (text) => out.push(text), stderr: (text) => err.push(text) };
}

/** Runs fcos-synth in-process with `argv`, collecting its output. */
export async function runSynth(argv: readonly string[]): Promise<SynthRun> {
  const io = captureIo();
  const code = await main(argv, io);
  return { code, stdout: io.out.join(''), stderr: io.err.join('') };
}

/** Runs fcos-synth in-process on `<directory>/app.ts` with output in `<directory>/fcos.out`. */
export function synthIn(directory: string, ...extra: string[]): Promise<SynthRun> {
  return runSynth([
    '--app',
    path.join(directory, 'app.ts'),
    '--out',
    path.join(directory, 'fcos.out'),
    ...extra,
  ]);
}

/** `import` line giving a temporary program the test-only kinds. */
export function testKindsHeader(): string {
  return `import { OrphanStep, TestStep } from '${pathToFileURL(path.join(REPO_ROOT, 'test/kinds/test-step.ts')).href}';\n`;
}

/** Runs fcos-run in-process on `<directory>/fcos.out` with the cache `<directory>/cache`. */
export async function runIn(directory: string, ...extra: string[]): Promise<SynthRun> {
  const { main: runMain } = await import('../../lib/cli/run.ts');
  const io = captureIo();
  const code = await runMain(
    [
      '--out',
      path.join(directory, 'fcos.out'),
      '--cache',
      path.join(directory, 'cache'),
      '--plain',
      ...extra,
    ],
    io,
  );
  return { code, stdout: io.out.join(''), stderr: io.err.join('') };
}

/** The events of the last run in `<directory>/fcos.out`. */
export async function readEvents(
  directory: string,
): Promise<Array<Record<string, unknown> & { event: string; node?: string }>> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(path.join(directory, 'fcos.out/events.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

/** Nodes that had an event of `kind` in `events`, sorted. */
export function nodesWith(events: ReadonlyArray<{ event: string; node?: string }>, kind: string): string[] {
  return [...new Set(events.filter((event) => event.event === kind).map((event) => event.node!))].sort();
}
