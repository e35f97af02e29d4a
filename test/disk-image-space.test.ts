/**
 * A full filesystem under the cache: DiskImage refuses at once, before deploying anything, naming
 * the mount point and the sizes, and a tool that hits the full disk is reported the same way.
 * Runs on a 20 MiB tmpfs mounted for the test (the tests run as root).
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FcosError, NoSpaceError } from '../lib/errors.ts';
import { runTool } from '../lib/exec.ts';
import { availableBytes, mountPointOf, translatingNoSpace } from '../lib/util/free-space.ts';
import { buildDisk } from './helpers/disk-images.ts';
import '../stages/disk-image/index.ts';

const MIB = 1024 * 1024;
let mountPoint = '';

beforeAll(async () => {
  mountPoint = await mkdtemp(path.join(tmpdir(), 'fcos-full-'));
  await runTool('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mountPoint]);
});

afterAll(async () => {
  if (!mountPoint) return;
  await runTool('umount', [mountPoint]);
  await rm(mountPoint, { recursive: true, force: true });
});

describe('free space', () => {
  it('finds the mount point of a directory and what is free there', async () => {
    const deep = path.join(mountPoint, 'a/b');
    await mkdir(deep, { recursive: true });
    expect(await mountPointOf(deep)).toBe(mountPoint);
    const free = await availableBytes(deep);
    expect(free).toBeGreaterThan(10 * MIB);
    expect(free).toBeLessThanOrEqual(20 * MIB);
  });

  it('DiskImage with its work directory on a 20 MiB filesystem fails at once, naming the mount point and sizes', async () => {
    const workDir = path.join(mountPoint, 'disk-work');
    await mkdir(workDir);
    const started = performance.now();
    const error = await buildDisk({ sizeGiB: 1 }, workDir).catch((caught: unknown) => caught);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(error).toBeInstanceOf(NoSpaceError);
    expect(error).toMatchObject({
      constructPath: 'testing/x86_64/Disk',
      field: 'sizeGiB',
      mountPoint,
      neededBytes: 1024 * MIB,
    });
    expect((error as NoSpaceError).availableBytes).toBeLessThanOrEqual(20 * MIB);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^no space left on ${mountPoint} \\(the filesystem of ${workDir}\\): a 1 GiB disk needs up to 1024 MiB, (19|20) MiB free`,
      ),
    );
    // Refused before deploying: nothing was written.
    expect(await readdir(workDir)).toEqual([]);
  });

  it("turns a tool's 'No space left on device', even wrapped in a runner's error, into the same error", async () => {
    const need = {
      directory: mountPoint,
      neededBytes: 30 * MIB,
      what: 'a 30 MiB file',
      constructPath: 'x/Fill',
    };
    const fill = path.join(mountPoint, 'fill');
    const fillUp = () => runTool('dd', ['if=/dev/zero', `of=${fill}`, 'bs=1M', 'count=30']);
    const direct = await translatingNoSpace(need, fillUp).catch((caught: unknown) => caught);
    expect(direct).toBeInstanceOf(NoSpaceError);
    expect(direct).toMatchObject({ mountPoint, neededBytes: 30 * MIB, constructPath: 'x/Fill' });
    expect((direct as Error).message).toMatch(
      /^no space left on .*: a 30 MiB file needs up to 30 MiB, \d+ MiB free/,
    );
    const wrapped = await translatingNoSpace(need, async () => {
      try {
        await fillUp();
      } catch (cause) {
        throw new FcosError('the root partition is too small', { cause });
      }
    }).catch((caught: unknown) => caught);
    expect(wrapped).toBeInstanceOf(NoSpaceError);
    await rm(fill);
    // Any other failure passes through unchanged.
    const other = await translatingNoSpace(need, () => runTool('false', [])).catch(
      (caught: unknown) => caught,
    );
    expect(other).not.toBeInstanceOf(NoSpaceError);
  });
});
