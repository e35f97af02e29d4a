/**
 * GCE sessions: the Google Cloud SDK loaded on first use (only the two Compute clients used), the
 * clients of an endpoint made once per process with Application Default Credentials, calls retried
 * on throttling and 5xx, and every failure turned into a typed error that names the call and what
 * to set or grant. Shared by the lookup and the upload steps.
 */
import type { GlobalOperationsClient, ImagesClient } from '@google-cloud/compute';
import type { Bucket } from '@google-cloud/storage';
import { imageObjectName } from '../../lib/cloud/common-options.ts';
import {
  CloudCredentialsError,
  CloudPermissionError,
  CloudUploadError,
  describeCloudError,
} from '../../lib/cloud/errors.ts';
import { withRetries } from '../../lib/cloud/retry.ts';
import type { CloudLookupContext } from '../../lib/cloud/uploader.ts';
import type { GceOptions } from './index.ts';

/** Attempts of each control-plane call (throttling and 5xx, with backoff). */
export const CALL_ATTEMPTS = 6;
/** Attempts of each lookup call: the lookup is the fingerprint, and must stay cheap. */
export const LOOKUP_ATTEMPTS = 2;

/** What to set when no credential works. */
const CREDENTIALS_HINT =
  'set GOOGLE_APPLICATION_CREDENTIALS to a service account key or a workload identity federation file, ' +
  'run gcloud auth application-default login, or run where the metadata server provides a service account';

/** The Google Cloud SDK modules, loaded on first use (synthesis and cache hits never load them). */
export async function loadGoogleSdk() {
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
export interface GoogleClients {
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
export interface GceSession {
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
export async function clientsFor(options: GceOptions): Promise<GoogleClients> {
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
export async function openSession(
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
export function operationsOf(session: GceSession): GlobalOperationsClient {
  const { clients } = session;
  clients.operations ??= new clients.sdk.compute.GlobalOperationsClient(clients.computeOptions);
  return clients.operations;
}

/** The HTTP status of a Google API error (from an HTTP status or code, or a gRPC-style code). */
export function httpStatusOf(error: unknown): number | undefined {
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
export function isTransient(error: unknown): boolean {
  const status = httpStatusOf(error);
  return status === 429 || (status !== undefined && status >= 500);
}

/** Runs one Google API call with retries, turning its failure into a typed error. */
export async function gceCall<T>(session: GceSession, call: string, send: () => Promise<T>): Promise<T> {
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
export function gceError(nodePath: string, call: string, error: unknown): CloudUploadError {
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

/**
 * Fails with a clear error unless Application Default Credentials can be had. Checked before the
 * first Compute call: google-gax leaves an unhandled rejection behind when its stub cannot get them.
 */
export async function assertCredentials(session: GceSession, call: string): Promise<void> {
  try {
    await session.images.auth.getClient();
  } catch (error) {
    if (session.signal.aborted) throw session.signal.reason;
    throw gceError(session.nodePath, call, error);
  }
}
