/**
 * The tarball in Cloud Storage: a resumable upload streamed in chunks (crc32c-checked, cancellable)
 * and its removal once the image exists.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { OBJECT_DIGEST_METADATA } from './lookup.ts';
import { type GceSession, gceCall, gceError } from './session.ts';

/** Bytes sent per resumable-upload request (a multiple of 256 KiB; memory is about this much). */
const CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Streams the tarball to Cloud Storage as a resumable upload: the session is created first (an
 * authenticated call), then the file is sent in chunks to the session URI (the URI is the session's
 * credential; chunks are retried from the offset the service reports); cancel stops it.
 */
export async function uploadObject(session: GceSession, file: string, size: number): Promise<void> {
  const target = `gs://${session.options.bucket}/${session.objectName}`;
  const object = session.bucket.file(session.objectName);
  const metadata = {
    contentType: 'application/gzip',
    metadata: { [OBJECT_DIGEST_METADATA]: session.digest },
  };
  const [uri] = await gceCall(session, `storage resumable upload ${target}`, () =>
    object.createResumableUpload({ metadata }),
  );
  const writer = object.createWriteStream({
    resumable: true,
    uri,
    chunkSize: CHUNK_BYTES,
    validation: 'crc32c',
    metadata,
  });
  let reported = 0;
  writer.on('progress', (progress: { bytesWritten?: number }) => {
    const percent = Math.floor(((progress.bytesWritten ?? 0) / Math.max(size, 1)) * 100);
    if (percent >= reported + 10) {
      reported = percent;
      session.log(`uploading ${target}: ${percent}% of ${size} bytes`);
    }
  });
  try {
    await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), writer, {
      signal: session.signal,
    });
  } catch (error) {
    if (session.signal.aborted) throw session.signal.reason;
    throw gceError(session.nodePath, `storage upload ${target}`, error);
  }
  session.log(`uploaded ${target} (${size} bytes)`);
}

/** Deletes the tarball (a missing object is fine). */
export async function deleteObject(session: GceSession): Promise<void> {
  const target = `gs://${session.options.bucket}/${session.objectName}`;
  await gceCall(session, `storage objects.delete ${target}`, () =>
    session.bucket.file(session.objectName).delete({ ignoreNotFound: true }),
  );
  session.log(`deleted ${target} (if it was still there)`);
}
