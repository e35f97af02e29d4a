/**
 * The repositories a compose installs from: the treefile's `repos` and `lockfile-repos` names
 * resolved to a local repository among the compose's inputs (by the name its producer recorded),
 * else to the `.repo` definition the Manifest wrote into repos.json.
 */

import type { Repository } from '../tools/dnf.ts';
import type { ComposeRepoDefinition } from '../treefile/compose-input.ts';
import { ComposeError } from './errors.ts';

/** A compose input as far as repositories go: the directory and the producer's metadata. */
export interface RepositoryInput {
  /** The materialized directory (holding `repodata/`). */
  readonly path: string;
  /** The producer's metadata; a local repository's carries its `name`. */
  readonly metadata: { readonly [key: string]: unknown };
}

/**
 * The repositories dnf and rpm-ostree read, in the order of `names`: local ones from the inputs
 * whose field starts with `localRepos.`, remote ones as defined; a name that is neither fails.
 */
export function resolveRepositories(
  names: readonly string[],
  definitions: readonly ComposeRepoDefinition[],
  inputs: Readonly<Record<string, RepositoryInput>>,
  constructPath: string,
): Repository[] {
  const localByName = new Map<string, string>();
  for (const [field, input] of Object.entries(inputs)) {
    if (field.startsWith('localRepos.')) localByName.set(String(input.metadata.name), input.path);
  }
  return names.map((name) => {
    const local = localByName.get(name);
    if (local) return { name, directory: local };
    const definition = definitions.find((candidate) => candidate.name === name && !candidate.local);
    if (!definition || definition.local) {
      throw new ComposeError(
        `the treefile's repos name '${name}', but it is neither a local repository input (${[...localByName.keys()].join(', ') || 'none'}) nor defined in a .repo file`,
        { constructPath, field: 'repos' },
      );
    }
    return {
      name,
      ...(definition.baseurl.length > 0 ? { baseurl: definition.baseurl } : {}),
      ...(definition.metalink ? { metalink: definition.metalink } : {}),
      ...(definition.mirrorlist ? { mirrorlist: definition.mirrorlist } : {}),
    };
  });
}
