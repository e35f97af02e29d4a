/** The job plan of engine exports: every DAG edge kept, chains of non-vm nodes joined and nothing else, ids valid and unique. */
import { describe, expect, it } from 'vitest';
import type { Assembly } from '../lib/synth/assembly.ts';
import { GITHUB_JOB_ID, TEKTON_TASK_NAME, uniqueIds } from '../lib/synth/emit/job-ids.ts';
import { type JobPlan, planJobs } from '../lib/synth/emit/job-plan.ts';
import { graphOfAssembly } from '../lib/synth/graph.ts';
import { defaultAssembly, generatedAssembly } from './helpers/emit-fixtures.ts';

/** Checks everything the plan promises about `assembly`; returns the plan. */
function checkPlan(assembly: Assembly): JobPlan {
  const plan = planJobs(assembly);
  const graph = graphOfAssembly(assembly);
  const isVm = (node: string) => assembly.nodes[node]!.resources.class === 'vm';
  const jobOf = new Map<string, string>();
  for (const job of plan.jobs) for (const node of job.nodes) jobOf.set(node, job.key);
  // Every node is in exactly one job.
  expect([...jobOf.keys()].sort()).toEqual(graph.nodes);
  expect(plan.jobs.reduce((sum, job) => sum + job.nodes.length, 0)).toBe(graph.nodes.length);
  const position = new Map(plan.jobs.map((job, index) => [job.key, index]));
  for (const job of plan.jobs) {
    // Needs name existing jobs that come earlier.
    for (const need of job.needs) {
      expect(position.has(need), `${job.key} needs ${need}`).toBe(true);
      expect(position.get(need)!).toBeLessThan(position.get(job.key)!);
    }
    expect(job.key).toBe(job.nodes[job.nodes.length - 1]);
    expect(job.vm).toBe(job.nodes.some(isVm));
    // A joined job is a chain: each node the only successor of the one before, which is its only predecessor; no vm node.
    if (job.nodes.length > 1) {
      for (let index = 1; index < job.nodes.length; index++) {
        const before = job.nodes[index - 1]!;
        const node = job.nodes[index]!;
        expect(graph.successors.get(before)).toEqual([node]);
        expect(graph.predecessors.get(node)).toEqual([before]);
      }
      expect(job.nodes.some(isVm)).toBe(false);
    }
    // Maximal: the chain could not go on past its last node, nor start before its first.
    const last = job.nodes[job.nodes.length - 1]!;
    const after = graph.successors.get(last)!;
    if (after.length === 1 && graph.predecessors.get(after[0]!)!.length === 1) {
      expect(isVm(last) || isVm(after[0]!), `${last} -> ${after[0]} could be joined`).toBe(true);
    }
    const first = job.nodes[0]!;
    const before = graph.predecessors.get(first)!;
    if (before.length === 1 && graph.successors.get(before[0]!)!.length === 1) {
      expect(isVm(first) || isVm(before[0]!), `${before[0]} -> ${first} could be joined`).toBe(true);
    }
  }
  // Every DAG edge is a need between different jobs, or lies inside one job; and every need is an edge.
  const edges = new Set<string>();
  for (const [node, predecessors] of graph.predecessors) {
    for (const producer of predecessors) {
      const from = jobOf.get(producer)!;
      const to = jobOf.get(node)!;
      if (from === to) continue;
      edges.add(`${from} -> ${to}`);
      expect(plan.jobs[position.get(to)!]!.needs).toContain(from);
    }
  }
  const needs = plan.jobs.flatMap((job) => job.needs.map((need) => `${need} -> ${job.key}`));
  expect(needs.sort()).toEqual([...edges].sort());
  return plan;
}

describe('job plan', () => {
  it('the default pipeline: 45 nodes in 43 jobs, PreviousDisk joined with PreviousQemu per arch, every vm node alone', async () => {
    const assembly = await defaultAssembly();
    const plan = checkPlan(assembly);
    expect(Object.keys(assembly.nodes)).toHaveLength(45);
    expect(plan.jobs).toHaveLength(43);
    const joined = plan.jobs.filter((job) => job.nodes.length > 1).map((job) => job.nodes);
    expect(joined).toEqual(
      ['aarch64', 'x86_64'].map((arch) => [`testing/${arch}/PreviousDisk`, `testing/${arch}/PreviousQemu`]),
    );
    const vmJobs = ['aarch64', 'x86_64'].flatMap((arch) =>
      [
        'InstallTest-iso-offline-install',
        'InstallTest-pxe-online-install',
        'Kola',
        'RollbackTest',
        'RolloutTest',
        'UpgradeTest',
      ].map((node) => `testing/${arch}/${node}`),
    );
    expect(
      plan.jobs
        .filter((job) => job.vm)
        .map((job) => job.key)
        .sort(),
    ).toEqual(vmJobs.sort());
  });

  it('a bigger default pipeline (3 streams, 2 arches) keeps every edge', async () => {
    const assembly = await defaultAssembly({ streams: 'stable,testing,next', arches: 'x86_64,aarch64' });
    const plan = checkPlan(assembly);
    expect(Object.keys(assembly.nodes).length).toBeGreaterThan(80);
    expect(plan.jobs.length).toBeLessThan(Object.keys(assembly.nodes).length);
  });

  it('generated DAGs with chains and vm nodes', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const plan = checkPlan(generatedAssembly(120, seed));
      expect(plan.jobs.some((job) => job.nodes.length > 1)).toBe(true);
    }
  });

  it('the same assembly gives the same plan', () => {
    expect(planJobs(generatedAssembly(60, 9))).toEqual(planJobs(generatedAssembly(60, 9)));
  });
});

describe('job ids', () => {
  const paths = Object.keys(generatedAssembly(40, 1).nodes);

  it('are valid for each engine, unique under its comparison, and deterministic', () => {
    for (const rule of [GITHUB_JOB_ID, TEKTON_TASK_NAME]) {
      const ids = uniqueIds(paths, rule);
      const values = [...ids.values()];
      for (const id of values) {
        expect(id).toMatch(rule.valid);
        expect(id.length).toBeLessThanOrEqual(rule.maxLength);
      }
      const compared = values.map((id) => (rule.caseInsensitive ? id.toLowerCase() : id));
      expect(new Set(compared).size).toBe(paths.length);
      expect(uniqueIds([...paths].reverse(), rule)).toEqual(new Map([...ids].reverse()));
    }
  });

  it('keep a readable id where there is no clash, and hash only the clashing or long ones', () => {
    const github = uniqueIds(paths, GITHUB_JOB_ID);
    expect(github.get('stream0/arch1/Node9')).toBe('stream0-arch1-Node9');
    expect(github.get('a/b')).toMatch(/^a-b-[0-9a-f]{8}$/);
    expect(github.get('a-b')).toMatch(/^a-b-[0-9a-f]{8}$/);
    expect(github.get('x/Disk')).toMatch(/^x-Disk-[0-9a-f]{8}$/);
    expect(github.get('9lives')).toBe('_9lives');
    const tekton = uniqueIds(paths, TEKTON_TASK_NAME);
    expect(tekton.get('stream0/arch1/Node9')).toBe('stream0-arch1-node9');
    expect(tekton.get('with space/and.dot')).toBe('with-space-and-dot');
    expect(tekton.get('---')).toMatch(/^[0-9a-f]{8}$/);
    expect(tekton.get(paths.find((path) => path.endsWith('/one'))!)!.length).toBe(63);
  });
});
