/**
 * The newc ("new ASCII", `070701`) cpio format, the one the kernel unpacks an initramfs from:
 * a 110-byte header of hex fields, the NUL-terminated name and the data, each padded to 4 bytes,
 * ended by an entry named `TRAILER!!!`. Written here rather than by GNU cpio because an embedded
 * config is one small file and every field must be fixed (owner 0:0, mtime 0) for reproducible
 * bytes; the tests check the result with GNU cpio.
 */

/** The magic of a newc header without checksums (`070702` has them: read, never written). */
const NEWC_MAGIC = '070701';
const NEWC_CRC_MAGIC = '070702';
/** Size of the fixed header: the magic and 13 fields of 8 hex digits. */
const HEADER_BYTES = 6 + 13 * 8;
/** The name of the entry that ends an archive. */
const TRAILER_NAME = 'TRAILER!!!';
/** `S_IFREG`: the file-type bits of a regular file. */
const REGULAR_FILE_TYPE = 0o100000;
/** `S_IFMT`: the mask of the file-type bits. */
const FILE_TYPE_MASK = 0o170000;

/** One regular file of an archive. */
export interface CpioFile {
  /** Path inside the archive, relative (`config.ign`). */
  readonly name: string;
  /** Permission bits (0644). */
  readonly mode: number;
  /** Content. */
  readonly data: Uint8Array;
}

/** Rounds `length` up to a multiple of 4, newc's alignment. */
function aligned(length: number): number {
  return (length + 3) & ~3;
}

/** One newc header followed by the padded name (the fields not given are 0). */
function header(fields: {
  ino: number;
  mode: number;
  nlink: number;
  fileSize: number;
  name: string;
}): Buffer {
  const name = Buffer.from(`${fields.name}\0`, 'utf8');
  // The 13 fields in header order; uid, gid, mtime and the device numbers are 0 for reproducibility.
  const values = [
    fields.ino, // c_ino
    fields.mode, // c_mode
    0, // c_uid
    0, // c_gid
    fields.nlink, // c_nlink
    0, // c_mtime
    fields.fileSize, // c_filesize
    0, // c_devmajor
    0, // c_devminor
    0, // c_rdevmajor
    0, // c_rdevminor
    name.length, // c_namesize, counting the NUL
    0, // c_check (newc without checksums)
  ];
  const text = NEWC_MAGIC + values.map((value) => value.toString(16).padStart(8, '0')).join('');
  const block = Buffer.alloc(aligned(HEADER_BYTES + name.length));
  block.write(text, 0, 'latin1');
  name.copy(block, HEADER_BYTES);
  return block;
}

/**
 * A newc archive of `files`, in the order given: regular files owned by 0:0 with mtime 0, inode
 * numbers from 1, then the trailer. The same files always give the same bytes.
 */
export function writeNewcArchive(files: readonly CpioFile[]): Buffer {
  const parts: Buffer[] = [];
  files.forEach((file, index) => {
    parts.push(
      header({
        ino: index + 1,
        mode: REGULAR_FILE_TYPE | (file.mode & 0o7777),
        nlink: 1,
        fileSize: file.data.length,
        name: file.name,
      }),
    );
    const data = Buffer.alloc(aligned(file.data.length));
    data.set(file.data);
    parts.push(data);
  });
  parts.push(header({ ino: 0, mode: 0, nlink: 1, fileSize: 0, name: TRAILER_NAME }));
  return Buffer.concat(parts);
}

/** A newc archive that cannot be read: where, and why. */
export class NewcFormatError extends Error {}

/** Reads one hex field of the header at `offset`. */
function hexField(archive: Uint8Array, offset: number, field: number): number {
  const start = offset + 6 + field * 8;
  const text = Buffer.from(archive.subarray(start, start + 8)).toString('latin1');
  if (!/^[0-9a-fA-F]{8}$/.test(text))
    throw new NewcFormatError(`bad header field at byte ${start}: '${text}'`);
  return Number.parseInt(text, 16);
}

/**
 * The regular files of the newc archive at the start of `archive`, up to its trailer (what
 * follows it is ignored, as the kernel ignores it). Directories and other entries are skipped;
 * a leading `./` or `/` is dropped from names. Throws {@link NewcFormatError} on a truncated or
 * malformed archive.
 */
export function readNewcArchive(archive: Uint8Array): CpioFile[] {
  const files: CpioFile[] = [];
  let offset = 0;
  for (;;) {
    if (offset + HEADER_BYTES > archive.length)
      throw new NewcFormatError(`archive ends at byte ${archive.length} before its trailer`);
    const magic = Buffer.from(archive.subarray(offset, offset + 6)).toString('latin1');
    if (magic !== NEWC_MAGIC && magic !== NEWC_CRC_MAGIC)
      throw new NewcFormatError(`no newc header at byte ${offset} (found '${magic}')`);
    const mode = hexField(archive, offset, 1);
    const fileSize = hexField(archive, offset, 6);
    const nameSize = hexField(archive, offset, 11);
    const nameStart = offset + HEADER_BYTES;
    const dataStart = aligned(nameStart + nameSize);
    const dataEnd = dataStart + fileSize;
    if (nameSize === 0 || dataEnd > archive.length)
      throw new NewcFormatError(`entry at byte ${offset} runs past the end of the archive`);
    // The name's size counts its terminating NUL.
    const name = Buffer.from(archive.subarray(nameStart, nameStart + nameSize - 1)).toString('utf8');
    if (name === TRAILER_NAME) return files;
    if ((mode & FILE_TYPE_MASK) === REGULAR_FILE_TYPE) {
      files.push({
        name: name.replace(/^(?:\.\/|\/)+/, ''),
        mode: mode & 0o7777,
        data: archive.slice(dataStart, dataEnd),
      });
    }
    offset = aligned(dataEnd);
  }
}
