/**
 * A full filesystem under the cache during PlatformImage: the runner refuses before copying the
 * disk, naming the mount point and the space the image needs; and a tool that fails on a full
 * filesystem without saying so (qemu-img writing a streamOptimized VMDK onto a full ext4 says
 * `Invalid argument`) is reported as a full filesystem too, with its words. Runs on a tmpfs and a
 * loop-mounted ext4 made for the test (the tests run as root), unmounted afterwards.
 */
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NoSpaceError } from '../lib/errors.ts';
import { runTool } from '../lib/exec.ts';
import { convertImage } from '../lib/tools/qemu-img.ts';
import { translatingNoSpace } from '../lib/util/free-space.ts';
import { type BuiltDisk, buildDisk, buildImage, testExec } from './helpers/disk-images.ts';
import '../stages/disk-image/index.ts';
import '../stages/platform-image/index.ts';

const MIB = 1024 * 1024;
/** Directories mounted by this file, unmounted (then removed) after it. */
const mounted: string[] = [];
/** Other temporary files of this file. */
const scratch: string[] = [];

/** A new directory with a filesystem of `sizeMiB` mounted on it: tmpfs, or ext4 on a loop device. */
async function smallFilesystem(type: 'tmpfs' | 'ext4', sizeMiB: number): Promise<string> {
  const mountPoint = await mkdtemp(path.join(tmpdir(), `fcos-full-${type}-`));
  if (type === 'tmpfs') {
    await runTool('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', mountPoint]);
  } else {
    const image = `${mountPoint}.img`;
    scratch.push(image);
    await runTool('truncate', ['-s', `${sizeMiB}M`, image]);
    await runTool('mkfs.ext4', ['-q', '-F', image]);
    await runTool('mount', ['-o', 'loop', image, mountPoint]);
  }
  mounted.push(mountPoint);
  return mountPoint;
}

let disk: BuiltDisk;

beforeAll(async () => {
  disk = await buildDisk();
}, 300_000);

afterAll(async () => {
  for (const mountPoint of mounted) {
    await runTool('umount', [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  }
  for (const file of scratch) await rm(file, { force: true });
});

describe('PlatformImage on a full filesystem', () => {
  it('refuses at once, naming the mount point and the space the image needs', async () => {
    const mountPoint = await smallFilesystem('tmpfs', 20);
    const workDir = path.join(mountPoint, 'work');
    await mkdir(workDir);
    const allocated = (await stat(disk.path)).blocks * 512;
    expect(allocated).toBeGreaterThan(20 * MIB);
    const started = performance.now();
    const error = await buildImage(disk, 'qemu', undefined, workDir).catch((caught: unknown) => caught);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(error).toBeInstanceOf(NoSpaceError);
    expect(error).toMatchObject({
      constructPath: 'testing/x86_64/qemu',
      field: 'disk',
      mountPoint,
      neededBytes: 2 * allocated,
    });
    expect((error as Error).message).toMatch(
      new RegExp(
        `^no space left on ${mountPoint} \\(the filesystem of ${workDir}\\): the qemu image of a 1 GiB disk \\(a copy of its \\d+ MiB of data, then the converted and compressed image\\) needs up to ${Math.ceil((2 * allocated) / MIB)} MiB, (19|20) MiB free`,
      ),
    );
    // Refused before the copy: nothing was written.
    expect(await readdir(workDir)).toEqual([]);
  });

  it("reports qemu-img's 'Invalid argument' on a full ext4 as no space left there, with the tool's words", async () => {
    const mountPoint = await smallFilesystem('ext4', 16);
    const input = path.join(path.dirname(disk.path), 'random.raw');
    scratch.push(input);
    await runTool('truncate', ['-s', '64M', input]);
    await runTool('dd', [
      'if=/dev/urandom',
      `of=${input}`,
      'bs=1M',
      'count=24',
      'conv=notrunc',
      'status=none',
    ]);
    const output = path.join(mountPoint, 'image.vmdk');
    const need = {
      directory: mountPoint,
      neededBytes: 24 * MIB,
      what: 'a 24 MiB VMDK',
      constructPath: 'x/Vmdk',
    };
    const convert = () =>
      convertImage(testExec, {
        input,
        output,
        format: 'vmdk',
        options: ['adapter_type=lsilogic', 'subformat=streamOptimized', 'compat6'],
      });
    const error = await translatingNoSpace(need, convert).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NoSpaceError);
    expect(error).toMatchObject({ mountPoint, constructPath: 'x/Vmdk' });
    expect((error as Error).message).toMatch(
      new RegExp(
        `^no space left on ${mountPoint} \\(the filesystem of ${mountPoint}\\): a 24 MiB VMDK needs up to 24 MiB, \\d+ MiB free; .*\\(the tool said: qemu-img: error while writing at byte \\d+: Invalid argument\\)$`,
      ),
    );
  });
});
