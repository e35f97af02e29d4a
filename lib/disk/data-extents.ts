/**
 * The data extents of a disk image: the ranges that are not all zeros, found by reading the bytes
 * (not the file's allocation, which depends on how the file was copied), in fixed-size chunks.
 * The live ISO carries a metal image as these extents' bytes, one after another, plus their list
 * (coreos/metal.json): coreos-installer zeroes the image's range on the target and writes only the
 * data, where decompressing a whole image under emulation takes minutes (the role coreos-installer's
 * osmet files play in Fedora CoreOS's ISO).
 */
import { open } from 'node:fs/promises';
import { FcosError } from '../errors.ts';

/** A file ended before the bytes it must hold (an image changed while read, a damaged data file). */
export class DataExtentsError extends FcosError {}

/** Chunk size of the scan: extents start and end on multiples of it (the image's end excepted). */
export const EXTENT_CHUNK_BYTES = 64 * 1024;

/** One data range of the image: `[offset, length]` in bytes. */
export type DataExtent = readonly [offset: number, length: number];

/** What {@link packDataExtents} wrote. */
export interface PackedExtents {
  /** The image's size in bytes. */
  readonly size: number;
  /** Its data ranges, in order, merged where adjacent. */
  readonly extents: readonly DataExtent[];
  /** Bytes written to the data file (the sum of the lengths). */
  readonly dataBytes: number;
}

/** A chunk of zeros to compare with (memcmp, not a byte loop in JavaScript). */
const ZERO_CHUNK = Buffer.alloc(EXTENT_CHUNK_BYTES);

/** Whether `buffer[0, length)` is all zeros. */
function isZero(buffer: Buffer, length: number): boolean {
  return buffer.compare(ZERO_CHUNK, 0, length, 0, length) === 0;
}

/** Scans `image` and writes the bytes of its non-zero chunks, in order, to `output`. */
export async function packDataExtents(image: string, output: string): Promise<PackedExtents> {
  const source = await open(image, 'r');
  const target = await open(output, 'w');
  try {
    const size = (await source.stat()).size;
    const buffer = Buffer.alloc(EXTENT_CHUNK_BYTES);
    const extents: Array<[number, number]> = [];
    let dataBytes = 0;
    for (let offset = 0; offset < size; offset += EXTENT_CHUNK_BYTES) {
      const length = Math.min(EXTENT_CHUNK_BYTES, size - offset);
      const { bytesRead } = await source.read(buffer, 0, length, offset);
      if (bytesRead !== length)
        throw new DataExtentsError(`${image} ended at ${offset} while being read (changed while read?)`);
      if (isZero(buffer, length)) continue;
      await target.write(buffer, 0, length);
      dataBytes += length;
      const last = extents[extents.length - 1];
      if (last && last[0] + last[1] === offset) last[1] += length;
      else extents.push([offset, length]);
    }
    return { size, extents, dataBytes };
  } finally {
    await source.close();
    await target.close();
  }
}

/** Writes the image `extents` describe back to `output`: a sparse file of `size` bytes holding `data`'s bytes at their offsets. */
export async function unpackDataExtents(
  data: string,
  extents: readonly DataExtent[],
  size: number,
  output: string,
): Promise<void> {
  const source = await open(data, 'r');
  const target = await open(output, 'w');
  try {
    await target.truncate(size);
    const buffer = Buffer.alloc(EXTENT_CHUNK_BYTES);
    let position = 0;
    for (const [offset, length] of extents) {
      for (let done = 0; done < length; done += EXTENT_CHUNK_BYTES) {
        const count = Math.min(EXTENT_CHUNK_BYTES, length - done);
        const { bytesRead } = await source.read(buffer, 0, count, position);
        if (bytesRead !== count) throw new DataExtentsError(`${data} ends before its extents do`);
        await target.write(buffer, 0, count, offset + done);
        position += count;
      }
    }
  } finally {
    await source.close();
    await target.close();
  }
}
