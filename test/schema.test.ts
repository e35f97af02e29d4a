/** The committed JSON Schema of pipeline.json matches the zod schema it is emitted from. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ASSEMBLY_SCHEMA_VERSION, assemblyJsonSchema, assemblySchema } from '../lib/synth/assembly.ts';
import { REPO_ROOT } from './helpers/temp-project.ts';

describe('the pipeline.json schema', () => {
  it('committed JSON Schema is what the zod schema emits (run npm run schema after changing it)', async () => {
    const committed = JSON.parse(await readFile(path.join(REPO_ROOT, 'schema/pipeline.schema.json'), 'utf8'));
    expect(committed).toEqual(assemblyJsonSchema());
    expect(committed.$id).toContain(`pipeline-v${ASSEMBLY_SCHEMA_VERSION}`);
    expect(committed.required).toEqual(['schemaVersion', 'pipeline', 'nodes']);
  });

  it('rejects unknown members, so a newer writer is noticed', () => {
    const node = {
      kind: 'K',
      kindVersion: 1,
      runner: 'm',
      props: {},
      inputs: {},
      dependsOn: [],
      resources: { class: 'cpu' },
      outputs: {},
    };
    const base = {
      schemaVersion: ASSEMBLY_SCHEMA_VERSION,
      pipeline: { name: 'p', context: {}, project: '..', app: 'pipeline.ts' },
      nodes: { a: node },
    };
    expect(assemblySchema.safeParse(base).success).toBe(true);
    expect(assemblySchema.safeParse({ ...base, extra: 1 }).success).toBe(false);
    expect(
      assemblySchema.safeParse({ ...base, nodes: { a: { ...node, resources: { class: 'gpu' } } } }).success,
    ).toBe(false);
  });
});
