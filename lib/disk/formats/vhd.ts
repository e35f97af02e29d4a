/**
 * The fixed VHD footer (the last 512 bytes, big-endian): qemu-img writes its creation time, a
 * random UUID and a checksum over them, so two conversions of the same disk differ. Here they are
 * made fixed: the time from the image's timestamp, the UUID from a seed, the checksum recomputed.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { FcosError } from '../../errors.ts';

/** Size of the footer. */
const FOOTER_SIZE = 512;
/** Seconds from the Unix epoch to the VHD epoch (2000-01-01T00:00:00Z). */
const VHD_EPOCH = 946_684_800;
/** Field offsets in the footer. */
const FIELD = { cookie: 0, timestamp: 24, checksum: 64, uuid: 68, uuidEnd: 84 } as const;

/** The file is not a VHD. */
export class VhdError extends FcosError {}

/** The footer checksum: the ones' complement of the sum of its bytes, the checksum field taken as 0. */
export function footerChecksum(footer: Buffer): number {
  let sum = 0;
  for (let index = 0; index < FOOTER_SIZE; index++) {
    if (index >= FIELD.checksum && index < FIELD.checksum + 4) continue;
    sum += footer[index]!;
  }
  return ~sum >>> 0;
}

/** A version-4-shaped UUID derived from `seed` (16 bytes). */
function uuidFrom(seed: string): Buffer {
  const bytes = createHash('sha256').update(seed).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return bytes;
}

/** Rewrites the footer of the VHD `file` with time `timestamp` (Unix seconds) and a UUID from `seed`. */
export async function normalizeVhdFooter(file: string, timestamp: number, seed: string): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const { size } = await handle.stat();
    const footer = Buffer.alloc(FOOTER_SIZE);
    await handle.read(footer, 0, FOOTER_SIZE, size - FOOTER_SIZE);
    if (footer.toString('latin1', FIELD.cookie, FIELD.cookie + 8) !== 'conectix')
      throw new VhdError(`${file} has no VHD footer`);
    footer.writeUInt32BE(Math.max(0, timestamp - VHD_EPOCH), FIELD.timestamp);
    uuidFrom(seed).copy(footer, FIELD.uuid);
    footer.writeUInt32BE(footerChecksum(footer), FIELD.checksum);
    await handle.write(footer, 0, FOOTER_SIZE, size - FOOTER_SIZE);
  } finally {
    await handle.close();
  }
}
