/**
 * Adding a build to a stream's builds index (`builds/builds.json`), as coreos-assembler keeps it:
 * newest first, one entry per build id listing the arches built so far. Each arch is listed once:
 * publishing a build again changes nothing for the arches it already lists, and a new arch of a
 * known build joins its entry (releases.json's superset rule is checked by appendRelease). Pure:
 * the caller reads and writes.
 */
import { BuildsIndexError } from './errors.ts';
import type { BuildsIndex } from './formats.ts';

/**
 * The index with build `id`'s `arches` added; `timestamp` is set only when the index changed,
 * so publishing twice gives the same bytes.
 */
export function addBuild(
  index: BuildsIndex | undefined,
  id: string,
  arches: readonly string[],
  timestamp: string,
): BuildsIndex {
  if (arches.length === 0) throw new BuildsIndexError(id, 'a build needs at least one arch');
  if (new Set(arches).size !== arches.length) {
    throw new BuildsIndexError(id, `an arch is named twice (${arches.join(', ')})`);
  }
  if (index === undefined) {
    return { 'schema-version': '1.0.0', builds: [{ id, arches: [...arches] }], timestamp };
  }
  const position = index.builds.findIndex((build) => build.id === id);
  if (position < 0) {
    return { ...index, builds: [{ id, arches: [...arches] }, ...index.builds], timestamp };
  }
  const existing = index.builds[position]!;
  const added = arches.filter((arch) => !existing.arches.includes(arch));
  if (added.length === 0) return index;
  const builds = [...index.builds];
  builds[position] = { ...existing, arches: [...existing.arches, ...added] };
  return { ...index, builds, timestamp };
}
