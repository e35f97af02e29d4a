/**
 * Staging the vmdk in S3 for the import: a multipart upload streamed from the (decompressed)
 * image, reused when an object with the digest is there, aborted on cancel, stale parts of a killed
 * run aborted first; and the staged object's removal once the AMI exists.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { describeCloudError } from '../../lib/cloud/errors.ts';
import type { CloudUploadContext } from '../../lib/cloud/uploader.ts';
import { uncompressed } from '../../lib/tools/compress.ts';
import type { AwsOptions } from './index.ts';
import { type AwsSession, awsCall, awsError, s3Of } from './session.ts';

/** S3 object metadata key holding the digest. */
export const OBJECT_DIGEST_METADATA = 'fcos-digest';
/** Parts in flight during the S3 upload (memory is about this many parts). */
export const UPLOAD_QUEUE_SIZE = 4;
/** Smallest S3 part; larger images get larger parts to stay within 10,000 parts. */
export const MIN_PART_BYTES = 8 * 1024 * 1024;

/** The S3 key the vmdk is staged under. */
export function objectKey(session: AwsSession): string {
  return `${session.options.prefix}${session.name}.vmdk`;
}

/** Streams the vmdk to S3 (multipart, aborted on cancel), unless an object with this digest is there. */
export async function stageObject(
  session: AwsSession,
  context: CloudUploadContext<AwsOptions>,
): Promise<void> {
  const { HeadObjectCommand } = session.sdk.s3;
  const { bucket, region } = session.options;
  const key = objectKey(session);
  const file = await uncompressed(context.exec, context.imagePath, context.workDir, `${session.name}.vmdk`);
  const { size } = await stat(file);
  const existing = await s3Of(session)
    .send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: session.signal })
    .catch((error: unknown) => {
      const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
      if (status === 404) return undefined;
      if (session.signal.aborted) throw session.signal.reason;
      throw awsError(session.nodePath, `HeadObject s3://${bucket}/${key} (${region})`, error);
    });
  if (existing?.Metadata?.[OBJECT_DIGEST_METADATA] === session.digest && existing.ContentLength === size) {
    context.log(`reusing staged object s3://${bucket}/${key}`);
    return;
  }
  await abortStaleMultipartUploads(session, key);
  const partSize = Math.max(MIN_PART_BYTES, Math.ceil(size / 9_000));
  const upload = new session.sdk.storage.Upload({
    client: s3Of(session),
    params: {
      Bucket: bucket,
      Key: key,
      Body: createReadStream(file, { highWaterMark: 1024 * 1024 }),
      ContentLength: size,
      Metadata: { [OBJECT_DIGEST_METADATA]: session.digest },
    },
    partSize,
    queueSize: UPLOAD_QUEUE_SIZE,
    leavePartsOnError: false,
  });
  let reported = 0;
  upload.on('httpUploadProgress', (progress) => {
    const percent = Math.floor(((progress.loaded ?? 0) / Math.max(size, 1)) * 100);
    if (percent >= reported + 10 || percent === 100) {
      reported = percent;
      context.log(`uploading s3://${bucket}/${key}: ${percent}% of ${size} bytes`);
    }
  });
  // Ctrl-C: lib-storage stops sending parts and aborts the multipart upload (no parts left to bill).
  const onAbort = () => void upload.abort();
  session.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await awsCall(session, `PutObject s3://${bucket}/${key}`, region, () => upload.done());
  } finally {
    session.signal.removeEventListener('abort', onAbort);
  }
  context.log(`uploaded s3://${bucket}/${key} (${size} bytes, ${partSize}-byte parts)`);
}

/**
 * Aborts the multipart uploads of `key` a killed run left behind (their parts are billed until
 * aborted). Best effort: a store that cannot list them (or a caller not allowed to) is only logged.
 */
export async function abortStaleMultipartUploads(session: AwsSession, key: string): Promise<void> {
  const { ListMultipartUploadsCommand, AbortMultipartUploadCommand } = session.sdk.s3;
  const { bucket } = session.options;
  try {
    const listed = await s3Of(session).send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }),
      {
        abortSignal: session.signal,
      },
    );
    for (const upload of listed.Uploads ?? []) {
      if (upload.Key !== key || !upload.UploadId) continue;
      await s3Of(session).send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }),
        { abortSignal: session.signal },
      );
      session.log(
        `aborted multipart upload ${upload.UploadId} of s3://${bucket}/${key} left by an earlier run`,
      );
    }
  } catch (error) {
    if (session.signal.aborted) throw session.signal.reason;
    session.log(`could not look for multipart uploads left by earlier runs: ${describeCloudError(error)}`);
  }
}

/** Deletes the staged vmdk (S3 deletes of a missing key succeed). */
export async function deleteStagedObject(session: AwsSession): Promise<void> {
  const { DeleteObjectCommand } = session.sdk.s3;
  const { bucket, region } = session.options;
  const key = objectKey(session);
  await awsCall(session, `DeleteObject s3://${bucket}/${key}`, region, () =>
    s3Of(session).send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: session.signal,
    }),
  );
  session.log(`deleted the staged object s3://${bucket}/${key} (if it was still there)`);
}
