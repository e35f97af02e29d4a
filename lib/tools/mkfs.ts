/**
 * mkfs.ext4 and mkfs.vfat: filesystems made reproducibly without mounting anything. Quirks handled
 * here (e2fsprogs 1.47.0, dosfstools 4.2): mke2fs stamps the superblock and the inodes it creates
 * with the clock unless E2FSPROGS_FAKE_TIME is set; the directory hash seed is random unless given;
 * `-E offset=` builds the filesystem inside the disk file (no copy of a multi-GiB partition);
 * mkfs.vfat's `--offset` derives a geometry from the whole file and shrinks the filesystem to whole
 * tracks, so the ESP is made as its own file (`-C`) and copied in.
 */
import type { ToolExec } from '../exec.ts';

/** Options of {@link makeExt4}. */
export interface Ext4Options {
  /** The image file (created when absent). */
  readonly file: string;
  /**
   * Byte offset of the filesystem in `file` (a partition inside a disk image).
   * @default 0
   */
  readonly offset?: number;
  /** Size of the filesystem in bytes (a multiple of 4096). */
  readonly size: number;
  /** Filesystem label. */
  readonly label: string;
  /** Filesystem UUID; also the directory hash seed. */
  readonly uuid: string;
  /** Directory whose contents fill the filesystem (`-d`): hardlinks, modes, owners, symlinks, xattrs. */
  readonly sourceDir: string;
  /** Seconds since the epoch stamped on the superblock and on the inodes mke2fs makes. */
  readonly timestamp: number;
}

/** Makes an ext4 filesystem with 4096-byte blocks filled from a directory (mkfs.ext4 -d). */
export async function makeExt4(exec: ToolExec, options: Ext4Options): Promise<void> {
  const extended = [`hash_seed=${options.uuid}`, 'root_owner=0:0'];
  if (options.offset) extended.push(`offset=${options.offset}`);
  await exec(
    'mkfs.ext4',
    [
      '-q',
      '-F',
      '-b',
      '4096',
      '-L',
      options.label,
      '-U',
      options.uuid,
      '-E',
      extended.join(','),
      '-d',
      options.sourceDir,
      options.file,
      `${options.size / 1024}k`,
    ],
    { env: { E2FSPROGS_FAKE_TIME: String(options.timestamp) } },
  );
}

/** Options of {@link makeVfat}. */
export interface VfatOptions {
  /** The image file to create (it must not exist). */
  readonly file: string;
  /** Size in bytes (a multiple of 1024). */
  readonly size: number;
  /** Volume label. */
  readonly label: string;
  /** Volume id, 8 hex digits. */
  readonly volumeId: string;
  /** Logical sector size: the disk's (Linux refuses a FAT whose sectors are smaller than the disk's). */
  readonly sectorSize: 512 | 4096;
}

/** Makes an empty FAT filesystem image with fixed ids and times (mkfs.vfat -C --invariant). */
export async function makeVfat(exec: ToolExec, options: VfatOptions): Promise<void> {
  await exec('mkfs.vfat', [
    '-C',
    '--invariant',
    '-S',
    String(options.sectorSize),
    '-i',
    options.volumeId,
    '-n',
    options.label,
    options.file,
    String(options.size / 1024),
  ]);
}
