/**
 * The embed area of a live ISO: the file `/coreos/igninfo.json` names (`{"file":
 * "images/ignition.img"}`), zeros in a pristine ISO, which the bootloader loads as the last
 * initrd. Its extent in the image is where a config is written; nothing else of the ISO changes.
 */
import { open, stat } from 'node:fs/promises';
import type { ToolExec } from '../exec.ts';
import { NotALiveIsoError } from './errors.ts';
import { defaultIsoExec, type FileExtent, readFileExtents } from './file-extents.ts';

/** Where a live ISO says its embed area is. */
export const IGNINFO_PATH = '/coreos/igninfo.json';
/** igninfo.json is a line of JSON: anything much larger is not one. */
const IGNINFO_MAX_BYTES = 64 * 1024;

/** Reads `length` bytes of `file` at `offset` (fewer only when the file ends first). */
export async function readBytes(file: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const bytes = Buffer.alloc(length);
    const { bytesRead } = await handle.read(bytes, 0, length, offset);
    return bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The path igninfo.json's `file` names, made absolute. */
function embedAreaPath(iso: string, igninfo: Buffer): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(igninfo.toString('utf8'));
  } catch (error) {
    throw new NotALiveIsoError(iso, `${IGNINFO_PATH} is not JSON (${(error as Error).message})`);
  }
  const file = (parsed as { file?: unknown } | null)?.file;
  if (typeof file !== 'string' || file === '')
    throw new NotALiveIsoError(iso, `${IGNINFO_PATH} does not name the embed area in "file"`);
  return `/${file.replace(/^\/+/, '')}`;
}

/**
 * The extent of `iso`'s embed area. Refuses (NotALiveIsoError) a file that is not an ISO, an ISO
 * without igninfo.json, and one whose igninfo.json names no file of the ISO or an empty one.
 */
export async function locateEmbedArea(iso: string, exec: ToolExec = defaultIsoExec): Promise<FileExtent> {
  const extents = await readFileExtents(iso, exec);
  const igninfoExtent = extents.get(IGNINFO_PATH);
  if (igninfoExtent === undefined)
    throw new NotALiveIsoError(iso, `not a live ISO: it has no ${IGNINFO_PATH}`);
  if (igninfoExtent.length > IGNINFO_MAX_BYTES)
    throw new NotALiveIsoError(
      iso,
      `${IGNINFO_PATH} is ${igninfoExtent.length} bytes, not a small JSON file`,
    );
  // Read through its extent: the same bytes xorriso -extract would copy out, without a temp dir.
  const igninfo = await readBytes(iso, igninfoExtent.offset, igninfoExtent.length);
  const areaPath = embedAreaPath(iso, igninfo);
  const area = extents.get(areaPath);
  if (area === undefined)
    throw new NotALiveIsoError(iso, `${IGNINFO_PATH} names ${areaPath}, which is not a file of the ISO`);
  if (area.length === 0) throw new NotALiveIsoError(iso, `the embed area ${areaPath} is empty`);
  const isoSize = (await stat(iso)).size;
  if (area.offset + area.length > isoSize)
    throw new NotALiveIsoError(
      iso,
      `the embed area ${areaPath} ends past the end of the file (truncated ISO?)`,
    );
  return area;
}
