/**
 * Loading runners: every node records the module that defines its kind (`fcos-cdk/stages/...`
 * or a path relative to the project, for kinds a fork defines); importing it registers the runner.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FcosError } from '../errors.ts';
import type { Assembly } from '../synth/assembly.ts';
import { PACKAGE_ROOT } from '../util/package-root.ts';

/** The file a module spec of pipeline.json names. */
export function resolveModuleSpec(spec: string, projectDir: string): string {
  if (spec.startsWith('fcos-cdk/')) return path.join(PACKAGE_ROOT, spec.slice('fcos-cdk/'.length));
  return path.resolve(projectDir, spec);
}

/** Imports the modules of the selected nodes' kinds (each once). */
export async function loadRunnerModules(
  assembly: Assembly,
  selected: Iterable<string>,
  projectDir: string,
): Promise<void> {
  const specs = new Set<string>();
  for (const node of selected) specs.add(assembly.nodes[node]!.module);
  for (const spec of [...specs].sort()) {
    const file = resolveModuleSpec(spec, projectDir);
    if (!existsSync(file)) {
      const users = [...selected].filter((node) => assembly.nodes[node]!.module === spec);
      throw new FcosError(
        `module ${spec} (kind of ${users[0]}) does not exist at ${file}: run fcos-synth again`,
        {
          constructPath: users[0] ?? '',
          field: 'module',
        },
      );
    }
    await import(pathToFileURL(file).href);
  }
}
