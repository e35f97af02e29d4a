/**
 * GNU cpio's newc archives, the format the kernel unpacks from an initramfs: the live rootfs image
 * (one squashfs) and the small archives appended to the live initramfs. Reproducible: names in the
 * given order, owners 0:0, inode numbers and device ids renumbered (--reproducible), times set by
 * the caller.
 */
import type { ToolExec } from '../exec.ts';

/** Options of {@link writeNewcArchive}. */
export interface NewcArchiveOptions {
  /** The directory the names are relative to. */
  readonly directory: string;
  /** The paths to store, relative to `directory`, parents before their children. */
  readonly names: readonly string[];
  /** The archive to write. */
  readonly output: string;
}

/** Writes a newc cpio archive of `names` (relative to `directory`) to `output`. */
export async function writeNewcArchive(exec: ToolExec, options: NewcArchiveOptions): Promise<void> {
  await exec('cpio', ['--quiet', '-o', '-H', 'newc', '--reproducible', '-R', '0:0'], {
    cwd: options.directory,
    input: `${options.names.join('\n')}\n`,
    stdoutFile: options.output,
  });
}
