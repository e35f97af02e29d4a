/**
 * Compression of shipped images: each format's extension, reproducible bytes, and the content back
 * (by the tools themselves and by `uncompressed`, the project's one decompression).
 */
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256Bytes, sha256File } from '../lib/cache/hash.ts';
import { runTool } from '../lib/exec.ts';
import { compressFile, detectCompression, uncompressed } from '../lib/tools/compress.ts';
import { makeTempDir } from './helpers/temp-project.ts';

/** 8 MiB that compress a little: a repeating counter with zero runs, the same every time. */
function sampleContent(): Buffer {
  const content = Buffer.alloc(8 * 1024 * 1024);
  for (let index = 0; index < content.length; index += 4096)
    content.writeUInt32LE((index * 2654435761) >>> 0, index);
  return content;
}

describe('compressFile', () => {
  it.each([
    ['xz', 'xz', ['xz', '-dc']],
    ['gzip', 'gz', ['gzip', '-dc']],
    ['zstd', 'zst', ['zstd', '-qdc']],
  ] as const)(
    '%s gives FILE.%s, the same bytes every time, and the content back',
    async (compression, extension, decompress) => {
      const digests: string[] = [];
      for (const run of [1, 2]) {
        const directory = path.join(await makeTempDir(), String(run));
        await mkdir(directory);
        const file = path.join(directory, 'image.raw');
        await writeFile(file, sampleContent());
        const compressed = await compressFile(
          (tool, args, options) => runTool(tool, args, options),
          file,
          compression,
        );
        expect(compressed.path).toBe(`${file}.${extension}`);
        // The content's digest, taken on its way to the compressor; the file itself is replaced.
        expect(compressed.uncompressed).toEqual({
          digest: sha256Bytes(sampleContent()),
          size: 8 * 1024 * 1024,
        });
        expect(await readdir(directory)).toEqual([`image.raw.${extension}`]);
        digests.push((await sha256File(compressed.path)).digest);
        const restored = path.join(directory, 'restored.raw');
        const [tool, ...toolArguments] = decompress;
        await runTool(tool!, [...toolArguments, compressed.path], { stdoutFile: restored });
        expect((await readFile(restored)).equals(sampleContent())).toBe(true);
      }
      expect(digests[0]).toBe(digests[1]);
    },
  );

  it('leaves a file alone for none', async () => {
    const file = path.join(await makeTempDir(), 'image.raw');
    await writeFile(file, 'x');
    expect(await compressFile((tool, args, options) => runTool(tool, args, options), file, 'none')).toEqual({
      path: file,
      uncompressed: undefined,
    });
  });
});

describe('uncompressed', () => {
  const exec = (tool: string, args: readonly string[], options?: Parameters<typeof runTool>[2]) =>
    runTool(tool, args, options);

  it.each(['xz', 'gzip', 'zstd'] as const)(
    'writes the content of a %s file to DIRECTORY/NAME, from a read-only input',
    async (compression) => {
      const directory = await makeTempDir();
      const file = path.join(directory, 'image.raw');
      await writeFile(file, sampleContent());
      const compressed = (await compressFile(exec, file, compression)).path;
      await chmod(compressed, 0o444);
      expect(await detectCompression(compressed)).toBe(compression);
      const restored = await uncompressed(exec, compressed, directory, 'restored.raw');
      expect(restored).toBe(path.join(directory, 'restored.raw'));
      expect((await readFile(restored)).equals(sampleContent())).toBe(true);
    },
  );

  it('returns an uncompressed file itself, writing nothing', async () => {
    const directory = await makeTempDir();
    const file = path.join(directory, 'image.raw');
    await writeFile(file, sampleContent());
    expect(await detectCompression(file)).toBe('none');
    expect(await uncompressed(exec, file, directory, 'restored.raw')).toBe(file);
    expect(await readdir(directory)).toEqual(['image.raw']);
  });

  it("fails with the tool's message for a damaged file", async () => {
    const directory = await makeTempDir();
    const file = path.join(directory, 'image.raw.xz');
    await writeFile(
      file,
      Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(64, 7)]),
    );
    await expect(uncompressed(exec, file, directory, 'restored.raw')).rejects.toThrow(
      /xz -dc -- .* exited with code 1/,
    );
  });
});
