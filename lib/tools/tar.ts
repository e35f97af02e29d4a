/**
 * GNU tar: reproducible archives of a few files (GCE's disk.raw tarball, VMware's OVA). Fixed
 * mtime, numeric root owner, the members in the given order; `--sparse` stores a sparse file's
 * data only (GCE wants the oldgnu format for that).
 */
import type { ToolExec } from '../exec.ts';

/** Options of {@link createTar}. */
export interface CreateTarOptions {
  /** The archive to write. */
  readonly output: string;
  /** Directory the members are taken from. */
  readonly directory: string;
  /** Member names (relative to `directory`), in archive order. */
  readonly members: readonly string[];
  /** Archive format. */
  readonly format: 'oldgnu' | 'ustar';
  /** Store holes of sparse members as holes. */
  readonly sparse: boolean;
  /** mtime of every member, seconds since the epoch. */
  readonly mtime: number;
}

/** Writes an uncompressed tar archive reproducibly. */
export async function createTar(exec: ToolExec, options: CreateTarOptions): Promise<void> {
  await exec('tar', [
    `--format=${options.format}`,
    ...(options.sparse ? ['--sparse'] : []),
    `--mtime=@${options.mtime}`,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mode=u=rw,go=r',
    '--no-recursion',
    '-C',
    options.directory,
    '-cf',
    options.output,
    '--',
    ...options.members,
  ]);
}
