/** `fcos-synth --emit tekton`: a PipelineRun that Tekton's own CRD schemas accept, with the DAG's edges as runAfter, privileged vm tasks, same bytes every time. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { Assembly } from '../lib/synth/assembly.ts';
import { TEKTON_TASK_NAME } from '../lib/synth/emit/job-ids.ts';
import { planJobs } from '../lib/synth/emit/job-plan.ts';
import { renderTektonPipelineRun, tektonPipelineRunPath } from '../lib/synth/emit/tekton.ts';
import { defaultAssembly, generatedAssembly } from './helpers/emit-fixtures.ts';
import { makeTempDir, REPO_ROOT, runSynth } from './helpers/temp-project.ts';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/tekton');

/** A schema node of a CRD's openAPIV3Schema, loosely typed. */
type SchemaNode = { [key: string]: unknown };

/**
 * The CRD's v1 schema as JSON Schema for ajv: `x-kubernetes-int-or-string` becomes integer-or-string,
 * and objects that list their properties and do not preserve unknown fields refuse others (strict field validation).
 */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const source = node as SchemaNode;
  const result: SchemaNode = {};
  for (const [key, value] of Object.entries(source)) {
    // Descriptions are for people; the x-kubernetes-* keys are handled below or only steer the API server.
    if (key.startsWith('x-kubernetes-') || key === 'description') continue;
    if (key === 'properties') {
      result[key] = Object.fromEntries(
        Object.entries(value as SchemaNode).map(([name, schema]) => [name, toJsonSchema(schema)]),
      );
    } else {
      result[key] = toJsonSchema(value);
    }
  }
  if (source['x-kubernetes-int-or-string'] === true) result.anyOf = [{ type: 'integer' }, { type: 'string' }];
  if (
    source.properties &&
    !source['x-kubernetes-preserve-unknown-fields'] &&
    !('additionalProperties' in source)
  ) {
    result.additionalProperties = false;
  }
  return result;
}

/** The v1 openAPIV3Schema of the CRD in `file`. */
async function crdSchema(file: string): Promise<SchemaNode> {
  const [document] = parseAllDocuments(await readFile(path.join(FIXTURES, file), 'utf8'));
  const crd = document!.toJS() as {
    spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: SchemaNode } }> };
  };
  const version = crd.spec.versions.find((candidate) => candidate.name === 'v1')!;
  return toJsonSchema(version.schema.openAPIV3Schema) as SchemaNode;
}

/** Validators of a PipelineRun, a Pipeline's spec and a Task's spec (tekton.dev/v1). */
async function tektonValidators(): Promise<{
  pipelineRun: ValidateFunction;
  pipelineSpec: ValidateFunction;
  taskSpec: ValidateFunction;
}> {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const pipelineRun = await crdSchema('300-pipelinerun.yaml');
  const pipeline = await crdSchema('300-pipeline.yaml');
  const task = await crdSchema('300-task.yaml');
  return {
    pipelineRun: ajv.compile(pipelineRun),
    pipelineSpec: ajv.compile((pipeline.properties as SchemaNode).spec as SchemaNode),
    taskSpec: ajv.compile((task.properties as SchemaNode).spec as SchemaNode),
  };
}

/** The parts of a rendered PipelineRun the tests read. */
interface PipelineRunShape {
  apiVersion: string;
  kind: string;
  spec: {
    params: Array<{ name: string; value: string }>;
    pipelineSpec: {
      params: Array<{ name: string }>;
      tasks: Array<{
        name: string;
        runAfter?: string[];
        params: Array<{ name: string; value: string }>;
        taskSpec: {
          params: Array<{ name: string }>;
          results: Array<{ name: string }>;
          steps: Array<{ name: string; script: string; securityContext?: { privileged?: boolean } }>;
        };
      }>;
    };
  };
}

/** Every schema error of `content` (PipelineRun, its pipelineSpec, each taskSpec), as `where: message`. */
async function schemaErrors(content: string): Promise<string[]> {
  const validators = await tektonValidators();
  const run = parse(content) as PipelineRunShape;
  const errors: string[] = [];
  const collect = (where: string, validate: ValidateFunction, value: unknown) => {
    if (!validate(value)) {
      for (const error of validate.errors ?? []) {
        errors.push(`${where}${error.instancePath}: ${error.message} ${JSON.stringify(error.params)}`);
      }
    }
  };
  collect('PipelineRun', validators.pipelineRun, run);
  collect('pipelineSpec', validators.pipelineSpec, run.spec?.pipelineSpec);
  for (const task of run.spec?.pipelineSpec?.tasks ?? []) {
    collect(`tasks.${task.name}.taskSpec`, validators.taskSpec, task.taskSpec);
  }
  return errors;
}

/** Checks edges, names and references of the PipelineRun of `assembly`; returns it parsed. */
function expectWellFormed(assembly: Assembly, content: string): PipelineRunShape {
  const run = parse(content) as PipelineRunShape;
  expect(run.apiVersion).toBe('tekton.dev/v1');
  expect(run.kind).toBe('PipelineRun');
  const tasks = run.spec.pipelineSpec.tasks;
  const names = new Set(tasks.map((task) => task.name));
  expect(names.size).toBe(tasks.length);
  for (const name of names) {
    expect(name).toMatch(TEKTON_TASK_NAME.valid);
    expect(name.length).toBeLessThanOrEqual(63);
  }
  // Which task runs each node: the --only arguments of its script.
  const taskOfNode = new Map<string, string>();
  for (const task of tasks) {
    const script = task.taskSpec.steps.find((step) => step.name === 'run')!.script;
    for (const match of script.matchAll(/--only '([^']*)'/g)) taskOfNode.set(match[1]!, task.name);
  }
  expect([...taskOfNode.keys()].sort()).toEqual(Object.keys(assembly.nodes).sort());
  for (const [nodePath, node] of Object.entries(assembly.nodes)) {
    const to = taskOfNode.get(nodePath)!;
    for (const producer of [...Object.values(node.inputs).map((input) => input.node), ...node.dependsOn]) {
      const from = taskOfNode.get(producer)!;
      const runAfter = tasks.find((task) => task.name === to)!.runAfter ?? [];
      if (from !== to) expect(runAfter, `${producer} -> ${nodePath}`).toContain(from);
    }
  }
  const pipelineParams = new Set(run.spec.pipelineSpec.params.map((param) => param.name));
  for (const param of run.spec.params) expect(pipelineParams.has(param.name)).toBe(true);
  for (const task of tasks) {
    for (const after of task.runAfter ?? [])
      expect(names.has(after), `${task.name} runs after ${after}`).toBe(true);
    for (const param of task.params) {
      for (const match of param.value.matchAll(/\$\(params\.([^)]+)\)/g))
        expect(pipelineParams).toContain(match[1]);
    }
    const declared = new Set(task.taskSpec.params.map((param) => param.name));
    const results = new Set(task.taskSpec.results.map((result) => result.name));
    const text = JSON.stringify(task.taskSpec);
    for (const match of text.matchAll(/\$\(params\.([^)]+)\)/g))
      expect(declared, task.name).toContain(match[1]);
    for (const match of text.matchAll(/\$\(results\.([^.)]+)\.path\)/g))
      expect(results, task.name).toContain(match[1]);
    expect([...declared].sort()).toEqual(task.params.map((param) => param.name).sort());
  }
  return run;
}

describe('fcos-synth --emit tekton', () => {
  it('the default pipeline: Tekton’s schemas accept it, 43 tasks, every edge a runAfter, vm tasks privileged', async () => {
    const assembly = await defaultAssembly();
    const content = renderTektonPipelineRun(assembly, { context: {} });
    expect(await schemaErrors(content)).toEqual([]);
    const run = expectWellFormed(assembly, content);
    expect(run.spec.pipelineSpec.tasks).toHaveLength(43);
    const plan = planJobs(assembly);
    run.spec.pipelineSpec.tasks.forEach((task, index) => {
      const step = task.taskSpec.steps.find((candidate) => candidate.name === 'run')!;
      expect(step.securityContext?.privileged === true).toBe(plan.jobs[index]!.vm);
    });
    expect(
      run.spec.pipelineSpec.tasks.filter((task) => task.taskSpec.steps[1]!.securityContext),
    ).toHaveLength(12);
  });

  it('a bigger pipeline and generated DAGs with awkward node paths validate and keep every edge', async () => {
    const context = { streams: 'stable,testing,next', arches: 'x86_64,aarch64' };
    const bigger = await defaultAssembly(context);
    const content = renderTektonPipelineRun(bigger, { context });
    expect(await schemaErrors(content)).toEqual([]);
    expect(expectWellFormed(bigger, content).spec.pipelineSpec.tasks).toHaveLength(
      planJobs(bigger).jobs.length,
    );
    for (const seed of [1, 2, 3]) {
      const generated = generatedAssembly(150, seed);
      const text = renderTektonPipelineRun(generated, { context: {} });
      expect(await schemaErrors(text)).toEqual([]);
      expectWellFormed(generated, text);
    }
  });

  it('the schemas do reject a misspelt field and a wrong type', async () => {
    const content = renderTektonPipelineRun(await defaultAssembly(), { context: {} });
    const misspelt = content.replace('      runAfter:\n', '      runAftr:\n');
    expect(misspelt).not.toBe(content);
    expect((await schemaErrors(misspelt)).join('\n')).toMatch(/runAftr/);
    const wrongType = content.replace(/( {12}- name: run\n {14}image: )\S+/, '$1{ name: x }');
    expect(wrongType).not.toBe(content);
    expect((await schemaErrors(wrongType)).join('\n')).toMatch(/image: must be string/);
  });

  it('writes <out>/tekton/pipelinerun.yaml, the same bytes on every run', async () => {
    const out = path.join(await makeTempDir(), 'fcos.out');
    const argv = ['--app', path.join(REPO_ROOT, 'pipeline.ts'), '--out', out, '-q', '--emit', 'tekton'];
    expect((await runSynth(argv)).code).toBe(0);
    const file = tektonPipelineRunPath(out);
    expect(file).toBe(path.join(out, 'tekton/pipelinerun.yaml'));
    const bytes = await readFile(file);
    expect((await runSynth(argv)).code).toBe(0);
    expect((await readFile(file)).equals(bytes)).toBe(true);
    expect(bytes.toString('utf8')).toBe(renderTektonPipelineRun(await defaultAssembly(), { context: {} }));
  });
});
