/**
 * `fcos-run --update-lockfiles`: after a successful run, every built or cached node whose runner
 * has an `updateLockfiles` hook writes back into the project what it resolved (a compose, its
 * package set as rpm-ostree lockfiles). The executor knows no kind: the hook is the kind's own.
 */
import path from 'node:path';
import { FcosError } from '../errors.ts';
import type { ResolvedArtifact, UpdatedLockfile } from '../runner.ts';
import { readAssembly } from '../synth/assembly.ts';
import { ArtifactStore, type StoredOutput } from './artifact-store.ts';
import type { RunResult } from './executor.ts';
import { OutDirectory } from './out-directory.ts';

/** A lockfile written by a node's hook. */
export interface NodeLockfile extends UpdatedLockfile {
  /** The node whose hook wrote it. */
  readonly node: string;
}

/** Where the run that produced `result` lived. */
export interface LockfileUpdateOptions {
  /** The run's output directory (holding pipeline.json and artifacts/). */
  readonly outdir: string;
  /** The run's cache (commits are read from its ostree repository). */
  readonly cacheDir: string;
}

/** A node's `updateLockfiles` hook failed for a reason of its own (not a typed error). */
export class LockfileUpdateError extends FcosError {}

/** Calls the `updateLockfiles` hook of every built or cached node of `result`, in path order; what they wrote. */
export async function updateLockfiles(
  result: RunResult,
  options: LockfileUpdateOptions,
): Promise<NodeLockfile[]> {
  const outdir = path.resolve(options.outdir);
  const assembly = await readAssembly(path.join(outdir, 'pipeline.json'));
  const projectDir = path.resolve(outdir, assembly.pipeline.project);
  const out = new OutDirectory(outdir, new ArtifactStore(options.cacheDir));
  const written: NodeLockfile[] = [];
  for (const nodePath of [...result.runners.keys()].sort()) {
    const runner = result.runners.get(nodePath)!;
    const outcome = result.outcomes.get(nodePath);
    const node = assembly.nodes[nodePath];
    if (!runner.updateLockfiles || !node || !outcome?.outputs) continue;
    if (outcome.status !== 'built' && outcome.status !== 'cached') continue;
    const inputs: Record<string, Omit<ResolvedArtifact, 'path'>> = {};
    for (const [field, reference] of Object.entries(node.inputs)) {
      const output = result.outcomes.get(reference.node)?.outputs?.[reference.output];
      // Inputs of a built or cached node were built or cached in the same run.
      if (output) inputs[field] = describedOutput(output);
    }
    const outputs = Object.fromEntries(
      Object.entries(outcome.outputs).map(([name, output]) => [
        name,
        { ...describedOutput(output), path: out.publishedPath(nodePath, name, output) },
      ]),
    );
    try {
      const lockfiles = await runner.updateLockfiles({
        nodePath,
        props: node.props as never,
        inputs,
        outputs,
        projectDir,
      });
      for (const lockfile of lockfiles) written.push({ ...lockfile, node: nodePath });
    } catch (error) {
      if (error instanceof FcosError) throw error;
      throw new LockfileUpdateError(
        `'${nodePath}': updating its lockfiles failed: ${error instanceof Error ? error.message : String(error)}`,
        { constructPath: nodePath, cause: error },
      );
    }
  }
  return written;
}

/** An output as hooks see it, without a path. */
function describedOutput(output: StoredOutput): Omit<ResolvedArtifact, 'path'> {
  return { type: output.type, digest: output.digest, storage: output.storage, metadata: output.metadata };
}
