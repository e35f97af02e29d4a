/**
 * Adding a build to a stream's builds index (`builds/builds.json`), as coreos-assembler keeps it:
 * newest first, one entry per build id listing the arches built so far. An arch of a build is
 * added once: publishing the same build with the same arches again changes nothing, a new arch
 * of a known build joins its entry, anything else is refused. Pure: the caller reads and writes.
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
  if (sameSet(existing.arches, arches)) return index;
  const again = arches.filter((arch) => existing.arches.includes(arch));
  if (again.length > 0) {
    throw new BuildsIndexError(
      id,
      `it is already in the index with ${again.join(', ')} (it has ${existing.arches.join(', ')}): an arch of a build is published once`,
    );
  }
  const builds = [...index.builds];
  builds[position] = { ...existing, arches: [...existing.arches, ...arches] };
  return { ...index, builds, timestamp };
}

/** Whether two lists hold the same names, in any order. */
function sameSet(left: readonly string[], right: readonly string[]): boolean {
  return left.length === right.length && left.every((item) => right.includes(item));
}
