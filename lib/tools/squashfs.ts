/**
 * mksquashfs (squashfs-tools): a directory as a read-only compressed filesystem image, the live
 * system's root. Bytes depend only on the tree: owners are root, every time (and the superblock's)
 * is at most the given timestamp, and squashfs-tools sorts directory entries itself; hard links (an ostree
 * deployment shares its files with the repository's objects) are stored once.
 */
import type { ToolExec } from '../exec.ts';

/** Options of {@link makeSquashfs}. */
export interface SquashfsOptions {
  /** The directory to pack. */
  readonly source: string;
  /** The image to write (replaced if it exists). */
  readonly output: string;
  /** Seconds since the epoch: the filesystem's creation time, and the latest time an inode keeps. */
  readonly timestamp: number;
}

/**
 * zstd at level 3: the Debian kernel reads zstd squashfs (CONFIG_SQUASHFS_ZSTD), and level 3 packs
 * the tiny OS's tree in a few seconds where squashfs-tools' default level (15) takes a minute.
 */
const COMPRESSION = ['-comp', 'zstd', '-Xcompression-level', '3'];

/** Packs `source` into a reproducible squashfs image at `output`. */
export async function makeSquashfs(exec: ToolExec, options: SquashfsOptions): Promise<void> {
  const time = String(options.timestamp);
  await exec(
    'mksquashfs',
    [options.source, options.output, '-noappend', ...COMPRESSION, '-all-root', '-no-progress', '-quiet'],
    // SOURCE_DATE_EPOCH is the creation time and clamps every later inode time to it (an ostree
    // checkout's files are at 0, what deploy made is newer). squashfs-tools refuses it together with
    // -mkfs-time/-all-time, so it is always set, whatever the caller's environment says.
    { env: { SOURCE_DATE_EPOCH: time } },
  );
}
