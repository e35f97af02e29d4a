/**
 * The launch loop of a run: a selected node starts as soon as every selected node it needs has
 * settled, so independent branches overlap and nothing waits for a whole layer. The nodes ready
 * at the start are launched highest priority first (longest path to a sink), so that the
 * critical path takes the capacity first; later, the pools order waiting nodes by priority.
 */
import type { Graph } from '../synth/graph.ts';

/**
 * Calls `processNode` for every node of `selected`, each after the selected nodes it needs;
 * resolves once all have settled. `processNode` must never reject (it records failures itself).
 */
export function runInDependencyOrder(
  graph: Graph,
  selected: ReadonlySet<string>,
  priority: ReadonlyMap<string, number>,
  processNode: (nodePath: string) => Promise<void>,
): Promise<void> {
  const waiting = new Map<string, number>();
  for (const node of selected) {
    waiting.set(node, (graph.predecessors.get(node) ?? []).filter((before) => selected.has(before)).length);
  }
  return new Promise<void>((resolve) => {
    let settled = 0;
    if (selected.size === 0) resolve();
    const launch = (node: string): void => {
      void processNode(node).then(() => {
        settled++;
        for (const next of graph.successors.get(node) ?? []) {
          if (!selected.has(next)) continue;
          const left = waiting.get(next)! - 1;
          waiting.set(next, left);
          if (left === 0) launch(next);
        }
        if (settled === selected.size) resolve();
      });
    };
    const ready = [...selected].filter((node) => waiting.get(node) === 0);
    ready.sort((a, b) => (priority.get(b) ?? 0) - (priority.get(a) ?? 0));
    for (const node of ready) launch(node);
  });
}
