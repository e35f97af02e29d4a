/**
 * Azure sessions: the SDK loaded on first use, one default-chain credential per process (or the
 * storage account key), the Resource Manager and blob clients, and every call turned into a typed
 * error that names the call and what to set or grant. Shared by the lookup and the upload steps.
 */
import type { ComputeManagementClient } from '@azure/arm-compute';
import type { TokenCredential } from '@azure/identity';
import type { ContainerClient, PageBlobClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { imageObjectName } from '../../lib/cloud/common-options.ts';
import {
  CloudCredentialsError,
  CloudPermissionError,
  CloudUploadError,
  describeCloudError,
} from '../../lib/cloud/errors.ts';
import type { CloudLookupContext } from '../../lib/cloud/uploader.ts';
import type { AzureOptions } from './index.ts';

/** Tag holding the image's content digest on managed images and gallery image versions. */
export const AZURE_DIGEST_TAG = 'fcos-cdk-digest';
/** Retries of each call by the SDK's pipeline (429, 5xx, connection errors, with backoff). */
export const CALL_RETRIES = 6;
/** Retries of each lookup call: the lookup is the fingerprint, and must stay cheap. */
export const LOOKUP_RETRIES = 1;
/** The environment variable whose account key, when set, signs blob requests instead of a token. */
const STORAGE_KEY_VARIABLE = 'AZURE_STORAGE_KEY';

/** What to set when no credential works. */
const CREDENTIALS_HINT =
  'set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_FEDERATED_TOKEN_FILE for workload identity), ' +
  `run with a managed identity, or sign in with az login; for the blob upload ${STORAGE_KEY_VARIABLE} (the account key) also works`;

/** The Azure SDK modules, loaded on first use (synthesis and cache hits never load them). */
export async function loadAzureSdk() {
  const [storage, compute, identity] = await Promise.all([
    import('@azure/storage-blob'),
    import('@azure/arm-compute'),
    import('@azure/identity'),
  ]);
  return { storage, compute, identity };
}

/** The default-chain credential of this process (made on first use). */
let sharedCredential: TokenCredential | undefined;

/** Everything one Azure upload or lookup works with. */
export interface AzureSession {
  readonly options: AzureOptions;
  readonly nodePath: string;
  readonly digest: string;
  readonly name: string;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  readonly compute: ComputeManagementClient;
  readonly container: ContainerClient;
  readonly blob: PageBlobClient;
}

/** Opens a session: clients with the credentials of the SDK's default chain. */
export async function openSession(
  context: CloudLookupContext<AzureOptions>,
  log: (line: string) => void,
  retries: number,
): Promise<AzureSession> {
  const sdk = await loadAzureSdk();
  const { options } = context;
  // One credential per process: the lookup and the upload share its cached tokens.
  sharedCredential ??= new sdk.identity.DefaultAzureCredential();
  const tokenCredential: TokenCredential = sharedCredential;
  const storageKey = process.env[STORAGE_KEY_VARIABLE];
  const blobCredential: TokenCredential | StorageSharedKeyCredential = storageKey
    ? new sdk.storage.StorageSharedKeyCredential(options.storageAccount, storageKey)
    : tokenCredential;
  const blobEndpoint = options.blobEndpoint ?? `https://${options.storageAccount}.blob.core.windows.net`;
  const service = new sdk.storage.BlobServiceClient(blobEndpoint, blobCredential, {
    retryOptions: { maxTries: retries + 1 },
  });
  const name = imageObjectName(options.namePrefix, context.arch, context.digest);
  const container = service.getContainerClient(options.container);
  return {
    options,
    nodePath: context.nodePath,
    digest: context.digest,
    name,
    signal: context.signal,
    log,
    compute: new sdk.compute.ComputeManagementClient(tokenCredential, options.subscriptionId, {
      ...(options.managementEndpoint ? { endpoint: options.managementEndpoint } : {}),
      retryOptions: { maxRetries: retries },
    }),
    container,
    blob: container.getPageBlobClient(`${name}.vhd`),
  };
}

/** Runs one Azure call, turning its failure into a typed error that names the call and what to set. */
export async function azureCall<T>(session: AzureSession, call: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    if (session.signal.aborted) throw session.signal.reason;
    throw azureError(session.nodePath, call, error);
  }
}

/** Names of @azure/identity errors meaning that no credential could be had. */
const CREDENTIAL_ERRORS = new Set([
  'CredentialUnavailableError',
  'AggregateAuthenticationError',
  'AuthenticationRequiredError',
  'AuthenticationError',
]);

/** The typed error of a failed Azure call: credentials, permission, or the service's own error. */
export function azureError(nodePath: string, call: string, error: unknown): CloudUploadError {
  const name = error instanceof Error ? error.name : 'Error';
  const status = (error as { statusCode?: number } | null)?.statusCode;
  const code = String((error as { code?: string } | null)?.code ?? name);
  if (CREDENTIAL_ERRORS.has(name)) {
    const refused = name === 'AuthenticationError';
    return new CloudCredentialsError(
      'azure',
      call,
      refused
        ? `the Azure credentials were refused (${name}): check AZURE_CLIENT_ID/AZURE_CLIENT_SECRET or the managed identity`
        : `no Azure credentials were found: ${CREDENTIALS_HINT}`,
      nodePath,
    );
  }
  if (status === 401) {
    return new CloudCredentialsError(
      'azure',
      call,
      `the credentials were refused (${code}): ${CREDENTIALS_HINT}`,
      nodePath,
    );
  }
  if (status === 403) {
    const role = call.startsWith('blob')
      ? 'Storage Blob Data Contributor on the storage account'
      : 'Contributor on the resource group';
    return new CloudPermissionError(
      'azure',
      call,
      `permission denied (${code}): grant the caller ${role}`,
      nodePath,
    );
  }
  return new CloudUploadError('azure', call, describeCloudError(error), nodePath);
}

/** Whether an Azure error is a 404. */
export function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number } | null)?.statusCode === 404;
}
