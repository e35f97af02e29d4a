/**
 * A remote cache in an S3 bucket (or any S3-compatible store), through the AWS SDK that the
 * uploads and the publish destination already use: entries are objects `<prefix>cas/<sha256>` and
 * `<prefix>ac/<key>`, the layout of the HTTP protocol, so one bucket can serve both. Credentials,
 * region and endpoint come from the SDK's own chain (`AWS_ACCESS_KEY_ID`…, `AWS_PROFILE`, web
 * identity; `AWS_REGION`; `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` for MinIO, Ceph or a test
 * server, addressed path-style). The SDK is loaded on first use: a run without a remote never
 * loads it.
 */
import { createReadStream } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { type RemoteBody, type RemoteCache, RemoteCacheError, type RemoteNamespace } from './remote-cache.ts';

/** Attempts of each call (the SDK's standard retry mode: throttling, 5xx, connection errors). */
const CALL_ATTEMPTS = 3;
/** Part size of multipart uploads (S3's minimum is 5 MiB). */
const PART_BYTES = 16 * 1024 * 1024;
/** System error codes meaning the endpoint could not be reached. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

/** The S3 SDK modules, loaded on first use. */
async function loadS3Sdk() {
  const [s3, storage] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]);
  return { s3, storage };
}

/** A remote cache under `s3://bucket/prefix`. */
export class S3RemoteCache implements RemoteCache {
  readonly description: string;
  /** Key prefix: empty, or ending with `/`. */
  private readonly prefix: string;
  private sdk: Awaited<ReturnType<typeof loadS3Sdk>> | undefined;
  private client: S3Client | undefined;

  constructor(
    private readonly bucket: string,
    prefix: string,
    private readonly environment: NodeJS.ProcessEnv = process.env,
  ) {
    const trimmed = prefix.replace(/^\/+|\/+$/g, '');
    this.prefix = trimmed === '' ? '' : `${trimmed}/`;
    this.description = `s3://${bucket}/${this.prefix}`;
  }

  /** HeadObject of an action entry that cannot exist: a 404 means the bucket answers. */
  async probe(signal?: AbortSignal): Promise<void> {
    await this.has('ac', '0'.repeat(64), signal);
  }

  /** HeadObject: false on 404. */
  async has(namespace: RemoteNamespace, name: string, signal?: AbortSignal): Promise<boolean> {
    const { sdk, client } = await this.open();
    return this.call(
      'HeadObject',
      namespace,
      name,
      signal,
      async () => {
        await client.send(
          new sdk.s3.HeadObjectCommand({ Bucket: this.bucket, Key: this.key(namespace, name) }),
          {
            ...(signal ? { abortSignal: signal } : {}),
          },
        );
        return true;
      },
      false,
    );
  }

  /** GetObject as a stream; undefined on 404. */
  async get(namespace: RemoteNamespace, name: string, signal?: AbortSignal): Promise<RemoteBody | undefined> {
    const { sdk, client } = await this.open();
    return this.call(
      'GetObject',
      namespace,
      name,
      signal,
      async () => {
        const object = await client.send(
          new sdk.s3.GetObjectCommand({ Bucket: this.bucket, Key: this.key(namespace, name) }),
          { ...(signal ? { abortSignal: signal } : {}) },
        );
        const body = object.Body as AsyncIterable<Uint8Array> | undefined;
        if (!body) throw new Error('GetObject gave no body');
        return { stream: body, size: object.ContentLength };
      },
      undefined,
    );
  }

  /** A lib-storage Upload: multipart for large files, the object appearing only once complete. */
  async putFile(
    namespace: RemoteNamespace,
    name: string,
    file: string,
    size: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const { sdk, client } = await this.open();
    const upload = new sdk.storage.Upload({
      client,
      params: {
        Bucket: this.bucket,
        Key: this.key(namespace, name),
        Body: createReadStream(file, { highWaterMark: 1024 * 1024 }),
        ContentLength: size,
      },
      partSize: Math.max(PART_BYTES, Math.ceil(size / 9_000)),
      queueSize: 4,
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.call('PutObject', namespace, name, signal, () => upload.done(), undefined);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** PutObject of bytes in memory. */
  async putBytes(
    namespace: RemoteNamespace,
    name: string,
    bytes: Uint8Array,
    signal?: AbortSignal,
  ): Promise<void> {
    const { sdk, client } = await this.open();
    await this.call(
      'PutObject',
      namespace,
      name,
      signal,
      () =>
        client.send(
          new sdk.s3.PutObjectCommand({ Bucket: this.bucket, Key: this.key(namespace, name), Body: bytes }),
          {
            ...(signal ? { abortSignal: signal } : {}),
          },
        ),
      undefined,
    );
  }

  /** The SDK and the client, made on first use from the environment. */
  private async open(): Promise<{ sdk: Awaited<ReturnType<typeof loadS3Sdk>>; client: S3Client }> {
    this.sdk ??= await loadS3Sdk();
    const endpoint = this.environment.AWS_ENDPOINT_URL_S3 || this.environment.AWS_ENDPOINT_URL || undefined;
    this.client ??= new this.sdk.s3.S3Client({
      region: this.environment.AWS_REGION || this.environment.AWS_DEFAULT_REGION || 'us-east-1',
      maxAttempts: CALL_ATTEMPTS,
      retryMode: 'standard',
      // A custom endpoint (MinIO, a test server on 127.0.0.1) rarely resolves bucket host names.
      forcePathStyle: endpoint !== undefined,
      ...(endpoint === undefined ? {} : { endpoint }),
    });
    return { sdk: this.sdk, client: this.client };
  }

  /** The object key of an entry. */
  private key(namespace: RemoteNamespace, name: string): string {
    return `${this.prefix}${namespace}/${name}`;
  }

  /** Runs one call; `missing` on 404, a {@link RemoteCacheError} naming the call on any other failure. */
  private async call<T, M>(
    call: string,
    namespace: RemoteNamespace,
    name: string,
    signal: AbortSignal | undefined,
    send: () => Promise<T>,
    missing: M,
  ): Promise<T | M> {
    try {
      return await send();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
      const errorName = error instanceof Error ? error.name : '';
      if (status === 404 || errorName === 'NotFound' || errorName === 'NoSuchKey') return missing;
      const code = (error as { code?: string } | null)?.code ?? '';
      const unreachable =
        status === undefined && (UNREACHABLE_CODES.has(code) || errorName === 'TimeoutError');
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new RemoteCacheError(`${call} ${this.description}${namespace}/${name}: ${reason}`, {
        unreachable,
        cause: error,
      });
    }
  }
}
