/**
 * An S3 bucket (or a prefix of one) as a publish destination, through the AWS SDK (the one the
 * AWS uploader uses; any S3-compatible store with `endpoint`). Each object carries its sha256 as
 * object metadata (`x-amz-meta-sha256`), so a HeadObject tells whether it is already there
 * without downloading it. Files go up through lib-storage's Upload (multipart for large images,
 * the object appearing only once complete); credentials come from the SDK's default chain. The SDK
 * is loaded on first use, so synthesis and cache hits never load it.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { awsError } from '../../../targets/aws/session.ts';
import type { ObjectContent, PublishDestination, StoredObject } from './destination.ts';

/** The object metadata key holding an object's sha256 (sent as `x-amz-meta-sha256`). */
export const SHA256_METADATA = 'sha256';
/** Attempts of each call (the SDK's standard retry mode: throttling and 5xx, with backoff). */
const CALL_ATTEMPTS = 8;
/** Part size of multipart uploads (S3's minimum is 5 MiB). */
const PART_BYTES = 16 * 1024 * 1024;

/** Where in S3 a release is published. */
export interface S3Location {
  /** The bucket. */
  readonly bucket: string;
  /** Key prefix: empty, or ending with `/`. */
  readonly prefix: string;
  /** The bucket's region. */
  readonly region: string;
  /**
   * An S3-compatible endpoint (MinIO, Ceph, a test server).
   * @default AWS
   */
  readonly endpoint?: string | undefined;
  /** Address the bucket in the path (`endpoint/bucket/key`) rather than the host name. */
  readonly forcePathStyle: boolean;
}

/** The S3 SDK modules, loaded on first use. */
async function loadS3Sdk() {
  const [s3, storage] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]);
  return { s3, storage };
}

/** A bucket prefix as a destination. */
export class S3Destination implements PublishDestination {
  readonly description: string;
  private sdk: Awaited<ReturnType<typeof loadS3Sdk>> | undefined;
  private client: S3Client | undefined;

  constructor(
    private readonly location: S3Location,
    private readonly nodePath: string,
    private readonly signal: AbortSignal,
  ) {
    this.description = `s3://${location.bucket}/${location.prefix}`;
  }

  /** The SDK and the client (made on first use). */
  private async open(): Promise<{ sdk: Awaited<ReturnType<typeof loadS3Sdk>>; client: S3Client }> {
    this.sdk ??= await loadS3Sdk();
    this.client ??= new this.sdk.s3.S3Client({
      region: this.location.region,
      maxAttempts: CALL_ATTEMPTS,
      retryMode: 'standard',
      forcePathStyle: this.location.forcePathStyle,
      ...(this.location.endpoint === undefined ? {} : { endpoint: this.location.endpoint }),
    });
    return { sdk: this.sdk, client: this.client };
  }

  /** The object key of destination key `key`. */
  private objectKey(key: string): string {
    return `${this.location.prefix}${key}`;
  }

  /** Runs one S3 call, turning its failure into a typed error naming the call. */
  private async call<T>(call: string, key: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      if (this.signal.aborted) throw this.signal.reason;
      throw awsError(
        this.nodePath,
        `${call} s3://${this.location.bucket}/${this.objectKey(key)} (${this.location.region})`,
        error,
      );
    }
  }

  /** `call`, with `missing` as the result when S3 answers 404. */
  private callUnlessMissing<T, M>(
    call: string,
    key: string,
    send: () => Promise<T>,
    missing: M,
  ): Promise<T | M> {
    return this.call(call, key, async () => {
      try {
        return await send();
      } catch (error) {
        if (isNotFound(error)) return missing;
        throw error;
      }
    });
  }

  /** HeadObject: the recorded sha256 and the size; undefined on 404. */
  async stat(key: string): Promise<StoredObject | undefined> {
    const { sdk, client } = await this.open();
    return this.callUnlessMissing(
      'HeadObject',
      key,
      async () => {
        const head = await client.send(
          new sdk.s3.HeadObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }),
          { abortSignal: this.signal },
        );
        return { sha256: head.Metadata?.[SHA256_METADATA], size: head.ContentLength ?? 0 };
      },
      undefined,
    );
  }

  /** GetObject into memory; undefined on 404. */
  async read(key: string): Promise<Buffer | undefined> {
    const { sdk, client } = await this.open();
    return this.callUnlessMissing(
      'GetObject',
      key,
      async () => {
        const object = await client.send(
          new sdk.s3.GetObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }),
          { abortSignal: this.signal },
        );
        return Buffer.from((await object.Body?.transformToByteArray()) ?? new Uint8Array());
      },
      undefined,
    );
  }

  /** GetObject streamed to `file`; false on 404. */
  async download(key: string, file: string): Promise<boolean> {
    const { sdk, client } = await this.open();
    return this.callUnlessMissing(
      'GetObject',
      key,
      async () => {
        const object = await client.send(
          new sdk.s3.GetObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }),
          { abortSignal: this.signal },
        );
        if (!(object.Body instanceof Readable)) throw new Error('GetObject gave no body stream');
        await pipeline(object.Body, createWriteStream(file));
        return true;
      },
      false,
    );
  }

  /** PutObject (documents) or a lib-storage Upload (files, multipart when large), with the sha256 as metadata. */
  async write(key: string, content: ObjectContent, sha256: string): Promise<void> {
    const { sdk, client } = await this.open();
    const params = {
      Bucket: this.location.bucket,
      Key: this.objectKey(key),
      Metadata: { [SHA256_METADATA]: sha256 },
      ContentType: contentTypeOf(key),
    };
    if (!('file' in content)) {
      await this.call('PutObject', key, () =>
        client.send(new sdk.s3.PutObjectCommand({ ...params, Body: content.bytes }), {
          abortSignal: this.signal,
        }),
      );
      return;
    }
    const upload = new sdk.storage.Upload({
      client,
      params: {
        ...params,
        Body: createReadStream(content.file, { highWaterMark: 1024 * 1024 }),
        ContentLength: content.size,
      },
      partSize: Math.max(PART_BYTES, Math.ceil(content.size / 9_000)),
      queueSize: 4,
      leavePartsOnError: false,
    });
    // Ctrl-C: lib-storage stops and aborts the multipart upload (no parts left to bill).
    const onAbort = () => void upload.abort();
    this.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.call('PutObject', key, () => upload.done());
    } finally {
      this.signal.removeEventListener('abort', onAbort);
    }
  }

  /** ListObjectsV2 of every key below `prefix`, page by page. */
  async list(prefix: string): Promise<Set<string>> {
    const { sdk, client } = await this.open();
    const keys = new Set<string>();
    let token: string | undefined;
    do {
      const page = await this.call('ListObjectsV2', prefix, () =>
        client.send(
          new sdk.s3.ListObjectsV2Command({
            Bucket: this.location.bucket,
            Prefix: this.objectKey(prefix),
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
          { abortSignal: this.signal },
        ),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key) keys.add(object.Key.slice(this.location.prefix.length));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys;
  }

  /** Remote: no local path. */
  localPath(): undefined {
    return undefined;
  }
}

/** Whether an SDK error is a 404 (NotFound, NoSuchKey). */
function isNotFound(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  const name = error instanceof Error ? error.name : '';
  return status === 404 || name === 'NotFound' || name === 'NoSuchKey';
}

/** The Content-Type a web client expects for a published key. */
export function contentTypeOf(key: string): string {
  const extension = path.extname(key);
  if (extension === '.json') return 'application/json';
  if (extension === '.asc') return 'application/pgp-keys';
  if (extension === '.sig') return 'application/pgp-signature';
  return 'application/octet-stream';
}
