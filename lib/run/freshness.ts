/**
 * The freshness check of a run: pipeline.json must be newer than the program it came from, or
 * the run would build what the program no longer says.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { FcosError } from '../errors.ts';

/** Refuses an assembly older than the program it came from (a missing program is not checked). */
export async function assertFresh(assemblyFile: string, appFile: string): Promise<void> {
  const [assembly, app] = await Promise.all([stat(assemblyFile), stat(appFile).catch(() => undefined)]);
  if (app && app.mtimeMs > assembly.mtimeMs) {
    throw new FcosError(
      `${path.relative(process.cwd(), assemblyFile)} is older than ${path.relative(process.cwd(), appFile)}: run fcos-synth first`,
      { field: 'pipeline.json' },
    );
  }
}
