/**
 * tiny-dracut: the local tiny OS's initramfs generator (packages/tiny-dracut), run on the build host
 * from the installroot it builds the initramfs of, the way rpm-ostree runs dracut.
 */
import path from 'node:path';
import type { ToolExec } from '../exec.ts';

/** Where the tiny-dracut package installs the generator. */
export const TINY_DRACUT_PATH = 'usr/bin/tiny-dracut';

/** Options of {@link buildInitramfs}. */
export interface BuildInitramfsOptions {
  /** The installroot (holds tiny-dracut, busybox, ignition and the kernel's modules). */
  readonly root: string;
  /** Kernel version: the directory under `/usr/lib/modules`. */
  readonly kernelVersion: string;
  /** The initramfs file to write (gzip'd newc cpio). */
  readonly output: string;
  /**
   * mtime of every entry of the archive.
   * @default 0
   */
  readonly sourceDateEpoch?: number;
}

/** Runs ROOT/usr/bin/tiny-dracut with the host's sh to build the initramfs. */
export async function buildInitramfs(exec: ToolExec, options: BuildInitramfsOptions): Promise<void> {
  const root = path.resolve(options.root);
  await exec(
    'sh',
    [
      path.join(root, TINY_DRACUT_PATH),
      '--root',
      root,
      '--kver',
      options.kernelVersion,
      '--output',
      path.resolve(options.output),
    ],
    { env: { SOURCE_DATE_EPOCH: String(options.sourceDateEpoch ?? 0) } },
  );
}
