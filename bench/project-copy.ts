/**
 * The local profile's project as the cold benchmarks run it: a fresh copy of this checkout's
 * pipeline.ts and local-os/ (so that nothing it builds lands in the checkout, and its cache starts
 * empty), linked to this checkout's fcos-cdk, and `fcos-synth && fcos-run` run there as processes.
 */
import { cp, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { linkFcosCdk } from '../test/helpers/link-project.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A fresh copy of the project in a new temporary directory named `prefix...`; its path. */
export async function copyProject(prefix: string): Promise<string> {
  const directory = await mkdtemp(path.join(os.tmpdir(), prefix));
  for (const entry of ['pipeline.ts', 'local-os']) {
    await cp(path.join(ROOT, entry), path.join(directory, entry), { recursive: true });
  }
  await linkFcosCdk(directory);
  return directory;
}

/** Arguments of {@link synthAndRun} beyond the quiet flags. */
export interface SynthAndRunArguments {
  /** fcos-synth's (`-c key=value` ...). */
  readonly synth?: readonly string[];
  /** fcos-run's (`--only ...`, `--jobs 1` ...). */
  readonly run?: readonly string[];
}

/** Runs `fcos-synth -q && fcos-run --plain -q` in `directory`; milliseconds and fcos-run's output. */
export async function synthAndRun(
  directory: string,
  extra: SynthAndRunArguments = {},
): Promise<{ ms: number; output: string }> {
  const start = performance.now();
  await execa('node', [path.join(ROOT, 'bin/fcos-synth.js'), '-q', ...(extra.synth ?? [])], {
    cwd: directory,
  });
  const result = await execa(
    'node',
    [path.join(ROOT, 'bin/fcos-run.js'), '--plain', '-q', ...(extra.run ?? [])],
    {
      cwd: directory,
    },
  );
  return { ms: performance.now() - start, output: result.stdout };
}
