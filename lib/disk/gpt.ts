/**
 * A GUID partition table written into a disk image file, for 512- and 4096-byte logical sectors.
 * Neither sgdisk 1.0.9 nor sfdisk 2.38 can give a regular file 4096-byte sectors (both ask the
 * kernel, and a file has 512), and a loop device would need privileges: so the table is encoded
 * here (protective MBR, primary and backup headers and entry arrays, CRC32s) and checked in the
 * tests with sfdisk, sgdisk and `fdisk -b 4096`.
 */
import { open } from 'node:fs/promises';
import { FcosError } from '../errors.ts';

/** One partition of a {@link GptLayout}. */
export interface GptPartition {
  /** Partition number, from 1. */
  readonly number: number;
  /** Partition name (GPT label), up to 36 UTF-16 code units. */
  readonly name: string;
  /** Partition type GUID. */
  readonly typeGuid: string;
  /** Unique partition GUID. */
  readonly guid: string;
  /** First byte; a multiple of the sector size. */
  readonly offset: number;
  /** Size in bytes; a multiple of the sector size. */
  readonly size: number;
  /**
   * Attribute bits (bit 2: legacy BIOS bootable).
   * @default 0n
   */
  readonly attributes?: bigint;
}

/** A whole partition table. */
export interface GptLayout {
  /** Logical sector size. */
  readonly sectorSize: 512 | 4096;
  /** Size of the disk in bytes; a multiple of the sector size. */
  readonly diskSize: number;
  /** Disk GUID. */
  readonly diskGuid: string;
  /** Partitions, in any order. */
  readonly partitions: readonly GptPartition[];
}

/** The layout cannot be encoded (overlap, misalignment, a partition outside the usable area). */
export class GptError extends FcosError {}

/** Number of entries of the partition entry array, as every partitioning tool writes it. */
const ENTRY_COUNT = 128;
/** Size of one partition entry. */
const ENTRY_SIZE = 128;
/** Size of the GPT header proper (the rest of its sector is zero). */
const HEADER_SIZE = 92;
/** MBR partition type of the protective partition. */
const PROTECTIVE_MBR_TYPE = 0xee;

/** The CRC32 table (IEEE 802.3, reflected), computed once. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let index = 0; index < 256; index++) {
    let value = index;
    for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
    table[index] = value >>> 0;
  }
  return table;
})();

/** CRC32 of `bytes`, as the GPT headers and entry arrays use it. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Writes a GUID in its on-disk form: the first three fields little-endian, the rest as written. */
export function encodeGuid(guid: string, target: Buffer, offset: number): void {
  const hex = guid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new GptError(`'${guid}' is not a GUID`);
  const bytes = Buffer.from(hex, 'hex');
  target.writeUInt32LE(bytes.readUInt32BE(0), offset);
  target.writeUInt16LE(bytes.readUInt16BE(4), offset + 4);
  target.writeUInt16LE(bytes.readUInt16BE(6), offset + 6);
  bytes.copy(target, offset + 8, 8, 16);
}

/** Sectors the entry array takes. */
function entryArraySectors(sectorSize: number): number {
  return Math.ceil((ENTRY_COUNT * ENTRY_SIZE) / sectorSize);
}

/** First and last usable LBA of a disk of `diskSectors` sectors. */
export function usableRange(sectorSize: 512 | 4096, diskSize: number): { first: number; last: number } {
  const diskSectors = diskSize / sectorSize;
  const arraySectors = entryArraySectors(sectorSize);
  return { first: 2 + arraySectors, last: diskSectors - 2 - arraySectors };
}

/** Throws unless every partition is aligned, inside the usable area and apart from the others. */
function checkLayout(layout: GptLayout): void {
  const { sectorSize, diskSize } = layout;
  if (diskSize % sectorSize !== 0)
    throw new GptError(`disk size ${diskSize} is not a multiple of ${sectorSize}`);
  const { first, last } = usableRange(sectorSize, diskSize);
  const sorted = [...layout.partitions].sort((a, b) => a.offset - b.offset);
  let previousEnd = first * sectorSize;
  for (const partition of sorted) {
    const where = `partition ${partition.number} (${partition.name})`;
    if (partition.offset % sectorSize !== 0 || partition.size % sectorSize !== 0 || partition.size <= 0)
      throw new GptError(`${where} is not a whole number of ${sectorSize}-byte sectors`);
    if (partition.offset < previousEnd)
      throw new GptError(`${where} overlaps the table or another partition`);
    if ((partition.offset + partition.size) / sectorSize - 1 > last)
      throw new GptError(`${where} ends past the last usable sector ${last}`);
    if (partition.number < 1 || partition.number > ENTRY_COUNT)
      throw new GptError(`${where}: numbers go from 1 to ${ENTRY_COUNT}`);
    if (partition.name.length > 36) throw new GptError(`${where}: a name has at most 36 characters`);
    previousEnd = partition.offset + partition.size;
  }
}

/** The partition entry array. */
function encodeEntries(layout: GptLayout): Buffer {
  const entries = Buffer.alloc(ENTRY_COUNT * ENTRY_SIZE);
  for (const partition of layout.partitions) {
    const at = (partition.number - 1) * ENTRY_SIZE;
    encodeGuid(partition.typeGuid, entries, at);
    encodeGuid(partition.guid, entries, at + 16);
    entries.writeBigUInt64LE(BigInt(partition.offset / layout.sectorSize), at + 32);
    entries.writeBigUInt64LE(BigInt((partition.offset + partition.size) / layout.sectorSize - 1), at + 40);
    entries.writeBigUInt64LE(partition.attributes ?? 0n, at + 48);
    entries.write(partition.name, at + 56, 72, 'utf16le');
  }
  return entries;
}

/** One GPT header (a whole sector): `current` is where it sits, `entriesLba` where its array is. */
function encodeHeader(
  layout: GptLayout,
  current: number,
  backup: number,
  entriesLba: number,
  entriesCrc: number,
): Buffer {
  const header = Buffer.alloc(layout.sectorSize);
  const { first, last } = usableRange(layout.sectorSize, layout.diskSize);
  header.write('EFI PART', 0, 'latin1');
  header.writeUInt32LE(0x00010000, 8);
  header.writeUInt32LE(HEADER_SIZE, 12);
  header.writeBigUInt64LE(BigInt(current), 24);
  header.writeBigUInt64LE(BigInt(backup), 32);
  header.writeBigUInt64LE(BigInt(first), 40);
  header.writeBigUInt64LE(BigInt(last), 48);
  encodeGuid(layout.diskGuid, header, 56);
  header.writeBigUInt64LE(BigInt(entriesLba), 72);
  header.writeUInt32LE(ENTRY_COUNT, 80);
  header.writeUInt32LE(ENTRY_SIZE, 84);
  header.writeUInt32LE(entriesCrc, 88);
  header.writeUInt32LE(crc32(header.subarray(0, HEADER_SIZE)), 16);
  return header;
}

/** The protective MBR (a whole sector; bytes 0-439 are left for boot code). */
function encodeProtectiveMbr(layout: GptLayout): Buffer {
  const mbr = Buffer.alloc(layout.sectorSize);
  const sectors = Math.min(layout.diskSize / layout.sectorSize - 1, 0xffffffff);
  const entry = 446;
  mbr.writeUInt8(0x00, entry);
  mbr.writeUInt8(0x00, entry + 1);
  mbr.writeUInt16LE(0x0002, entry + 2);
  mbr.writeUInt8(PROTECTIVE_MBR_TYPE, entry + 4);
  mbr.writeUInt8(0xff, entry + 5);
  mbr.writeUInt16LE(0xffff, entry + 6);
  mbr.writeUInt32LE(1, entry + 8);
  mbr.writeUInt32LE(sectors, entry + 12);
  mbr.writeUInt16LE(0xaa55, 510);
  return mbr;
}

/** The bytes of the table: what goes at the start of the disk and what goes at its end. */
export function encodeGpt(layout: GptLayout): {
  readonly head: Buffer;
  readonly tail: Buffer;
  readonly tailOffset: number;
} {
  checkLayout(layout);
  const { sectorSize } = layout;
  const lastLba = layout.diskSize / sectorSize - 1;
  const arraySectors = entryArraySectors(sectorSize);
  const entries = Buffer.alloc(arraySectors * sectorSize);
  encodeEntries(layout).copy(entries);
  const entriesCrc = crc32(entries.subarray(0, ENTRY_COUNT * ENTRY_SIZE));
  const primary = encodeHeader(layout, 1, lastLba, 2, entriesCrc);
  const backupEntriesLba = lastLba - arraySectors;
  const backup = encodeHeader(layout, lastLba, 1, backupEntriesLba, entriesCrc);
  return {
    head: Buffer.concat([encodeProtectiveMbr(layout), primary, entries]),
    tail: Buffer.concat([entries, backup]),
    tailOffset: backupEntriesLba * sectorSize,
  };
}

/**
 * Writes the table into `file` (which must already have the disk's size): the first sectors and
 * the last ones. MBR boot code (bytes 0-439) is left as it is, so it may be written before or after.
 */
export async function writeGpt(file: string, layout: GptLayout): Promise<void> {
  const { head, tail, tailOffset } = encodeGpt(layout);
  const handle = await open(file, 'r+');
  try {
    const { size } = await handle.stat();
    if (size !== layout.diskSize)
      throw new GptError(`${file} has ${size} bytes, the partition table is for ${layout.diskSize}`);
    const bootCode = Buffer.alloc(440);
    await handle.read(bootCode, 0, 440, 0);
    bootCode.copy(head, 0);
    await handle.write(head, 0, head.length, 0);
    await handle.write(tail, 0, tail.length, tailOffset);
  } finally {
    await handle.close();
  }
}
