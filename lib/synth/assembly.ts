/**
 * The cloud-assembly of fcos-cdk: `fcos.out/pipeline.json`, the versioned contract between
 * synthesis and every executor (fcos-run here, a Tekton or GitHub Actions driver elsewhere).
 * Its JSON Schema (`schema/pipeline.schema.json`) is emitted from the zod schema below.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { AssemblyError } from '../errors.ts';
import { jsonValueSchema } from '../util/canonical-json.ts';

/** Version of the pipeline.json format; bumped on any incompatible change. */
export const ASSEMBLY_SCHEMA_VERSION = 2;

/** An edge: which node's output feeds a prop of this node. */
export const inputReferenceSchema = z
  .object({
    node: z.string().describe('Construct path of the producing node.'),
    output: z.string().describe('Output name on the producing node.'),
    type: z.string().describe('Artifact type carried by the edge.'),
  })
  .strict();

/** What a node needs from the machine while running. */
export const resourcesSchema = z
  .object({
    class: z.enum(['cpu', 'io', 'net', 'vm']).describe('Scheduling pool.'),
    memoryMiB: z.number().int().positive().optional().describe('Memory held while running (vm budget).'),
  })
  .strict();

/** A declared output of a node. */
export const outputDeclarationSchema = z
  .object({
    type: z.string().describe('Artifact type.'),
    attributes: z
      .record(z.string(), jsonValueSchema)
      .describe('Facts known at synthesis (arch, platform ...).'),
  })
  .strict();

/** One node of the DAG. */
export const assemblyNodeSchema = z
  .object({
    kind: z.string().describe('Node kind; selects the runner.'),
    kindVersion: z.number().int().nonnegative().describe('Kind version; part of the action key.'),
    runner: z
      .string()
      .describe(
        "The kind's runner module: 'fcos-cdk/<path without extension>' or a path relative to the project.",
      ),
    props: z
      .record(z.string(), jsonValueSchema)
      .describe('Canonical props; artifact props are {"$input": name}.'),
    inputs: z.record(z.string(), inputReferenceSchema).describe('Edges in, by input name.'),
    dependsOn: z.array(z.string()).describe('Explicit dependencies (node.addDependency), sorted.'),
    resources: resourcesSchema,
    outputs: z.record(z.string(), outputDeclarationSchema).describe('Declared outputs, by name.'),
  })
  .strict();

/** The whole of pipeline.json. */
export const assemblySchema = z
  .object({
    schemaVersion: z.literal(ASSEMBLY_SCHEMA_VERSION),
    pipeline: z
      .object({
        name: z.string(),
        context: z.record(z.string(), z.string()).describe('Effective context (defaults and -c values).'),
        project: z.string().describe('Project directory, relative to the directory holding pipeline.json.'),
        app: z.string().describe('The pipeline program, relative to the project directory.'),
      })
      .strict(),
    nodes: z.record(z.string(), assemblyNodeSchema).describe('Nodes by construct path.'),
  })
  .strict();

/** A parsed pipeline.json. */
export type Assembly = z.infer<typeof assemblySchema>;
/** One node of an {@link Assembly}. */
export type AssemblyNode = z.infer<typeof assemblyNodeSchema>;
/** One edge into a node. */
export type InputReference = z.infer<typeof inputReferenceSchema>;

/** The JSON Schema of pipeline.json, as committed in schema/pipeline.schema.json. */
export function assemblyJsonSchema(): Record<string, unknown> {
  return {
    $id: `https://fcos-cdk.dev/schema/pipeline-v${ASSEMBLY_SCHEMA_VERSION}.json`,
    title: 'fcos-cdk pipeline assembly',
    ...z.toJSONSchema(assemblySchema, { target: 'draft-2020-12' }),
  };
}

/** Reads and validates a pipeline.json; errors say what to do (usually: run fcos-synth). */
export async function readAssembly(file: string): Promise<Assembly> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new AssemblyError(`${file} does not exist: run fcos-synth first`, { field: 'pipeline.json' });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new AssemblyError(`${file} is not valid JSON (${(error as Error).message}): run fcos-synth again`);
  }
  const version = (json as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version !== ASSEMBLY_SCHEMA_VERSION) {
    throw new AssemblyError(
      `${file} has schemaVersion ${JSON.stringify(version)}, this fcos-cdk reads ${ASSEMBLY_SCHEMA_VERSION}: run fcos-synth again`,
      { field: 'schemaVersion' },
    );
  }
  const result = assemblySchema.safeParse(json);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new AssemblyError(
      `${file} is not a valid pipeline assembly at '${first?.path.join('.')}': ${first?.message}`,
    );
  }
  return result.data;
}
