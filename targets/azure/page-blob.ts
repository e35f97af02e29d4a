/**
 * The VHD as a page blob: checked to be a fixed VHD Azure takes, then only its non-zero pages
 * written, a few writes in flight (memory stays flat), and marked complete in its metadata.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { CloudUploadError } from '../../lib/cloud/errors.ts';
import { type AzureSession, azureCall } from './session.ts';

/** Blob metadata: the digest, and whether every page was written. */
export const BLOB_DIGEST_METADATA = 'fcosdigest';
/** Blob metadata: `true` once every page was written. */
export const BLOB_COMPLETE_METADATA = 'fcoscomplete';
/** Bytes of one page; page blob writes are page-aligned. */
const PAGE_BYTES = 512;
/** Largest single page write (the service's limit). */
const WRITE_BYTES = 4 * 1024 * 1024;
/** Page writes in flight (memory is about this many writes). */
const WRITES_IN_FLIGHT = 4;

/** Refuses a file that cannot be a fixed VHD (page-aligned, 1 MiB-aligned virtual size). */
export function assertFixedVhd(session: AzureSession, size: number): void {
  if (size % PAGE_BYTES !== 0 || (size - PAGE_BYTES) % (1024 * 1024) !== 0) {
    throw new CloudUploadError(
      'azure',
      'VHD check',
      `${size} bytes is not a fixed VHD Azure takes (a 1 MiB-aligned disk plus a 512-byte footer)`,
      session.nodePath,
    );
  }
}

/** Creates the page blob and writes its non-zero pages, a few writes at a time, then marks it complete. */
export async function uploadPageBlob(session: AzureSession, file: string, size: number): Promise<void> {
  const abortSignal = session.signal;
  const metadata = { [BLOB_DIGEST_METADATA]: session.digest };
  await azureCall(session, 'blob.createContainer', () =>
    session.container.createIfNotExists({ abortSignal }),
  );
  await azureCall(session, 'blob.create', () => session.blob.create(size, { metadata, abortSignal }));
  const handle = await open(file, 'r');
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let written = 0;
  let reported = 0;
  try {
    for (let offset = 0; offset < size; offset += WRITE_BYTES) {
      const length = Math.min(WRITE_BYTES, size - offset);
      const chunk = Buffer.allocUnsafe(length);
      await readFully(handle, chunk, offset);
      for (const [start, end] of nonZeroRuns(chunk)) {
        const write = azureCall(session, 'blob.uploadPages', () =>
          session.blob.uploadPages(chunk.subarray(start, end), offset + start, end - start, { abortSignal }),
        ).then(
          () => {
            written += end - start;
          },
          (error: unknown) => {
            failure ??= error;
          },
        );
        const tracked = write.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        while (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
        if (failure) throw failure;
      }
      const percent = Math.floor(((offset + length) / size) * 100);
      if (percent >= reported + 10 || percent === 100) {
        reported = percent;
        session.log(
          `uploading ${session.blob.name}: ${percent}% read, ${written} bytes of non-zero pages written`,
        );
      }
    }
    await Promise.all(inFlight);
    if (failure) throw failure;
  } finally {
    await Promise.allSettled(inFlight);
    await handle.close();
  }
  await azureCall(session, 'blob.setMetadata', () =>
    session.blob.setMetadata({ ...metadata, [BLOB_COMPLETE_METADATA]: 'true' }, { abortSignal }),
  );
  session.log(`uploaded ${session.blob.url}: ${size} bytes, ${written} of them in non-zero pages`);
}

/** Reads `buffer.length` bytes at `position`. */
async function readFully(handle: FileHandle, buffer: Buffer, position: number) {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

/** All-zero page, to compare pages against. */
const ZERO_PAGE = Buffer.alloc(PAGE_BYTES);

/** The [start, end) byte ranges of `chunk` made of pages that are not all zero. */
function nonZeroRuns(chunk: Buffer): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let runStart = -1;
  for (let page = 0; page < chunk.length; page += PAGE_BYTES) {
    const zero = chunk.subarray(page, page + PAGE_BYTES).equals(ZERO_PAGE);
    if (!zero && runStart < 0) runStart = page;
    if (zero && runStart >= 0) {
      runs.push([runStart, page]);
      runStart = -1;
    }
  }
  if (runStart >= 0) runs.push([runStart, chunk.length]);
  return runs;
}
