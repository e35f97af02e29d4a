/**
 * Benchmark-only kind `BenchBigFile`: writes a large file of pseudo-random bytes, to measure
 * memory while an image is stored. Kind and runner share this module.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineKind } from '../../lib/kind.ts';
import { defineRunner } from '../../lib/runner.ts';

/** The BenchBigFile kind. */
export const benchBigFileKind = defineKind({
  kind: 'BenchBigFile',
  version: 1,
  schema: z.object({ sizeMiB: z.number().int().positive() }),
  resources: () => ({ class: 'io' }),
  runner: import.meta.url,
});

export default defineRunner(benchBigFileKind, {
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
