/**
 * Loading runners: every node records its kind's runner module (`fcos-cdk/stages/...`, or a path
 * relative to the project for a kind a fork defines); its default export is the runner. Modules
 * are imported once each, only for the selected nodes, so a run never loads a kind it does not run.
 */
import { existsSync } from 'node:fs';
import { FcosError } from '../errors.ts';
import { isRunner, type Runner } from '../runner.ts';
import type { Assembly } from '../synth/assembly.ts';
import { resolveModuleSpec } from '../util/package-root.ts';
import { importDefaultExport } from '../util/typescript-loader.ts';

/** The runner of every selected node, by construct path; a typed error names the first node whose runner is unusable. */
export async function loadRunners(
  assembly: Assembly,
  selected: Iterable<string>,
  projectDir: string,
): Promise<Map<string, Runner>> {
  const bySpec = new Map<string, Promise<unknown>>();
  const runners = new Map<string, Runner>();
  for (const nodePath of [...selected].sort()) {
    const node = assembly.nodes[nodePath]!;
    const where = { constructPath: nodePath, field: 'runner' };
    const file = resolveModuleSpec(node.runner, projectDir);
    if (!bySpec.has(node.runner)) {
      if (!existsSync(file)) {
        throw new FcosError(
          `'${nodePath}': the runner of ${node.kind} (${node.runner}) does not exist at ${file}: run fcos-synth again`,
          where,
        );
      }
      bySpec.set(node.runner, importDefaultExport(file));
    }
    const runner = await bySpec.get(node.runner)!;
    if (!isRunner(runner)) {
      throw new FcosError(
        `'${nodePath}': ${node.runner} does not export a runner: its default export must be defineRunner(${node.kind}Kind, { run })`,
        where,
      );
    }
    if (runner.kind !== node.kind) {
      throw new FcosError(
        `'${nodePath}': ${node.runner} runs kind ${runner.kind}, not ${node.kind}: run fcos-synth again`,
        where,
      );
    }
    if (runner.version !== node.kindVersion) {
      throw new FcosError(
        `'${nodePath}': pipeline.json has ${node.kind} v${node.kindVersion} but its runner is v${runner.version}: run fcos-synth again`,
        where,
      );
    }
    runners.set(nodePath, runner);
  }
  return runners;
}
