/** `fcos-synth --emit github-actions`: a workflow GitHub's own parser accepts, with the DAG's edges, KVM for vm jobs, same bytes every time. */
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { Assembly } from '../lib/synth/assembly.ts';
import { githubActionsWorkflowPath, renderGithubActionsWorkflow } from '../lib/synth/emit/github-actions.ts';
import { DIGESTS_MAX_LENGTH } from '../lib/synth/emit/job-commands.ts';
import { planJobs } from '../lib/synth/emit/job-plan.ts';
import { workflowJobsInOrder } from '../lib/synth/emit/workflow-jobs.ts';
import { defaultAssembly, generatedAssembly } from './helpers/emit-fixtures.ts';
import type { WorkflowCheck } from './helpers/github-workflow-check.ts';
import { linkFcosCdk, makeTempDir, REPO_ROOT, runSynth } from './helpers/temp-project.ts';

const BIN = path.join(REPO_ROOT, 'bin/fcos-synth.js');
const CHECKER = path.join(REPO_ROOT, 'test/helpers/github-workflow-check.ts');
const COMMITTED = path.join(REPO_ROOT, '.github/workflows/fcos-fedora-coreos.yml');

/** What GitHub's parser (@actions/workflow-parser, in a tsx process: see the helper) says of each workflow. */
async function githubParse(...contents: string[]): Promise<WorkflowCheck[]> {
  const result = await execa('node', ['--import', 'tsx', CHECKER], {
    input: JSON.stringify(contents),
    cwd: REPO_ROOT,
  });
  return JSON.parse(result.stdout) as WorkflowCheck[];
}

/** The emitted workflow's jobs as plain data. */
function jobsOf(content: string) {
  return workflowJobsInOrder(content);
}

/** Checks that every DAG edge of `assembly` is a `needs:` between the jobs of its ends (or inside one job). */
function expectEdgesKept(assembly: Assembly, content: string): void {
  const jobs = jobsOf(content);
  const jobOfNode = new Map<string, string>();
  for (const job of jobs) {
    const run = job.steps.find((step) => step.run.startsWith('npx fcos-run'))!;
    for (const match of run.run.matchAll(/--only '([^']*)'/g)) jobOfNode.set(match[1]!, job.id);
  }
  expect([...jobOfNode.keys()].sort()).toEqual(Object.keys(assembly.nodes).sort());
  const ids = new Set(jobs.map((job) => job.id));
  for (const job of jobs) for (const need of job.needs) expect(ids.has(need)).toBe(true);
  for (const [nodePath, node] of Object.entries(assembly.nodes)) {
    const to = jobOfNode.get(nodePath)!;
    for (const producer of [...Object.values(node.inputs).map((input) => input.node), ...node.dependsOn]) {
      const from = jobOfNode.get(producer)!;
      if (from !== to)
        expect(jobs.find((job) => job.id === to)!.needs, `${producer} -> ${nodePath}`).toContain(from);
    }
  }
}

describe('fcos-synth --emit github-actions', () => {
  it('the default pipeline: GitHub’s parser finds no error, 43 jobs, every edge a needs:, vm jobs get /dev/kvm', async () => {
    const assembly = await defaultAssembly();
    const content = renderGithubActionsWorkflow(assembly, { context: {} });
    const [parsed] = await githubParse(content);
    expect(parsed!.errors).toEqual([]);
    expect(parsed!.jobs).toHaveLength(43);
    expectEdgesKept(assembly, content);
    const plan = planJobs(assembly);
    for (const job of jobsOf(content)) {
      const vm = plan.jobs.find((planned) => job.name === planned.nodes.join(' + '))!.vm;
      expect(job.containerOptions).toBe(vm ? '--device /dev/kvm' : undefined);
    }
    // The VM jobs: kola, three update tests and two install tests per arch.
    expect(jobsOf(content).filter((job) => job.containerOptions)).toHaveLength(12);
    expect(content).toContain(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a template.
      "FCOS_REMOTE_CACHE_MODE: ${{ github.event_name == 'pull_request' && 'read' || 'readwrite' }}",
    );
    expect(content).toMatch(/\non:\n {2}- push\n {2}- pull_request\n {2}- workflow_dispatch\n/);
  });

  it('a bigger pipeline and generated DAGs with awkward node paths parse without error and keep every edge', async () => {
    const context = { streams: 'stable,testing,next', arches: 'x86_64,aarch64' };
    const bigger = await defaultAssembly(context);
    const content = renderGithubActionsWorkflow(bigger, { context });
    const generated = [1, 2, 3].map((seed) => generatedAssembly(150, seed));
    const texts = generated.map((assembly) =>
      renderGithubActionsWorkflow(assembly, { context: { 'odd value': "it's" } }),
    );
    const [parsed, ...others] = await githubParse(content, ...texts);
    expect(parsed!.errors).toEqual([]);
    expect(parsed!.jobs).toHaveLength(planJobs(bigger).jobs.length);
    expectEdgesKept(bigger, content);
    for (const job of jobsOf(content)) {
      expect(job.steps.map((step) => step.run)).toContain(
        'npx fcos-synth -q -c arches=x86_64,aarch64 -c streams=stable,testing,next',
      );
    }
    generated.forEach((assembly, index) => {
      expect(others[index]!.errors).toEqual([]);
      expect(others[index]!.jobs).toHaveLength(planJobs(assembly).jobs.length);
      expectEdgesKept(assembly, texts[index]!);
      expect(texts[index]).toContain("-c 'odd value=it'\\''s'");
    });
  });

  it('the parser does reject a workflow whose job needs a missing job', async () => {
    const content = renderGithubActionsWorkflow(await defaultAssembly(), { context: {} });
    const broken = content.replace('      - testing-x86_64-Disk\n', '      - testing-x86_64-Dsik\n');
    expect(broken).not.toBe(content);
    const [result] = await githubParse(broken);
    expect(result!.errors.join('\n')).toMatch(/Dsik/);
  });

  it('writes <project>/.github/workflows/fcos-<name>.yml, the same bytes on every run; nothing on a synthesis error', async () => {
    const project = await makeTempDir();
    await cp(path.join(REPO_ROOT, 'pipeline.ts'), path.join(project, 'pipeline.ts'));
    await cp(path.join(REPO_ROOT, 'local-os'), path.join(project, 'local-os'), { recursive: true });
    await linkFcosCdk(project);
    const first = await execa('node', [BIN, '--emit', 'github-actions'], { cwd: project });
    expect(first.stdout).toContain('.github/workflows/fcos-fedora-coreos.yml (github-actions, 43 jobs)');
    const file = githubActionsWorkflowPath(project, await defaultAssembly());
    expect(file).toBe(path.join(project, '.github/workflows/fcos-fedora-coreos.yml'));
    const bytes = await readFile(file);
    await execa('node', [BIN, '-q', '--emit', 'github-actions'], { cwd: project });
    expect((await readFile(file)).equals(bytes)).toBe(true);

    const broken = await execa('node', [BIN, '--emit', 'github-actions', '-c', 'profile=nonsense'], {
      cwd: project,
      reject: false,
    });
    expect(broken.exitCode).toBe(1);
    expect((await readFile(file)).equals(bytes)).toBe(true);
    await writeFile(path.join(project, 'pipeline.ts'), "throw new Error('broken program');\n");
    const thrown = await execa('node', [BIN, '--emit', 'github-actions'], { cwd: project, reject: false });
    expect(thrown.exitCode).toBe(1);
    expect((await readFile(file)).equals(bytes)).toBe(true);
  });

  it('a bad --emit value exits 2 naming the engines, before running the program', async () => {
    const run = await runSynth(['--app', path.join(REPO_ROOT, 'no-such-program.ts'), '--emit', 'jenkins']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--emit takes github-actions or tekton, not 'jenkins'");
  });

  it('the repository ships the workflow of its default pipeline.ts, up to date', async () => {
    const committed = await readFile(COMMITTED, 'utf8').catch(() => '');
    const current = renderGithubActionsWorkflow(await defaultAssembly(), { context: {} });
    expect(
      committed === current,
      `.github/workflows/fcos-fedora-coreos.yml is out of date with pipeline.ts: run \`npx fcos-synth --emit github-actions\` and commit it`,
    ).toBe(true);
  });
});

describe('workflowJobsInOrder', () => {
  it('gives every job after the jobs it needs, with its run: steps in order', async () => {
    const content = renderGithubActionsWorkflow(await defaultAssembly(), { context: { profile: 'local' } });
    const jobs = workflowJobsInOrder(content);
    expect(jobs).toHaveLength(43);
    const seen = new Set<string>();
    for (const job of jobs) {
      for (const need of job.needs) expect(seen.has(need), `${job.id} after ${need}`).toBe(true);
      seen.add(job.id);
      expect(job.steps.map((step) => step.run.split('\n')[0]!.split(' ').slice(0, 2).join(' '))).toEqual([
        './scripts/setup.sh',
        'npx fcos-synth',
        'npx fcos-run',
        'digests=$(node -e',
      ]);
      expect(job.steps[1]!.run).toBe('npx fcos-synth -q -c profile=local');
    }
    const joined = jobs.find((job) => job.id === 'testing-x86_64-PreviousQemu')!;
    expect(joined.steps[2]!.run).toBe(
      "npx fcos-run -q --no-artifacts --only 'testing/x86_64/PreviousDisk' --only 'testing/x86_64/PreviousQemu'",
    );
  });

  it('refuses a workflow whose needs: name a missing job or form a cycle', () => {
    const missing = 'jobs:\n  a:\n    needs: [b]\n    steps: [{run: echo}]\n';
    expect(() => workflowJobsInOrder(missing)).toThrow(/needs 'b'/);
    const cycle = 'jobs:\n  a:\n    needs: b\n  b:\n    needs: a\n';
    expect(() => workflowJobsInOrder(cycle)).toThrow(/cycle/);
  });
});

describe('the digests step', () => {
  /** Runs the digests step of the job of `nodes` in `directory` with `outputs` as fcos.out/outputs.json. */
  async function publishDigests(directory: string, outputs: unknown, job: string) {
    await mkdir(path.join(directory, 'fcos.out'), { recursive: true });
    await writeFile(path.join(directory, 'fcos.out/outputs.json'), JSON.stringify(outputs));
    const content = renderGithubActionsWorkflow(await defaultAssembly(), { context: {} });
    const step = workflowJobsInOrder(content)
      .find((candidate) => candidate.id === job)!
      .steps.find((candidate) => candidate.id === 'digests')!;
    const outputFile = path.join(directory, 'github-output');
    await writeFile(outputFile, '');
    const result = await execa('bash', ['-eo', 'pipefail', '-c', step.run], {
      cwd: directory,
      env: { GITHUB_OUTPUT: outputFile },
      reject: false,
    });
    return { exitCode: result.exitCode, output: await readFile(outputFile, 'utf8'), stderr: result.stderr };
  }

  it('publishes {"<node>":{"<output>":"<digest>"}} of the job’s nodes as the job output digests', async () => {
    const directory = await makeTempDir();
    const digest = (name: string) => `sha256:${name.padEnd(64, '0')}`;
    const outputs = {
      'testing/x86_64/PreviousDisk': { disk: { type: 'raw', digest: digest('a'), size: 1, path: 'x' } },
      'testing/x86_64/PreviousQemu': { image: { type: 'image', digest: digest('b'), size: 1, path: 'y' } },
      'Packages/x86_64': { repo: { type: 'rpm-repo', digest: digest('c'), size: 1, path: 'z' } },
    };
    const result = await publishDigests(directory, outputs, 'testing-x86_64-PreviousQemu');
    expect(result.exitCode).toBe(0);
    expect(result.output).toBe(
      `digests=${JSON.stringify({
        'testing/x86_64/PreviousDisk': { disk: digest('a') },
        'testing/x86_64/PreviousQemu': { image: digest('b') },
      })}\n`,
    );
  });

  it('fails the job when a node has no outputs, and publishes a sha256 when the JSON is too long for a Tekton result', async () => {
    const directory = await makeTempDir();
    const missing = await publishDigests(directory, { 'Packages/x86_64': {} }, 'testing-x86_64-PreviousQemu');
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toContain('has no outputs of testing/x86_64/PreviousDisk');
    const many = Object.fromEntries(
      Array.from({ length: 60 }, (_, index) => [`output${index}`, { digest: `sha256:${'f'.repeat(64)}` }]),
    );
    const long = await publishDigests(directory, { 'Packages/x86_64': many }, 'Packages-x86_64');
    expect(JSON.stringify({ 'Packages/x86_64': many }).length).toBeGreaterThan(DIGESTS_MAX_LENGTH);
    expect(long.exitCode).toBe(0);
    expect(long.output).toMatch(/^digests=sha256:[0-9a-f]{64}\n$/);
  });
});
