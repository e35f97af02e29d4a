/**
 * Benchmark-only runners. `BenchNoop` writes one small file per declared output (no child
 * process), so that executor overhead can be measured on pipelines of any shape; `BenchBigFile`
 * writes a large file of pseudo-random bytes, to measure memory while an image is stored.
 */
import { createHash } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { registerRunner } from '../lib/runner.ts';
import type { JsonValue } from '../lib/util/canonical-json.ts';
import { canonicalStringify } from '../lib/util/canonical-json.ts';

registerRunner({
  kind: 'BenchNoop',
  version: 1,
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

registerRunner<{ sizeMiB: number }>({
  kind: 'BenchBigFile',
  version: 1,
  async run(context) {
    const file = path.join(context.workDir, 'disk.raw');
    const handle = await open(file, 'w');
    const chunk = Buffer.alloc(4 * 1024 * 1024);
    try {
      // Cheap non-repeating content: each chunk is filled from a counter-seeded hash stream.
      for (let index = 0; index < context.props.sizeMiB / 4; index++) {
        const seed = createHash('sha256').update(String(index)).digest();
        for (let offset = 0; offset < chunk.length; offset += seed.length) seed.copy(chunk, offset);
        chunk.writeUInt32LE(index, 0);
        await handle.write(chunk);
      }
    } finally {
      await handle.close();
    }
    return { disk: { storage: 'file', path: file } };
  },
});
