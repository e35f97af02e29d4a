/**
 * GCE: `disk.raw` in an oldgnu sparse tarball, gzip-compressed, uploaded to Cloud Storage and
 * created as an image. The uploader (below the data) labels the object and the image with the
 * image's digest, so that a run finds and reuses what an earlier one made.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { GlobalOperationsClient, ImagesClient, protos } from '@google-cloud/compute';
import type { Bucket } from '@google-cloud/storage';
import { z } from 'zod';
import {
  CloudCredentialsError,
  type CloudImage,
  type CloudLookup,
  type CloudLookupContext,
  CloudPermissionError,
  CloudTaskFailedError,
  type CloudUploadContext,
  CloudUploadError,
  commonUploadOptionsShape,
  defineUploader,
  describeCloudError,
  imageObjectName,
  pollUntil,
  withRetries,
} from '../../lib/cloud/upload.ts';
import { toGceTarball } from '../../lib/disk/formats/conversions.ts';
import type { PlatformTarget } from '../../lib/platform.ts';

/** Options of an Upload to GCE. */
export interface GceUploadOptions {
  /** Project the image is created in. */
  readonly project: string;
  /** Cloud Storage bucket the tarball is uploaded to. */
  readonly bucket: string;
  /**
   * Image family.
   * @default undefined (no family)
   */
  readonly family?: string;
  /**
   * Grant `allAuthenticatedUsers` the image user role.
   * @default false
   */
  readonly public?: boolean;
  /**
   * Endpoint override for Cloud Storage and Compute (tests).
   * @default Google's endpoints
   */
  readonly endpoint?: string;
  /**
   * Keep the tarball in Cloud Storage after the image is created.
   * @default false
   */
  readonly keepObject?: boolean;
  /**
   * First part of the image and object names (`<prefix>-<arch>-<digest 12>`).
   * @default 'fedora-coreos'
   */
  readonly namePrefix?: string;
  /**
   * Seconds between two polls of a global operation.
   * @default 5
   */
  readonly pollIntervalSeconds?: number;
  /**
   * Time limit of each wait for a global operation, in minutes.
   * @default 120
   */
  readonly waitTimeoutMinutes?: number;
}

const gceUploadOptionsSchema = z
  .object({
    project: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/,
        'a GCP project id is 6-30 lowercase letters, digits and dashes',
      ),
    bucket: z.string().min(3),
    family: z
      .string()
      .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'an image family is lowercase letters, digits and dashes')
      .optional(),
    public: z.boolean().default(false),
    endpoint: z.url().optional(),
    keepObject: z.boolean().default(false),
    ...commonUploadOptionsShape({ pollIntervalSeconds: 5, maxPrefixLength: 40 }),
  })
  .strict();

/** Parsed options of an Upload to GCE. */
type GceOptions = z.output<typeof gceUploadOptionsSchema>;

/** The gce platform. */
export const gce: PlatformTarget = {
  name: 'gce',
  format: 'gce-tar',
  extension: 'tar.gz',
  arches: ['x86_64', 'aarch64'],
  sectorSizes: [512],
  compressions: ['none'],
  defaultCompression: 'none',
  ignitionPlatformId: 'gcp',
  convert: toGceTarball,
  uploadOptions: gceUploadOptionsSchema,
  uploader: defineUploader<GceOptions>('gce', lookupGce, uploadGce),
};

// ---------------------------------------------------------------------------------------------
// The uploader: Cloud Storage (resumable, streamed) -> images.insert -> IAM binding.
// ---------------------------------------------------------------------------------------------

/**
 * Labels holding the image's content digest (a label value is at most 63 characters: the two
 * halves of the sha256). The object carries the whole digest in its metadata.
 */
export const GCE_DIGEST_LABELS = ['fcos-sha256-a', 'fcos-sha256-b'] as const;
/** Object metadata key holding the digest. */
const OBJECT_DIGEST_METADATA = 'fcosDigest';
/** Bytes sent per resumable-upload request (a multiple of 256 KiB; memory is about this much). */
const CHUNK_BYTES = 16 * 1024 * 1024;
/** Attempts of each control-plane call (throttling and 5xx, with backoff). */
const CALL_ATTEMPTS = 6;
/** Attempts of each lookup call: the lookup is the fingerprint, and must stay cheap. */
const LOOKUP_ATTEMPTS = 2;
/** The IAM role and member of a public image. */
const PUBLIC_BINDING = { role: 'roles/compute.imageUser', member: 'allAuthenticatedUsers' };

/** What to set when no credential works. */
const CREDENTIALS_HINT =
  'set GOOGLE_APPLICATION_CREDENTIALS to a service account key or a workload identity federation file, ' +
  'run gcloud auth application-default login, or run where the metadata server provides a service account';

/** The Google Cloud SDK modules, loaded on first use (synthesis and cache hits never load them). */
async function loadGoogleSdk() {
  // The two Compute clients used, not the package's index: it loads every client (~2 s more).
  const [storage, images, operations] = await Promise.all([
    import('@google-cloud/storage'),
    import('@google-cloud/compute/build/src/v1/images_client.js'),
    import('@google-cloud/compute/build/src/v1/global_operations_client.js'),
  ]);
  return {
    storage,
    compute: { ImagesClient: images.ImagesClient, GlobalOperationsClient: operations.GlobalOperationsClient },
  };
}

/** The clients of one endpoint: made once per process (Compute's load their API description, ~1 s). */
interface GoogleClients {
  readonly bucketOf: (name: string) => Bucket;
  readonly images: ImagesClient;
  /** Made on first use. */
  operations?: GlobalOperationsClient;
  readonly computeOptions: Record<string, string | number>;
  readonly sdk: Awaited<ReturnType<typeof loadGoogleSdk>>;
}

/** Clients by endpoint (and project), shared by the lookups and uploads of a process. */
const clientCache = new Map<string, GoogleClients>();

/** Everything one GCE upload or lookup works with. */
interface GceSession {
  readonly options: GceOptions;
  readonly nodePath: string;
  readonly digest: string;
  readonly arch: CloudLookupContext<GceOptions>['arch'];
  readonly name: string;
  readonly objectName: string;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  readonly bucket: Bucket;
  readonly images: ImagesClient;
  readonly clients: GoogleClients;
  readonly attempts: number;
}

/** The clients of `options`' endpoint, with Application Default Credentials. */
async function clientsFor(options: GceOptions): Promise<GoogleClients> {
  const key = `${options.endpoint ?? ''} ${options.project}`;
  const cached = clientCache.get(key);
  if (cached) return cached;
  const sdk = await loadGoogleSdk();
  const endpoint = options.endpoint ? new URL(options.endpoint) : undefined;
  const computeOptions: Record<string, string | number> = endpoint
    ? {
        apiEndpoint: endpoint.hostname,
        port: Number(endpoint.port || (endpoint.protocol === 'http:' ? 80 : 443)),
        protocol: endpoint.protocol.replace(':', ''),
      }
    : {};
  const storage = new sdk.storage.Storage({
    projectId: options.project,
    // Every write is of content named by its digest: retrying one is always safe.
    retryOptions: {
      autoRetry: true,
      maxRetries: CALL_ATTEMPTS - 1,
      idempotencyStrategy: sdk.storage.IdempotencyStrategy.RetryAlways,
      // The default misses HTTP errors of resumable chunks (they carry a status, not a code).
      retryableErrorFn: (error) => sdk.storage.RETRYABLE_ERR_FN_DEFAULT(error) || isTransient(error),
    },
    ...(endpoint ? { apiEndpoint: endpoint.origin, useAuthWithCustomEndpoint: true } : {}),
  });
  const clients: GoogleClients = {
    bucketOf: (name) => storage.bucket(name),
    images: new sdk.compute.ImagesClient(computeOptions),
    computeOptions,
    sdk,
  };
  clientCache.set(key, clients);
  return clients;
}

/** Opens a session on the (cached) clients. */
async function openSession(
  context: CloudLookupContext<GceOptions>,
  log: (line: string) => void,
  attempts: number,
): Promise<GceSession> {
  const { options } = context;
  const clients = await clientsFor(options);
  const name = imageObjectName(options.namePrefix, context.arch, context.digest);
  return {
    options,
    nodePath: context.nodePath,
    digest: context.digest,
    arch: context.arch,
    name,
    objectName: `${name}.tar.gz`,
    signal: context.signal,
    log,
    bucket: clients.bucketOf(options.bucket),
    images: clients.images,
    clients,
    attempts,
  };
}

/** The global operations client (made on first use). */
function operationsOf(session: GceSession): GlobalOperationsClient {
  const { clients } = session;
  clients.operations ??= new clients.sdk.compute.GlobalOperationsClient(clients.computeOptions);
  return clients.operations;
}

/** The HTTP status of a Google API error (from an HTTP status or code, or a gRPC-style code). */
function httpStatusOf(error: unknown): number | undefined {
  const status =
    (error as { status?: unknown; response?: { status?: unknown } } | null)?.status ??
    (error as { response?: { status?: unknown } } | null)?.response?.status;
  if (typeof status === 'number') return status;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number' && code >= 100) return code;
  const grpc: Record<number, number> = { 4: 504, 5: 404, 7: 403, 8: 429, 13: 500, 14: 503, 16: 401 };
  if (typeof code === 'number') return grpc[code];
  return undefined;
}

/** Whether a Google API error is worth retrying (throttling, 5xx, timeouts). */
function isTransient(error: unknown): boolean {
  const status = httpStatusOf(error);
  return status === 429 || (status !== undefined && status >= 500);
}

/** Runs one Google API call with retries, turning its failure into a typed error. */
async function gceCall<T>(session: GceSession, call: string, send: () => Promise<T>): Promise<T> {
  try {
    return await withRetries(send, {
      isTransient,
      signal: session.signal,
      attempts: session.attempts,
      onRetry: (attempt, error) =>
        session.log(`${call}: ${describeCloudError(error)}; retrying (attempt ${attempt + 1})`),
    });
  } catch (error) {
    if (session.signal.aborted) throw session.signal.reason;
    throw gceError(session.nodePath, call, error);
  }
}

/** The typed error of a failed Google API call: credentials, permission, or the service's own error. */
function gceError(nodePath: string, call: string, error: unknown): CloudUploadError {
  const message = error instanceof Error ? error.message : String(error);
  const status = httpStatusOf(error);
  if (
    /could not load the default credentials|unable to detect a project id|could not refresh access token/i.test(
      message,
    )
  ) {
    return new CloudCredentialsError(
      'gce',
      call,
      `no Google credentials were found: ${CREDENTIALS_HINT}`,
      nodePath,
    );
  }
  if (status === 401) {
    return new CloudCredentialsError(
      'gce',
      call,
      `the Google credentials were refused: ${CREDENTIALS_HINT}`,
      nodePath,
    );
  }
  if (status === 403) {
    const role = call.startsWith('storage')
      ? 'roles/storage.objectAdmin on the bucket'
      : 'roles/compute.storageAdmin on the project';
    return new CloudPermissionError(
      'gce',
      call,
      `permission denied: grant the caller ${role} (${describeCloudError(error)})`,
      nodePath,
    );
  }
  return new CloudUploadError('gce', call, describeCloudError(error), nodePath);
}

/** The image of this name, if it exists. */
async function findImage(session: GceSession): Promise<protos.google.cloud.compute.v1.IImage | undefined> {
  try {
    return await withRetries(
      async () => (await session.images.get({ project: session.options.project, image: session.name }))[0],
      { isTransient, signal: session.signal, attempts: session.attempts },
    );
  } catch (error) {
    if (httpStatusOf(error) === 404) return undefined;
    if (session.signal.aborted) throw session.signal.reason;
    throw gceError(session.nodePath, 'images.get', error);
  }
}

/** Whether an image carries this digest in its labels. */
function isOurs(session: GceSession, image: protos.google.cloud.compute.v1.IImage): boolean {
  const labels = image.labels ?? {};
  return `${labels[GCE_DIGEST_LABELS[0]] ?? ''}${labels[GCE_DIGEST_LABELS[1]] ?? ''}` === session.digest;
}

/** Whether the tarball is in the bucket with this digest (and size, when given). */
async function objectIsUploaded(session: GceSession, size?: number): Promise<boolean> {
  try {
    const [metadata] = await session.bucket.file(session.objectName).getMetadata();
    return (
      metadata.metadata?.[OBJECT_DIGEST_METADATA] === session.digest &&
      (size === undefined || Number(metadata.size) === size)
    );
  } catch (error) {
    if (httpStatusOf(error) === 404) return false;
    if (session.signal.aborted) throw session.signal.reason;
    throw gceError(
      session.nodePath,
      `storage objects.get gs://${session.options.bucket}/${session.objectName}`,
      error,
    );
  }
}

/** The cloud image as cosa's meta.json has it. */
function gceCloudImage(session: GceSession): CloudImage {
  const { project, family } = session.options;
  return {
    platform: 'gce',
    arch: session.arch,
    sourceDigest: session.digest,
    name: session.name,
    gcp: {
      image: session.name,
      project,
      ...(family ? { family } : {}),
      url: `https://www.googleapis.com/compute/v1/projects/${project}/global/images/${session.name}`,
    },
  };
}

/**
 * Fails with a clear error unless Application Default Credentials can be had. Checked before the
 * first Compute call: google-gax leaves an unhandled rejection behind when its stub cannot get them.
 */
async function assertCredentials(session: GceSession, call: string): Promise<void> {
  try {
    await session.images.auth.getClient();
  } catch (error) {
    if (session.signal.aborted) throw session.signal.reason;
    throw gceError(session.nodePath, call, error);
  }
}

/** Looks the image (then the object) up: the Upload's fingerprint. */
async function lookupGce(context: CloudLookupContext<GceOptions>): Promise<CloudLookup> {
  const session = await openSession(context, () => {}, LOOKUP_ATTEMPTS);
  await assertCredentials(session, 'images.get');
  const image = await findImage(session);
  if (image && isOurs(session, image) && image.status === 'READY')
    return { state: 'complete', image: gceCloudImage(session) };
  if (image) return { state: 'partial', found: `image ${session.name} (${image.status})` };
  return (await objectIsUploaded(session))
    ? { state: 'partial', found: `object gs://${context.options.bucket}/${session.objectName}` }
    : { state: 'absent' };
}

/** Uploads the image to GCE, reusing the image or the object it finds. */
async function uploadGce(context: CloudUploadContext<GceOptions>): Promise<CloudImage> {
  const session = await openSession(context, context.log, CALL_ATTEMPTS);
  await assertCredentials(session, 'images.get');
  let image = await findImage(session);
  if (image && !isOurs(session, image)) {
    throw new CloudUploadError(
      'gce',
      'images.get',
      `image ${session.name} exists in ${context.options.project} but its labels hold another digest: delete it or choose another namePrefix`,
      context.nodePath,
    );
  }
  if (image?.status === 'FAILED') {
    context.log(`deleting image ${session.name}, whose creation failed in an earlier run`);
    await waitForOperation(
      session,
      'images.delete',
      await startOperation(session, 'images.delete', () =>
        session.images.delete({
          project: context.options.project,
          image: session.name,
          requestId: randomUUID(),
        }),
      ),
    );
    image = undefined;
  }
  if (image) {
    context.log(`reusing image ${session.name} (${image.status}, labelled with the image digest)`);
    if (image.status !== 'READY') await waitForImageReady(session);
  } else {
    const { size } = await stat(context.imagePath);
    if (await objectIsUploaded(session, size))
      context.log(`reusing gs://${context.options.bucket}/${session.objectName}`);
    else await uploadObject(session, context.imagePath, size);
    await insertImage(session);
  }
  if (context.options.public) await makePublic(session);
  if (!context.options.keepObject) await deleteObject(session);
  return gceCloudImage(session);
}

/**
 * Streams the tarball to Cloud Storage as a resumable upload: the session is created first (an
 * authenticated call), then the file is sent in chunks to the session URI (the URI is the session's
 * credential; chunks are retried from the offset the service reports); cancel stops it.
 */
async function uploadObject(session: GceSession, file: string, size: number): Promise<void> {
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

/** Starts an operation (retrying throttling with the same request id); the operation. */
async function startOperation(
  session: GceSession,
  call: string,
  start: () => Promise<[{ latestResponse?: unknown }, ...unknown[]]>,
): Promise<protos.google.cloud.compute.v1.IOperation> {
  const [operation] = await gceCall(session, call, start);
  return operation.latestResponse as protos.google.cloud.compute.v1.IOperation;
}

/** Creates the image from the tarball (raw disk, arch, family, guest OS features, digest labels) and waits. */
async function insertImage(session: GceSession): Promise<void> {
  const { project, bucket, family } = session.options;
  const features = ['VIRTIO_SCSI_MULTIQUEUE', 'GVNIC', 'UEFI_COMPATIBLE'];
  if (session.arch === 'x86_64') features.push('SEV_CAPABLE', 'SEV_SNP_CAPABLE');
  const requestId = randomUUID();
  const operation = await startOperation(session, 'images.insert', () =>
    session.images.insert({
      project,
      requestId,
      imageResource: {
        name: session.name,
        description: `Fedora CoreOS ${session.arch} (sha256 ${session.digest})`,
        ...(family ? { family } : {}),
        architecture: session.arch === 'x86_64' ? 'X86_64' : 'ARM64',
        rawDisk: { source: `https://storage.googleapis.com/${bucket}/${session.objectName}` },
        guestOsFeatures: features.map((type) => ({ type })),
        labels: {
          [GCE_DIGEST_LABELS[0]]: session.digest.slice(0, 32),
          [GCE_DIGEST_LABELS[1]]: session.digest.slice(32),
        },
      },
    }),
  );
  session.log(`creating image ${session.name} (operation ${operation.name})`);
  await waitForOperation(session, 'images.insert', operation);
  session.log(`created image ${session.name} in ${project}`);
}

/** Waits for a global operation to be DONE; a clear error with its errors if it failed. */
async function waitForOperation(
  session: GceSession,
  call: string,
  started: protos.google.cloud.compute.v1.IOperation,
): Promise<void> {
  let operation = started;
  const options = {
    cloud: 'gce' as const,
    call: `globalOperations.wait ${started.name}`,
    what: `operation ${started.name} (${call})`,
    nodePath: session.nodePath,
    intervalMs: session.options.pollIntervalSeconds * 1000,
    timeoutMs: session.options.waitTimeoutMinutes * 60_000,
    signal: session.signal,
  };
  const done = await pollUntil(options, async () => {
    if (String(operation.status) === 'DONE') return operation;
    [operation] = await gceCall(session, 'globalOperations.wait', () =>
      operationsOf(session).wait({ project: session.options.project, operation: String(started.name) }),
    );
    return String(operation.status) === 'DONE' ? operation : undefined;
  });
  const errors = done.error?.errors ?? [];
  if (errors.length > 0) {
    throw new CloudTaskFailedError(
      'gce',
      call,
      `operation ${started.name} failed: ${errors.map((error) => `${error.code}: ${error.message}`).join('; ')}`,
      session.nodePath,
    );
  }
}

/** Waits until an image another run started is READY. */
async function waitForImageReady(session: GceSession): Promise<void> {
  const options = {
    cloud: 'gce' as const,
    call: 'images.get',
    what: `image ${session.name} to become READY`,
    nodePath: session.nodePath,
    intervalMs: session.options.pollIntervalSeconds * 1000,
    timeoutMs: session.options.waitTimeoutMinutes * 60_000,
    signal: session.signal,
  };
  await pollUntil(options, async () => {
    const image = await findImage(session);
    if (image?.status === 'READY') return true;
    if (!image || image.status === 'FAILED') {
      throw new CloudTaskFailedError(
        'gce',
        'images.insert',
        `image ${session.name} ${image ? 'failed' : 'disappeared'} while an earlier run was creating it`,
        session.nodePath,
      );
    }
    return undefined;
  });
}

/** Grants allAuthenticatedUsers the image user role (kept if already there). */
async function makePublic(session: GceSession): Promise<void> {
  const { project } = session.options;
  const [policy] = await gceCall(session, 'images.getIamPolicy', () =>
    session.images.getIamPolicy({ project, resource: session.name }),
  );
  const bindings = policy.bindings ?? [];
  const binding = bindings.find((candidate) => candidate.role === PUBLIC_BINDING.role);
  if (binding?.members?.includes(PUBLIC_BINDING.member)) return;
  if (binding) binding.members = [...(binding.members ?? []), PUBLIC_BINDING.member];
  else bindings.push({ role: PUBLIC_BINDING.role, members: [PUBLIC_BINDING.member] });
  await gceCall(session, 'images.setIamPolicy', () =>
    session.images.setIamPolicy({
      project,
      resource: session.name,
      globalSetPolicyRequestResource: { policy: { ...policy, bindings } },
    }),
  );
  session.log(`granted ${PUBLIC_BINDING.member} ${PUBLIC_BINDING.role} on ${session.name}`);
}

/** Deletes the tarball (a missing object is fine). */
async function deleteObject(session: GceSession): Promise<void> {
  const target = `gs://${session.options.bucket}/${session.objectName}`;
  await gceCall(session, `storage objects.delete ${target}`, () =>
    session.bucket.file(session.objectName).delete({ ignoreNotFound: true }),
  );
  session.log(`deleted ${target} (if it was still there)`);
}
