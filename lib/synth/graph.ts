/**
 * The DAG view of an assembly: edges, topological order, cycles, selection, critical path, and
 * renderings for people (Mermaid, Graphviz dot).
 */
import type { Assembly } from './assembly.ts';

/** Adjacency of a DAG whose nodes are construct paths. */
export interface Graph {
  /** Every node, sorted. */
  readonly nodes: readonly string[];
  /** Nodes each node needs (inputs and explicit dependencies), sorted. */
  readonly predecessors: ReadonlyMap<string, readonly string[]>;
  /** Nodes that need each node, sorted. */
  readonly successors: ReadonlyMap<string, readonly string[]>;
}

/** Builds a graph from `node → nodes it needs`. */
export function graphFromPredecessors(needs: ReadonlyMap<string, Iterable<string>>): Graph {
  const nodes = [...needs.keys()].sort();
  const predecessors = new Map<string, string[]>();
  const successors = new Map<string, string[]>(nodes.map((node) => [node, []]));
  for (const node of nodes) {
    const before = [...new Set(needs.get(node) ?? [])].sort();
    predecessors.set(node, before);
    for (const producer of before) successors.get(producer)?.push(node);
  }
  for (const list of successors.values()) list.sort();
  return { nodes, predecessors, successors };
}

/** The graph of an assembly: an edge per input and per explicit dependency. */
export function graphOfAssembly(assembly: Assembly): Graph {
  const needs = new Map<string, string[]>();
  for (const [path, node] of Object.entries(assembly.nodes)) {
    needs.set(path, [...Object.values(node.inputs).map((input) => input.node), ...node.dependsOn]);
  }
  return graphFromPredecessors(needs);
}

/** One cycle of the graph (first node repeated at the end), or undefined if it is acyclic. */
export function findCycle(graph: Graph): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.successors.get(node) ?? []) {
      const seen = state.get(next);
      if (seen === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (seen === undefined) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.nodes) {
    if (state.has(node)) continue;
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Nodes in an order where every node comes after what it needs (Kahn, ties broken by name). */
export function topologicalOrder(graph: Graph): string[] {
  const remaining = new Map(graph.nodes.map((node) => [node, graph.predecessors.get(node)?.length ?? 0]));
  const ready = graph.nodes.filter((node) => remaining.get(node) === 0);
  const order: string[] = [];
  for (let index = 0; index < ready.length; index++) {
    const node = ready[index]!;
    order.push(node);
    for (const next of graph.successors.get(node) ?? []) {
      const left = remaining.get(next)! - 1;
      remaining.set(next, left);
      if (left === 0) ready.push(next);
    }
  }
  if (order.length !== graph.nodes.length) throw new Error('graph has a cycle');
  return order;
}

/** `roots` and everything they transitively need. */
export function withPredecessors(graph: Graph, roots: Iterable<string>): Set<string> {
  const selected = new Set<string>();
  const pending = [...roots];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (selected.has(node)) continue;
    selected.add(node);
    pending.push(...(graph.predecessors.get(node) ?? []));
  }
  return selected;
}

/**
 * For each node, the weight of the heaviest path from it to a sink, itself included. The
 * scheduler starts the node with the largest value first, so the critical path starts early.
 */
export function longestPathToSink(
  graph: Graph,
  weight: (node: string) => number = () => 1,
): Map<string, number> {
  const result = new Map<string, number>();
  const order = topologicalOrder(graph);
  for (let index = order.length - 1; index >= 0; index--) {
    const node = order[index]!;
    let longest = 0;
    for (const next of graph.successors.get(node) ?? []) longest = Math.max(longest, result.get(next) ?? 0);
    result.set(node, longest + weight(node));
  }
  return result;
}

/** The heaviest chain of dependent nodes, and its total weight. */
export interface WeightedChain {
  /** The chain's nodes, each needing the one before it. */
  readonly nodes: readonly string[];
  /** The sum of their weights. */
  readonly weight: number;
}

/**
 * The chain of dependent nodes with the largest total `weight` among `within` (predecessors
 * outside it are ignored). Nodes that weigh nothing are left out of the returned chain: for a
 * run's critical path they are the cached ones, which took no time.
 */
export function heaviestChain(
  graph: Graph,
  weight: (node: string) => number,
  within: ReadonlySet<string> = new Set(graph.nodes),
): WeightedChain {
  const best = new Map<string, { weight: number; previous?: string }>();
  let end: string | undefined;
  for (const node of topologicalOrder(graph)) {
    if (!within.has(node)) continue;
    let from: { weight: number; previous?: string } = { weight: 0 };
    let previous: string | undefined;
    for (const before of graph.predecessors.get(node) ?? []) {
      const candidate = best.get(before);
      if (candidate && candidate.weight > from.weight) {
        from = candidate;
        previous = before;
      }
    }
    const entry = { weight: from.weight + weight(node), ...(previous ? { previous } : {}) };
    best.set(node, entry);
    if (!end || entry.weight > best.get(end)!.weight) end = node;
  }
  const nodes: string[] = [];
  for (let cursor = end; cursor; cursor = best.get(cursor)?.previous) {
    if (weight(cursor) > 0) nodes.unshift(cursor);
  }
  return { nodes, weight: end ? best.get(end)!.weight : 0 };
}

/** Turns a construct path into an identifier Mermaid and dot accept. */
function graphId(index: number): string {
  return `n${index}`;
}

/** Every edge of an assembly in a stable order: inputs (with their artifact type), then explicit dependencies. */
function* edgesOf(assembly: Assembly): Generator<{ from: string; to: string; type?: string }> {
  for (const path of Object.keys(assembly.nodes).sort()) {
    const node = assembly.nodes[path]!;
    for (const name of Object.keys(node.inputs).sort()) {
      const input = node.inputs[name]!;
      yield { from: input.node, to: path, type: input.type };
    }
    for (const dependency of node.dependsOn) yield { from: dependency, to: path };
  }
}

/** Mermaid flowchart of the assembly: one box per node (`path<br>kind`), edges labelled by type. */
export function toMermaid(assembly: Assembly): string {
  const paths = Object.keys(assembly.nodes).sort();
  const ids = new Map(paths.map((path, index) => [path, graphId(index)]));
  const lines = ['flowchart LR'];
  for (const path of paths) {
    lines.push(`  ${ids.get(path)}["${escapeLabel(path)}<br/><i>${assembly.nodes[path]!.kind}</i>"]`);
  }
  for (const { from, to, type } of edgesOf(assembly)) {
    lines.push(
      type ? `  ${ids.get(from)} -->|${type}| ${ids.get(to)}` : `  ${ids.get(from)} -.-> ${ids.get(to)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Graphviz dot of the assembly, same content as {@link toMermaid}. */
export function toDot(assembly: Assembly): string {
  const paths = Object.keys(assembly.nodes).sort();
  const lines = ['digraph pipeline {', '  rankdir=LR;', '  node [shape=box];'];
  for (const path of paths) {
    lines.push(`  "${escapeLabel(path)}" [label="${escapeLabel(path)}\\n${assembly.nodes[path]!.kind}"];`);
  }
  for (const { from, to, type } of edgesOf(assembly)) {
    const style = type ? `label="${type}"` : 'style=dashed';
    lines.push(`  "${escapeLabel(from)}" -> "${escapeLabel(to)}" [${style}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** Escapes double quotes for Mermaid and dot labels. */
function escapeLabel(text: string): string {
  return text.replace(/"/g, '#quot;');
}
