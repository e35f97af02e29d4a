/**
 * What an ext4 image of a directory needs besides `mkfs.ext4 -d`: the debugfs commands that give
 * its inodes fixed times (mke2fs copies each source file's atime, ctime and mtime, and ctime cannot
 * be set on the host), and an estimate of the space the tree takes, to refuse a partition that is
 * too small with a clear message before mke2fs runs out of blocks.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ToolExec } from '../exec.ts';
import { DebugfsError, listDirectoryInodes, setTimesCommands } from '../tools/debugfs.ts';

/** Block size of the filesystems made (mkfs.ext4 -b 4096). */
const BLOCK = 4096;
/** Size of an inode (mke2fs's default for filesystems above 512 MiB). */
const INODE_SIZE = 256;
/** Longest symlink target stored in the inode itself. */
const FAST_SYMLINK_MAX = 59;

/** A symlink of the tree: debugfs names it by inode number (`sif PATH` would follow it). */
export interface TreeSymlink {
  /** Its directory, absolute in the filesystem (`/`, `/ostree`). */
  readonly directory: string;
  /** Its name in the directory. */
  readonly name: string;
  /** Time fields to set (`mtime` is left at 0 where the source has 0). */
  readonly fields: readonly string[];
}

/** What {@link scanTree} found. */
export interface TreeScan {
  /** debugfs commands setting atime and ctime (and mtime unless it is 0) of the tree's other inodes. */
  readonly timeCommands: readonly string[];
  /** The symlinks, whose commands need their inode numbers in the new filesystem. */
  readonly symlinks: readonly TreeSymlink[];
  /** Bytes of data blocks the tree needs (files and long symlinks rounded up to blocks, directories). */
  readonly dataBytes: number;
  /** Distinct inodes (hardlinks counted once). */
  readonly inodes: number;
}

/** Compares names as bytes, so the order does not depend on the locale. */
function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Walks `directory` once: the time-fixing commands for the filesystem made from it (each inode
 * named by its first path; ostree's mtime 0 is kept), its symlinks, and its size.
 */
export async function scanTree(directory: string, timestamp: number): Promise<TreeScan> {
  const timeCommands = setTimesCommands('/', timestamp, ['atime', 'ctime', 'mtime']);
  const symlinks: TreeSymlink[] = [];
  const seen = new Set<number>();
  let dataBytes = BLOCK;
  const walk = async (relative: string): Promise<void> => {
    const entries = (await readdir(path.join(directory, relative), { withFileTypes: true })).sort(byName);
    for (const entry of entries) {
      const child = `${relative}/${entry.name}`;
      const stats = await lstat(path.join(directory, child));
      const fields = stats.mtimeMs === 0 ? ['atime', 'ctime'] : ['atime', 'ctime', 'mtime'];
      // mke2fs keeps hardlinks of regular files only: every path of a hardlinked symlink is an inode.
      if (stats.isSymbolicLink()) symlinks.push({ directory: relative || '/', name: entry.name, fields });
      if (!seen.has(stats.ino)) {
        seen.add(stats.ino);
        if (!stats.isSymbolicLink()) timeCommands.push(...setTimesCommands(child, timestamp, fields));
        const stored = stats.isSymbolicLink() && stats.size <= FAST_SYMLINK_MAX ? 0 : stats.size;
        dataBytes += Math.ceil(stored / BLOCK) * BLOCK;
      }
      if (entry.isDirectory()) await walk(child);
    }
  };
  await walk('');
  return { timeCommands, symlinks, dataBytes, inodes: seen.size + 1 };
}

/** Journal size mke2fs picks for a filesystem of `size` bytes (ext2fs_default_journal_size). */
function journalBytes(size: number): number {
  const blocks = size / BLOCK;
  if (blocks < 32 * 1024) return 1024 * BLOCK;
  if (blocks < 256 * 1024) return 4096 * BLOCK;
  if (blocks < 512 * 1024) return 8192 * BLOCK;
  if (blocks < 4096 * 1024) return 16384 * BLOCK;
  if (blocks < 8192 * 1024) return 32768 * BLOCK;
  if (blocks < 16384 * 1024) return 65536 * BLOCK;
  if (blocks < 32768 * 1024) return 131072 * BLOCK;
  return 262144 * BLOCK;
}

/**
 * Bytes left for files in an ext4 filesystem of `size` bytes: minus the journal, the inode tables
 * (one 256-byte inode per 16 KiB) and about 1% for bitmaps, group descriptors and directory growth.
 */
export function ext4Capacity(size: number): number {
  const inodeTables = (size / 16384) * INODE_SIZE;
  return Math.floor(size - journalBytes(size) - inodeTables - size * 0.01);
}

/**
 * The time commands of the symlinks of `scan`, by inode number: the numbers are read from the
 * filesystem `spec` made from the tree (one `ls -p` per directory that holds symlinks).
 */
export async function symlinkTimeCommands(
  exec: ToolExec,
  spec: string,
  scan: TreeScan,
  timestamp: number,
  commandFile: string,
): Promise<string[]> {
  const directories = [...new Set(scan.symlinks.map((symlink) => symlink.directory))];
  const listing = await listDirectoryInodes(exec, spec, directories, commandFile);
  return scan.symlinks.flatMap((symlink) => {
    const inode = listing.get(symlink.directory)?.get(symlink.name);
    if (inode === undefined)
      throw new DebugfsError(
        `${symlink.directory}/${symlink.name} is not in the filesystem made from the tree`,
      );
    return setTimesCommands(`<${inode}>`, timestamp, symlink.fields);
  });
}
