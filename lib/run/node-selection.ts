/**
 * Which nodes a run touches: `--only` globs select nodes and everything they need, `--force`
 * globs pick the selected nodes whose cache entry is ignored. A pattern matching nothing is a
 * usage mistake, reported as such.
 */
import { FcosError } from '../errors.ts';
import { type Graph, withPredecessors } from '../synth/graph.ts';
import { matchAny } from './glob.ts';

/** A `--only` or `--force` pattern list matched no node (the CLI exits 2). */
export class UnmatchedPatternError extends FcosError {}

/** The nodes to run: all, or those matching `only` and everything they need. */
export function selectNodes(graph: Graph, only: readonly string[] | undefined): Set<string> {
  return withPredecessors(graph, [...matchedNodes(graph, only)]);
}

/** The nodes `only` names themselves (every node without patterns), not what they need. */
export function matchedNodes(graph: Graph, only: readonly string[] | undefined): Set<string> {
  if (!only || only.length === 0) return new Set(graph.nodes);
  return new Set(matchOrThrow(graph.nodes, only, '--only'));
}

/** The selected nodes that `force` names (none without patterns). */
export function forcedNodes(
  selected: ReadonlySet<string>,
  force: readonly string[] | undefined,
): Set<string> {
  if (!force || force.length === 0) return new Set();
  return new Set(matchOrThrow(selected, force, '--force'));
}

/** Paths matching `patterns`; a typed error naming the option when none does. */
function matchOrThrow(paths: Iterable<string>, patterns: readonly string[], option: string): string[] {
  const matched = matchAny(paths, patterns);
  if (matched.length === 0) {
    throw new UnmatchedPatternError(
      `${option} ${patterns.join(' ')} matches no node; see fcos-synth --list`,
      { field: option },
    );
  }
  return matched;
}
