/**
 * The job plan shared by every engine export (`fcos-synth --emit`): which CI jobs run which nodes
 * of the DAG, and which jobs each job waits for.
 *
 * One job per node, except that chains are contracted: an edge `a → b` joins `a` and `b` into one
 * job when `b` is `a`'s only successor, `a` is `b`'s only predecessor, and neither is a `vm` node.
 * Such a pair could never run side by side anyway (`b` needs `a`, and nothing else waits for `a`),
 * so contracting it lengthens no path of the DAG; it only saves `b` a job of its own: a fresh
 * checkout, `scripts/setup.sh`, synthesis, and downloading `a`'s outputs from the remote cache.
 * A `vm` node always has a job of its own, because only its job gets KVM or a privileged container.
 * A job is named after the last node of its chain (the one the rest of the DAG consumes) and runs
 * its nodes with one `fcos-run --only` per node.
 */
import { FcosError } from '../../errors.ts';
import type { Assembly } from '../assembly.ts';
import { findCycle, type Graph, graphFromPredecessors, graphOfAssembly, topologicalOrder } from '../graph.ts';

/** An engine export cannot be made from this assembly (a cycle, an id that cannot be made unique ...). */
export class EmitError extends FcosError {}

/** One CI job: a chain of nodes run in one checkout. */
export interface PlannedJob {
  /** The job's key: the construct path of its chain's last node. */
  readonly key: string;
  /** Construct paths of the job's nodes, each needing the one before it. */
  readonly nodes: readonly string[];
  /** Keys of the jobs this job waits for, sorted. */
  readonly needs: readonly string[];
  /** Whether the job runs a `vm` node (then it is that node alone) and needs KVM. */
  readonly vm: boolean;
}

/** Every job of an assembly, each after the jobs it needs (ties in key order). */
export interface JobPlan {
  /** Pipeline name, for file and workflow names. */
  readonly pipelineName: string;
  /** Jobs in dependency order. */
  readonly jobs: readonly PlannedJob[];
}

/** Computes the jobs of `assembly` with the chain rule of this file's header. */
export function planJobs(assembly: Assembly): JobPlan {
  const graph = graphOfAssembly(assembly);
  const cycle = findCycle(graph);
  if (cycle) {
    throw new EmitError(`the pipeline has a dependency cycle: ${cycle.join(' -> ')}`, {
      constructPath: cycle[0] ?? '',
    });
  }
  const isVm = (node: string): boolean => assembly.nodes[node]?.resources.class === 'vm';
  const joinsNext = (node: string): string | undefined => {
    const after = graph.successors.get(node) ?? [];
    const next = after[0];
    if (after.length !== 1 || next === undefined) return undefined;
    if ((graph.predecessors.get(next) ?? []).length !== 1) return undefined;
    return isVm(node) || isVm(next) ? undefined : next;
  };
  const joined = new Set<string>();
  for (const node of graph.nodes) {
    const next = joinsNext(node);
    if (next !== undefined) joined.add(next);
  }
  const chains = new Map<string, string[]>();
  const jobOfNode = new Map<string, string>();
  for (const head of graph.nodes) {
    if (joined.has(head)) continue;
    const chain = [head];
    for (let next = joinsNext(head); next !== undefined; next = joinsNext(next)) chain.push(next);
    const key = chain[chain.length - 1]!;
    chains.set(key, chain);
    for (const node of chain) jobOfNode.set(node, key);
  }
  const jobNeeds = new Map<string, string[]>();
  for (const [key, chain] of chains) {
    const needs = new Set<string>();
    for (const node of chain) {
      for (const before of graph.predecessors.get(node) ?? []) needs.add(jobOfNode.get(before)!);
    }
    needs.delete(key);
    jobNeeds.set(key, [...needs].sort());
  }
  const jobGraph: Graph = graphFromPredecessors(jobNeeds);
  const jobs = topologicalOrder(jobGraph).map((key) => ({
    key,
    nodes: chains.get(key)!,
    needs: jobGraph.predecessors.get(key)!,
    vm: chains.get(key)!.some(isVm),
  }));
  return { pipelineName: assembly.pipeline.name, jobs };
}
