/**
 * Reads a GitHub Actions workflow back as what a local driver needs to execute it: the jobs in
 * an order where each comes after the jobs it `needs`, each with its `run:` steps in order. Steps
 * that `uses:` an action (checkout, setup-node) are left out: a driver provides their effect
 * itself (a fresh clone, Node.js on PATH). A `run:` step may write to `$GITHUB_OUTPUT` (the digests
 * step does), so a driver sets that variable to a file; expressions (`${{ ... }}`) are the
 * driver's to substitute, in the environment, never in the emitted `run:` steps.
 */
import { parse } from 'yaml';
import { graphFromPredecessors, topologicalOrder } from '../graph.ts';
import { EmitError } from './job-plan.ts';

/** One `run:` step. */
export interface WorkflowRunStep {
  /** The step's `name:`, if any. */
  readonly name: string | undefined;
  /** The step's `id:`, if any. */
  readonly id: string | undefined;
  /** The shell script (bash, as the workflow's `defaults.run.shell` says). */
  readonly run: string;
}

/** One job of a workflow. */
export interface WorkflowJob {
  /** The job id (key under `jobs:`). */
  readonly id: string;
  /** The job's `name:`, else its id. */
  readonly name: string;
  /** Ids of the jobs it needs. */
  readonly needs: readonly string[];
  /** The job's `container.options`, if any (`--device /dev/kvm` for vm jobs). */
  readonly containerOptions: string | undefined;
  /** Its `run:` steps in order. */
  readonly steps: readonly WorkflowRunStep[];
}

/** The jobs of the workflow `text`, each after every job it needs (ties broken by id). */
export function workflowJobsInOrder(text: string): WorkflowJob[] {
  const workflow = parse(text) as { jobs?: Record<string, unknown> } | null;
  const jobs = workflow?.jobs;
  if (!jobs || typeof jobs !== 'object') throw new EmitError('the workflow has no jobs', { field: 'jobs' });
  const byId = new Map<string, WorkflowJob>();
  for (const [id, value] of Object.entries(jobs)) byId.set(id, readJob(id, value));
  for (const job of byId.values()) {
    for (const need of job.needs) {
      if (!byId.has(need)) {
        throw new EmitError(`job '${job.id}' needs '${need}', which the workflow does not have`, {
          field: `jobs.${job.id}.needs`,
        });
      }
    }
  }
  const graph = graphFromPredecessors(new Map([...byId.values()].map((job) => [job.id, job.needs])));
  let order: string[];
  try {
    order = topologicalOrder(graph);
  } catch {
    throw new EmitError('the jobs of the workflow need each other in a cycle', { field: 'jobs' });
  }
  return order.map((id) => byId.get(id)!);
}

/** One job's fields, checked for the shapes an emitted workflow has. */
function readJob(id: string, value: unknown): WorkflowJob {
  const job = (value ?? {}) as {
    name?: unknown;
    needs?: unknown;
    container?: unknown;
    steps?: unknown;
  };
  const needs = job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];
  if (!needs.every((need): need is string => typeof need === 'string')) {
    throw new EmitError(`job '${id}' has a needs: entry that is not a job id`, { field: `jobs.${id}.needs` });
  }
  const container = job.container as { options?: unknown } | string | undefined;
  const options =
    typeof container === 'object' && typeof container.options === 'string' ? container.options : undefined;
  const steps: WorkflowRunStep[] = [];
  for (const step of Array.isArray(job.steps) ? job.steps : []) {
    const { name, id: stepId, run } = (step ?? {}) as { name?: unknown; id?: unknown; run?: unknown };
    if (typeof run !== 'string') continue;
    steps.push({
      name: typeof name === 'string' ? name : undefined,
      id: typeof stepId === 'string' ? stepId : undefined,
      run,
    });
  }
  return {
    id,
    name: typeof job.name === 'string' ? job.name : id,
    needs: [...needs].sort(),
    containerOptions: options,
    steps,
  };
}
