/**
 * Where an ISO 9660 image keeps its files' data: each file's byte offset and length in the image,
 * as xorriso reports them (`-find / -type f -exec report_lba --`). xorriso reads the ISO's own
 * directory records (Rock Ridge names when the image has them), so a live ISO made by any
 * mkisofs-compatible tool is read as its bootloader reads it.
 */
import { open } from 'node:fs/promises';
import { findOnPath, runTool, type ToolExec } from '../exec.ts';
import { MissingIsoToolError, NotALiveIsoError } from './errors.ts';

/** The size of an ISO 9660 logical block: report_lba counts in these. */
export const ISO_BLOCK_BYTES = 2048;
/** Byte offset of the first volume descriptor (after the 32 KiB system area). */
const VOLUME_DESCRIPTOR_OFFSET = 16 * ISO_BLOCK_BYTES;

/** Where one file's data lies in an ISO image. */
export interface FileExtent {
  /** Path in the ISO, absolute (`/images/ignition.img`). */
  readonly path: string;
  /** Byte offset of the data from the start of the image file. */
  readonly offset: number;
  /** Bytes of data (the file's size). */
  readonly length: number;
}

/** The default way the ISO commands run a tool: directly, without a node's log. */
export const defaultIsoExec: ToolExec = (file, args, options) => runTool(file, args, options);

/**
 * Refuses `iso` unless it starts like an ISO 9660 image: a volume descriptor with the `CD001`
 * identifier at byte 32768 (a hybrid ISO's MBR and partition table come before it).
 */
export async function assertIsoImage(iso: string): Promise<void> {
  const handle = await open(iso, 'r');
  try {
    const descriptor = Buffer.alloc(6);
    const { bytesRead } = await handle.read(descriptor, 0, descriptor.length, VOLUME_DESCRIPTOR_OFFSET);
    if (bytesRead < descriptor.length || descriptor.toString('latin1', 1, 6) !== 'CD001')
      throw new NotALiveIsoError(iso, 'not an ISO 9660 image (no volume descriptor at byte 32768)');
  } finally {
    await handle.close();
  }
}

/** Undoes xorriso's shell quoting of a path: `'a'"'"'b'` is `a'b`. */
function unquoteShellSafe(text: string): string {
  let result = '';
  for (const match of text.matchAll(/'([^']*)'|"([^"]*)"|\\(.)|([^'"\\]+)/g))
    result += match[1] ?? match[2] ?? match[3] ?? match[4] ?? '';
  return result;
}

/** One line of report_lba: `File data lba: XT , START , BLOCKS , SIZE , 'PATH'`. */
const REPORT_LINE = /^File data lba:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(.+)$/;

/**
 * Every regular file of `iso` and its extent, by absolute path. A file stored in several extents
 * (only files over 4 GiB are) is left out: nothing the ISO commands write is that large, and its
 * data is not one range of bytes.
 */
export async function readFileExtents(
  iso: string,
  exec: ToolExec = defaultIsoExec,
): Promise<Map<string, FileExtent>> {
  if (findOnPath('xorriso') === undefined) throw new MissingIsoToolError('xorriso', 'xorriso');
  await assertIsoImage(iso);
  // -indev opens the image read-only; report lines go to stdout, xorriso's chatter to stderr.
  const { stdout } = await exec('xorriso', [
    '-indev',
    iso,
    '-find',
    '/',
    '-type',
    'f',
    '-exec',
    'report_lba',
    '--',
  ]);
  const extents = new Map<string, FileExtent>();
  const multipleExtents = new Set<string>();
  for (const line of stdout.split('\n')) {
    const match = REPORT_LINE.exec(line.trim());
    if (!match) continue;
    const extentIndex = Number(match[1]);
    const path = unquoteShellSafe(match[5]!);
    if (extentIndex > 0 || extents.has(path)) multipleExtents.add(path);
    extents.set(path, { path, offset: Number(match[2]) * ISO_BLOCK_BYTES, length: Number(match[4]) });
  }
  for (const path of multipleExtents) extents.delete(path);
  return extents;
}

/** Where `isoPath`'s data lies in `iso`, or undefined when the ISO has no such regular file. */
export async function findFileExtent(
  iso: string,
  isoPath: string,
  exec: ToolExec = defaultIsoExec,
): Promise<FileExtent | undefined> {
  return (await readFileExtents(iso, exec)).get(isoPath.startsWith('/') ? isoPath : `/${isoPath}`);
}
