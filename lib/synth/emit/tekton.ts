/**
 * `fcos-synth --emit tekton`: the DAG as one Tekton `PipelineRun` (tekton.dev/v1) with an inline
 * `pipelineSpec` whose tasks carry inline `taskSpec`s: one task per planned job (job-plan.ts),
 * `runAfter:` from the DAG's edges. Each task clones the repository (`repo-url`, `revision`) into
 * its own /workspace in a first step, and runs the job's commands (job-commands.ts) in a second.
 *
 * The image is `node:<major>-bookworm`: Debian 12, which scripts/setup.sh targets, with Node.js and
 * git already in it (plain `debian:12` has neither, and a Task has no setup-node action).
 * A task with a `vm` node runs its build step with `securityContext.privileged: true`, which gives
 * QEMU /dev/kvm wherever the node has it; a cluster with a KVM device plugin can instead drop
 * `privileged` and request the device in the step's `computeResources.limits`
 * (e.g. `devices.kubevirt.io/kvm: "1"`). Each task publishes its nodes' output digests as the
 * result `digests` (results share a 4 KiB budget: a long one is published as its sha256).
 *
 * The remote cache: the parameter `remote-cache` (URL) and the optional Secret
 * `fcos-remote-cache`, whose keys become environment variables (`FCOS_REMOTE_CACHE_TOKEN`,
 * `AWS_ACCESS_KEY_ID` ...). The mode is `read` when the parameter `event-type` is `pull_request`,
 * else `readwrite`. The PipelineRun's parameter values are Pipelines-as-Code placeholders
 * (`{{ repo_url }}`, `{{ revision }}`, `{{ event_type }}`), which Konflux fills; elsewhere, replace
 * them before `kubectl create -f`.
 */
import path from 'node:path';
import { Document } from 'yaml';
import type { Assembly } from '../assembly.ts';
import { type EmitOptions, jobCommands, NODE_MAJOR } from './job-commands.ts';
import { fileSafe, TEKTON_TASK_NAME, uniqueIds } from './job-ids.ts';
import { planJobs } from './job-plan.ts';

/** Where the PipelineRun goes: `<out>/tekton/pipelinerun.yaml`. */
export function tektonPipelineRunPath(outdir: string): string {
  return path.join(outdir, 'tekton', 'pipelinerun.yaml');
}

/** The container image of every step. */
export const TEKTON_IMAGE = `docker.io/library/node:${NODE_MAJOR}-bookworm`;

/** The Secret whose keys become the remote cache's credentials, when it exists. */
export const REMOTE_CACHE_SECRET = 'fcos-remote-cache';

/** Parameters every task receives from the pipeline, with their descriptions. */
const TASK_PARAMETERS = [
  ['repo-url', 'Git URL of the repository holding the pipeline program.'],
  ['revision', 'Commit, branch or tag to build.'],
  ['event-type', "Why the run happens; 'pull_request' makes the remote cache read-only."],
  ['remote-cache', 'The remote cache (s3://bucket/prefix or http(s)://host/prefix); empty: none.'],
] as const;

/** The step that checks the revision out into the task's /workspace/source. */
const CLONE_SCRIPT = [
  '#!/usr/bin/env bash',
  'set -euo pipefail',
  'git init -q .',
  'git remote add origin "$REPO_URL"',
  'git fetch -q --depth 1 origin "$REVISION"',
  'git checkout -q FETCH_HEAD',
  '',
].join('\n');

/** The PipelineRun YAML of `assembly`: the same assembly and options always give the same bytes. */
export function renderTektonPipelineRun(assembly: Assembly, options: EmitOptions): string {
  const plan = planJobs(assembly);
  const names = uniqueIds(
    plan.jobs.map((job) => job.key),
    TEKTON_TASK_NAME,
  );
  const tasks = plan.jobs.map((job) => {
    const commands = jobCommands(assembly, job, options);
    const script = [
      '#!/usr/bin/env bash',
      'set -euo pipefail',
      'if [ "$EVENT_TYPE" = pull_request ]; then export FCOS_REMOTE_CACHE_MODE=read; else export FCOS_REMOTE_CACHE_MODE=readwrite; fi',
      commands.setup,
      commands.synth,
      commands.run,
      `digests=$(${commands.digests})`,
      'printf \'%s\' "$digests" > "$(results.digests.path)"',
      '',
    ].join('\n');
    return {
      name: names.get(job.key)!,
      ...(job.needs.length > 0 ? { runAfter: job.needs.map((key) => names.get(key)!) } : {}),
      params: TASK_PARAMETERS.map(([name]) => ({ name, value: `$(params.${name})` })),
      taskSpec: {
        description: job.nodes.join(' + '),
        params: TASK_PARAMETERS.map(([name, description]) => ({ name, type: 'string', description })),
        results: [
          {
            name: 'digests',
            type: 'string',
            description:
              '{"<node>":{"<output>":"<digest>"}} of the nodes run, or sha256:<hex> of it when long.',
          },
        ],
        steps: [
          {
            name: 'clone',
            image: TEKTON_IMAGE,
            workingDir: '/workspace/source',
            env: [
              { name: 'REPO_URL', value: '$(params.repo-url)' },
              { name: 'REVISION', value: '$(params.revision)' },
            ],
            script: CLONE_SCRIPT,
          },
          {
            name: 'run',
            image: TEKTON_IMAGE,
            workingDir: '/workspace/source',
            ...(job.vm ? { securityContext: { privileged: true } } : {}),
            envFrom: [{ secretRef: { name: REMOTE_CACHE_SECRET, optional: true } }],
            env: [
              { name: 'FCOS_REMOTE_CACHE', value: '$(params.remote-cache)' },
              { name: 'EVENT_TYPE', value: '$(params.event-type)' },
            ],
            script,
          },
        ],
      },
    };
  });
  const document = new Document({
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: { generateName: `fcos-${tektonName(plan.pipelineName)}-` },
    spec: {
      params: [
        { name: 'repo-url', value: '{{ repo_url }}' },
        { name: 'revision', value: '{{ revision }}' },
        { name: 'event-type', value: '{{ event_type }}' },
      ],
      pipelineSpec: {
        params: [
          { name: 'repo-url', type: 'string', description: TASK_PARAMETERS[0][1] },
          { name: 'revision', type: 'string', description: TASK_PARAMETERS[1][1], default: 'main' },
          { name: 'event-type', type: 'string', description: TASK_PARAMETERS[2][1], default: 'push' },
          { name: 'remote-cache', type: 'string', description: TASK_PARAMETERS[3][1], default: '' },
        ],
        tasks,
      },
      timeouts: { pipeline: '6h0m0s' },
    },
  });
  document.commentBefore = [
    ` Generated by \`npx fcos-synth --emit tekton\` from ${assembly.pipeline.app}: do not edit.`,
    ' One task per node, chains of non-vm nodes joined (lib/synth/emit/job-plan.ts); files travel only',
    ' through the remote cache, tasks pass on only output digests. Parameter values are',
    ' Pipelines-as-Code placeholders: replace them when creating the run by hand.',
  ].join('\n');
  return document.toString({ lineWidth: 0 });
}

/** A pipeline name as the start of a Kubernetes object name (lower case, digits, `-`). */
function tektonName(name: string): string {
  const cleaned = fileSafe(name)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return cleaned === '' ? 'pipeline' : cleaned;
}
