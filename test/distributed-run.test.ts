/**
 * The same DAG on a CI engine (issue #15): the GitHub Actions workflow that `fcos-synth --emit
 * github-actions` writes is executed job by job in `needs` order, each job's `run:` steps in its
 * own fresh clone of the project with an empty cache and its own processes (the bins through
 * npx, as the workflow says), sharing nothing but a remote cache: nginx (WebDAV, Bazel's HTTP
 * protocol) and s3rver. The jobs' output digests must equal a single-machine run, a commit must
 * cross machines (built in one job, read by `ostree cat` in two others), and running every job
 * again must start no tool.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WorkflowJob, workflowJobsInOrder } from '../lib/synth/emit/workflow-jobs.ts';
import { type NginxWebdav, startNginxWebdav } from './helpers/nginx-webdav.ts';
import { type S3rverBucket, startS3rverBucket } from './helpers/s3rver-bucket.ts';
import {
  linkFcosCdk,
  makeTempDir,
  makeTempProject,
  programHeader,
  REPO_ROOT,
} from './helpers/temp-project.ts';

/** The project's pipeline: files, a tree chain, and a commit read on two other machines. */
function pipelineProgram(): string {
  // Absolute paths, not file URLs: fcos-synth bundles a program's local modules, and a path is one.
  const kind = (file: string) => path.join(REPO_ROOT, 'test/kinds', file);
  return `${programHeader()}import { TestStep } from '${kind('test-step.ts')}';
import { TreeStep } from '${kind('tree-step.ts')}';
import { TestCommit } from '${kind('release-doubles.ts')}';
import { CommitReader } from '${kind('commit-reader.ts')}';

const pipeline = new Pipeline({ name: 'distributed' });
const big = new TestStep(pipeline, 'Big', { content: 'x'.repeat(100000) });
new TestStep(pipeline, 'Small', { content: 'small', inputs: [big.output] });
new TestStep(pipeline, 'Other', { content: 'other', inputs: [big.output] });
const tree = new TreeStep(pipeline, 'Tree', { files: { 'a.txt': 'A', 'dir/b.txt': 'B' } });
new TreeStep(pipeline, 'Sums', { files: { mark: '1' }, input: tree.repo });
const commit = new TestCommit(pipeline, 'Commit', { version: '41.7' });
new CommitReader(pipeline, 'Read', { commit: commit.commit, file: '/usr/lib/os-release' });
new CommitReader(pipeline, 'ReadToo', { commit: commit.commit, file: '/usr/lib/os-release', label: 'too' });
`;
}

/** node → output → digest. */
type Digests = Record<string, Record<string, string>>;

/** A git repository holding the project, and its emitted workflow. */
async function makeRepository(): Promise<{ repository: string; workflow: string }> {
  const repository = await makeTempProject('fcos-distributed-');
  await writeFile(path.join(repository, 'pipeline.ts'), pipelineProgram());
  // The project's own setup script: this machine already has the host tools (scripts/setup.sh of
  // fcos-cdk installed them), so the project's checks them.
  await writeFile(path.join(repository, 'setup.sh'), '#!/bin/sh\nset -e\ncommand -v ostree >/dev/null\n');
  await writeFile(path.join(repository, '.gitignore'), 'node_modules\nfcos.out\ncache\n');
  const emit = await execa('npx', ['fcos-synth', '-q', '--emit', 'github-actions'], {
    cwd: repository,
    reject: false,
    all: true,
  });
  expect(emit.exitCode, emit.all).toBe(0);
  await execa('git', ['init', '-q', '-b', 'main'], { cwd: repository });
  await execa('git', ['add', '-A'], { cwd: repository });
  await execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'project'], {
    cwd: repository,
  });
  return {
    repository,
    workflow: await readFile(path.join(repository, '.github/workflows/fcos-distributed.yml'), 'utf8'),
  };
}

/** A fresh clone of `repository` with its dependencies installed (node_modules is not in git). */
async function freshClone(repository: string, name: string): Promise<string> {
  const clone = path.join(await makeTempDir(`fcos-job-${name.replace(/[^A-Za-z0-9]+/g, '-')}-`), 'checkout');
  await execa('git', ['clone', '-q', repository, clone]);
  await linkFcosCdk(clone);
  return clone;
}

/** Runs one job's `run:` steps in a fresh clone, as a runner would; returns its digests output. */
async function runJob(
  repository: string,
  job: WorkflowJob,
  environment: Record<string, string>,
): Promise<{ clone: string; digests: Digests }> {
  const clone = await freshClone(repository, job.id);
  const outputFile = path.join(path.dirname(clone), 'github-output');
  await writeFile(outputFile, '');
  for (const step of job.steps) {
    // The project's setup script stands in for fcos-cdk's scripts/setup.sh (see makeRepository).
    const script = step.run.replace('./scripts/setup.sh', 'sh ./setup.sh');
    const result = await execa('bash', ['-e', '-o', 'pipefail', '-c', script], {
      cwd: clone,
      env: { ...environment, GITHUB_OUTPUT: outputFile, CI: 'true' },
      reject: false,
      all: true,
    });
    expect(result.exitCode, `${job.id} / ${step.name}: ${result.all}`).toBe(0);
  }
  const output = await readFile(outputFile, 'utf8');
  const line = output.split('\n').find((entry) => entry.startsWith('digests='));
  expect(line, `${job.id} published no digests`).toBeDefined();
  return { clone, digests: JSON.parse(line!.slice('digests='.length)) as Digests };
}

/**
 * Runs every job once the jobs it needs have finished, up to `JOBS_AT_ONCE` at a time, as an
 * engine's runners would; returns the merged digests and each job's clone.
 */
async function runWorkflow(
  repository: string,
  jobs: readonly WorkflowJob[],
  environment: Record<string, string>,
): Promise<{ digests: Digests; clones: string[] }> {
  const digests: Digests = {};
  const clones: string[] = [];
  const finished = new Map<string, Promise<void>>();
  let running = 0;
  const waiting: Array<() => void> = [];
  const slot = async () => {
    if (running >= JOBS_AT_ONCE) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
  };
  const release = () => {
    running -= 1;
    waiting.shift()?.();
  };
  // workflowJobsInOrder puts every job after its needs, so each one's needs are in the map.
  for (const job of jobs) {
    const needs = job.needs.map((need) => finished.get(need)!);
    finished.set(
      job.id,
      Promise.all(needs).then(async () => {
        await slot();
        try {
          const result = await runJob(repository, job, environment);
          Object.assign(digests, result.digests);
          clones.push(result.clone);
        } finally {
          release();
        }
      }),
    );
  }
  await Promise.all(finished.values());
  return { digests, clones };
}

/** Jobs running at once (the machine has 2 cores; a job mostly waits for process start-up). */
const JOBS_AT_ONCE = 3;

/** Nodes that started a tool in the last run of `clone`. */
async function startedNodes(clone: string): Promise<string[]> {
  const events = (await readFile(path.join(clone, 'fcos.out/events.jsonl'), 'utf8')).trim().split('\n');
  return events
    .map((line) => JSON.parse(line) as { event: string; node?: string })
    .filter((event) => event.event === 'start')
    .map((event) => event.node!);
}

/** The digests of a single-machine run of the project, without a remote cache. */
async function singleMachineDigests(repository: string): Promise<Digests> {
  const clone = await freshClone(repository, 'single');
  const run = await execa('bash', ['-c', 'npx fcos-synth -q && npx fcos-run -q'], {
    cwd: clone,
    reject: false,
    all: true,
  });
  expect(run.exitCode, run.all).toBe(0);
  const outputs = JSON.parse(await readFile(path.join(clone, 'fcos.out/outputs.json'), 'utf8')) as Record<
    string,
    Record<string, { digest: string }>
  >;
  return Object.fromEntries(
    Object.entries(outputs).map(([node, byName]) => [
      node,
      Object.fromEntries(Object.entries(byName).map(([name, output]) => [name, output.digest])),
    ]),
  );
}

describe('the emitted GitHub Actions workflow, run job by job on fresh clones', () => {
  let repository: string;
  let jobs: WorkflowJob[];
  let reference: Digests;
  let nginx: NginxWebdav;
  let s3: S3rverBucket;
  let s3Environment: Record<string, string>;

  beforeAll(async () => {
    ({ repository, jobs } = await makeRepository().then(({ repository, workflow }) => ({
      repository,
      jobs: workflowJobsInOrder(workflow),
    })));
    reference = await singleMachineDigests(repository);
    nginx = await startNginxWebdav();
    s3 = await startS3rverBucket('fcos-ci-cache', 'AKIDDISTRIBUTED01');
    s3Environment = { ...s3.environment, FCOS_REMOTE_CACHE: 's3://fcos-ci-cache/distributed' };
  });

  afterAll(async () => {
    await nginx?.stop();
    await s3?.stop();
  });

  it('has one job per node, the tree chain joined, and every edge as needs', () => {
    const byName = Object.fromEntries(jobs.map((job) => [job.name, job]));
    expect(jobs).toHaveLength(7);
    expect(Object.keys(byName).sort()).toEqual([
      'Big',
      'Commit',
      'Other',
      'Read',
      'ReadToo',
      'Small',
      'Tree + Sums',
    ]);
    const idOf = (name: string) => byName[name]!.id;
    expect(byName.Read!.needs).toEqual([idOf('Commit')]);
    expect(byName.ReadToo!.needs).toEqual([idOf('Commit')]);
    expect(byName.Small!.needs).toEqual([idOf('Big')]);
    expect(byName['Tree + Sums']!.needs).toEqual([]);
  });

  for (const remote of ['nginx WebDAV (HTTP)', 's3rver (S3)'] as const) {
    it(`shares only ${remote}: the digests of a single-machine run, then every job again starts no tool`, async () => {
      const environment =
        remote === 'nginx WebDAV (HTTP)'
          ? ({ FCOS_REMOTE_CACHE: `${nginx.url}/distributed`, FCOS_REMOTE_CACHE_MODE: 'readwrite' } as Record<
              string,
              string
            >)
          : { ...s3Environment, FCOS_REMOTE_CACHE_MODE: 'readwrite' };
      const first = await runWorkflow(repository, jobs, environment);
      expect(first.digests).toEqual(reference);
      // The commit was built in one job and read in two others: it crossed machines.
      const readers = await Promise.all(
        first.clones.map(async (clone) =>
          (await startedNodes(clone)).filter((node) => node.startsWith('Read')),
        ),
      );
      expect(readers.flat().sort()).toEqual(['Read', 'ReadToo']);
      const again = await runWorkflow(repository, jobs, environment);
      expect(again.digests).toEqual(reference);
      for (const clone of again.clones) expect(await startedNodes(clone), clone).toEqual([]);
      // Two workflows of fresh clones: well over vitest's 60 s when the suite's VMs share the cores.
    }, 300_000);
  }
});
