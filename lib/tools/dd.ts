/**
 * dd: placing a partition image into a disk image. `conv=sparse` skips the zero blocks (the disk
 * stays sparse) and `conv=notrunc` keeps the rest of the disk; the offset is in bytes.
 */
import type { ToolExec } from '../exec.ts';

/** Copies the file `source` into `disk` at byte `offset`, leaving holes for zero blocks. */
export async function copyIntoDisk(
  exec: ToolExec,
  source: string,
  disk: string,
  offset: number,
): Promise<void> {
  await exec('dd', [
    `if=${source}`,
    `of=${disk}`,
    'bs=1M',
    `seek=${offset}`,
    'oflag=seek_bytes',
    'conv=notrunc,sparse',
    'status=none',
  ]);
}
