/**
 * Benchmark-only kind `BenchNoop`: writes one small file per declared output (no child process),
 * so that executor overhead can be measured on pipelines of any shape. Its assemblies are written
 * by hand, so kind and runner share this module.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineKind } from '../../lib/kind.ts';
import { defineRunner } from '../../lib/runner.ts';
import { canonicalStringify, type JsonValue } from '../../lib/util/canonical-json.ts';

/** The BenchNoop kind: any props. */
export const benchNoopKind = defineKind({
  kind: 'BenchNoop',
  version: 1,
  schema: z.record(z.string(), z.json()),
  runner: import.meta.url,
});

export default defineRunner(benchNoopKind, {
  async run(context) {
    const outputs: Record<string, { storage: 'file'; path: string }> = {};
    for (const name of Object.keys(context.declaredOutputs)) {
      const file = path.join(context.workDir, name);
      const digest = createHash('sha256')
        .update(canonicalStringify({ node: context.nodePath, name, props: context.props as JsonValue }))
        .digest('hex');
      await writeFile(file, digest);
      outputs[name] = { storage: 'file', path: file };
    }
    return outputs;
  },
});
