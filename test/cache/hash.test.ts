/** sha256 of files and bytes, compared with sha256sum. */
import { randomBytes } from 'node:crypto';
import { open, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { InvalidDigestError } from '../../lib/cache/errors.ts';
import {
  assertDigest,
  bytesHashed,
  isDigest,
  knownContent,
  sha256Bytes,
  sha256File,
} from '../../lib/cache/hash.ts';
import { temporaryDirectory } from './helpers.ts';

/** sha256 of a file according to coreutils. */
async function coreutilsDigest(file: string): Promise<string> {
  const { stdout } = await execa('sha256sum', [file]);
  return stdout.split(' ')[0]!;
}

describe('sha256Bytes', () => {
  it('matches the FIPS 180-2 test vectors, as lowercase hex without prefix', () => {
    expect(sha256Bytes('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Bytes(new Uint8Array())).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});

describe('sha256File', () => {
  it('agrees with sha256sum on empty, small and multi-chunk files', async () => {
    const directory = await temporaryDirectory();
    const sizes = [0, 1, 65_535, 4 * 1024 * 1024, 9 * 1024 * 1024 + 7];
    for (const size of sizes) {
      const file = path.join(directory, `file-${size}`);
      await writeFile(file, randomBytes(size));
      const result = await sha256File(file);
      expect(result).toEqual({ digest: await coreutilsDigest(file), size });
    }
  });

  it('hashes holes of a sparse file as zeros', async () => {
    const directory = await temporaryDirectory();
    const file = path.join(directory, 'sparse');
    const handle = await open(file, 'w');
    await handle.truncate(12 * 1024 * 1024);
    await handle.write(Buffer.from('end'), 0, 3, 12 * 1024 * 1024 - 3);
    await handle.close();
    expect((await sha256File(file)).digest).toBe(await coreutilsDigest(file));
  });

  it('reads an unchanged file once per process, and again after any change, even one that restores the mtime', async () => {
    const directory = await temporaryDirectory();
    const file = path.join(directory, 'image');
    await writeFile(file, randomBytes(1024 * 1024));
    const before = bytesHashed();
    const first = await sha256File(file);
    expect(bytesHashed() - before).toBe(1024 * 1024);
    expect(await sha256File(file)).toEqual(first);
    expect(knownContent(file)).toEqual(first);
    expect(bytesHashed() - before).toBe(1024 * 1024);

    // Same size, mtime put back: only the ctime (which user space cannot set) tells.
    const { atime, mtime } = await stat(file);
    await writeFile(file, randomBytes(1024 * 1024));
    await utimes(file, atime, mtime);
    expect(knownContent(file)).toBeUndefined();
    const second = await sha256File(file);
    expect(second.digest).not.toBe(first.digest);
    expect(second.digest).toBe(await coreutilsDigest(file));
    expect(bytesHashed() - before).toBe(2 * 1024 * 1024);
  });

  it('rejects with the abort reason when the signal is aborted', async () => {
    const directory = await temporaryDirectory();
    const file = path.join(directory, 'file');
    await writeFile(file, 'content');
    const controller = new AbortController();
    controller.abort();
    await expect(sha256File(file, { signal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});

describe('digest validation', () => {
  it('accepts only 64 lowercase hex digits', () => {
    expect(isDigest(sha256Bytes('x'))).toBe(true);
    expect(isDigest(`sha256:${sha256Bytes('x')}`)).toBe(false);
    expect(isDigest(sha256Bytes('x').toUpperCase())).toBe(false);
    expect(() => assertDigest('../../etc/passwd')).toThrow(InvalidDigestError);
  });
});
