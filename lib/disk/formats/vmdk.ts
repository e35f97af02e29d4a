/**
 * The embedded descriptor of a streamOptimized VMDK (a text block at the sector the sparse header
 * names): qemu-img writes a random content id (`CID=`) and the output file's name in the extent
 * line, so two conversions differ. Here the CID comes from a seed and the extent is given the final
 * file name; the block keeps its size (it is zero-padded).
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { FcosError } from '../../errors.ts';

/** Sector size of VMDK offsets. */
const SECTOR = 512;

/** The file is not a sparse VMDK with an embedded descriptor. */
export class VmdkError extends FcosError {}

/** The descriptor text with the CID and the extent's file name replaced. */
export function normalizeDescriptor(text: string, cid: string, fileName: string): string {
  return text
    .replace(/^CID=[0-9a-fA-F]+$/m, `CID=${cid}`)
    .replace(/^(RW \d+ SPARSE )"[^"]*"$/m, (_, head: string) => `${head}"${fileName}"`);
}

/** Gives the VMDK `file` a CID derived from `seed` and `fileName` as its extent's name. */
export async function normalizeVmdkDescriptor(file: string, seed: string, fileName: string): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const header = Buffer.alloc(SECTOR);
    await handle.read(header, 0, SECTOR, 0);
    if (header.toString('latin1', 0, 4) !== 'KDMV') throw new VmdkError(`${file} is not a sparse VMDK`);
    const offset = Number(header.readBigUInt64LE(28)) * SECTOR;
    const size = Number(header.readBigUInt64LE(36)) * SECTOR;
    if (offset === 0 || size === 0) throw new VmdkError(`${file} has no embedded descriptor`);
    const block = Buffer.alloc(size);
    await handle.read(block, 0, size, offset);
    const end = block.indexOf(0);
    const text = block.toString('latin1', 0, end < 0 ? size : end);
    const cid = createHash('sha256').update(seed).digest('hex').slice(0, 8);
    const rewritten = Buffer.from(normalizeDescriptor(text, cid, fileName), 'latin1');
    if (rewritten.length >= size)
      throw new VmdkError(`the descriptor of ${file} would not fit in its ${size} bytes`);
    const replacement = Buffer.alloc(size);
    rewritten.copy(replacement);
    await handle.write(replacement, 0, size, offset);
  } finally {
    await handle.close();
  }
}
