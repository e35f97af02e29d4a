/**
 * Azure: a fixed VHD (size 1 MiB-aligned), uploaded as a page blob and turned into a managed
 * image or a gallery image version. The uploader (below the data) records the image's digest in
 * the blob's metadata and the image's tags, so that a run finds and reuses what an earlier one made.
 */
import { open, stat } from 'node:fs/promises';
import type { ComputeManagementClient } from '@azure/arm-compute';
import type { TokenCredential } from '@azure/identity';
import type { ContainerClient, PageBlobClient, StorageSharedKeyCredential } from '@azure/storage-blob';
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
  CloudWaitTimeoutError,
  commonUploadOptionsShape,
  defineUploader,
  describeCloudError,
  imageObjectName,
  uncompressedImage,
  withTimeout,
} from '../../lib/cloud/upload.ts';
import { toFixedVhd } from '../../lib/disk/formats/conversions.ts';
import type { PlatformTarget } from '../../lib/platform.ts';

/** Options of an Upload to Azure. */
export interface AzureUploadOptions {
  /** Subscription holding the resource group. */
  readonly subscriptionId: string;
  /** Resource group of the image. */
  readonly resourceGroup: string;
  /** Region of the image. */
  readonly location: string;
  /** Storage account the VHD is uploaded to. */
  readonly storageAccount: string;
  /** Blob container. */
  readonly container: string;
  /**
   * Publish into this Shared Image Gallery instead of creating a managed image.
   * @default undefined (managed image)
   */
  readonly gallery?: {
    readonly name: string;
    readonly imageDefinition: string;
    /**
     * Version of the image in the gallery (`MAJOR.MINOR.PATCH`).
     * @default `1.<first 24 bits of the digest>.<next 24 bits>` (one version per image content)
     */
    readonly version?: string;
  };
  /**
   * Resource group of the storage account (a gallery version names the account by resource id).
   * @default `resourceGroup`
   */
  readonly storageResourceGroup?: string;
  /**
   * First part of the blob and image names (`<prefix>-<arch>-<digest 12>`).
   * @default 'fedora-coreos'
   */
  readonly namePrefix?: string;
  /**
   * Seconds between two polls of a long-running Resource Manager operation.
   * @default 5
   */
  readonly pollIntervalSeconds?: number;
  /**
   * Time limit of each wait for a Resource Manager operation, in minutes.
   * @default 120
   */
  readonly waitTimeoutMinutes?: number;
  /**
   * Blob endpoint override (tests: azurite).
   * @default https://<storageAccount>.blob.core.windows.net
   */
  readonly blobEndpoint?: string;
  /**
   * Resource Manager endpoint override.
   * @default https://management.azure.com
   */
  readonly managementEndpoint?: string;
}

const azureUploadOptionsSchema = z
  .object({
    subscriptionId: z.string().min(1),
    resourceGroup: z.string().min(1),
    location: z.string().min(1),
    storageAccount: z
      .string()
      .regex(/^[a-z0-9]{3,24}$/, 'a storage account name is 3-24 lowercase letters and digits'),
    container: z.string().min(3),
    gallery: z
      .object({
        name: z.string().min(1),
        imageDefinition: z.string().min(1),
        version: z
          .string()
          .regex(/^\d+\.\d+\.\d+$/, 'a gallery image version is MAJOR.MINOR.PATCH')
          .optional(),
      })
      .strict()
      .optional(),
    storageResourceGroup: z.string().min(1).optional(),
    blobEndpoint: z.url().optional(),
    managementEndpoint: z.url().optional(),
    ...commonUploadOptionsShape({ pollIntervalSeconds: 5, maxPrefixLength: 60 }),
  })
  .strict();

/** Parsed options of an Upload to Azure. */
type AzureOptions = z.output<typeof azureUploadOptionsSchema>;

/** The azure platform. */
export const azure: PlatformTarget = {
  name: 'azure',
  format: 'vhd',
  extension: 'vhd',
  arches: ['x86_64', 'aarch64'],
  sectorSizes: [512],
  compressions: ['none', 'gzip', 'xz', 'zstd'],
  defaultCompression: 'none',
  convert: toFixedVhd,
  uploadOptions: azureUploadOptionsSchema,
  uploader: defineUploader<AzureOptions>('azure', lookupAzure, uploadAzure),
};

// ---------------------------------------------------------------------------------------------
// The uploader: page blob (non-zero ranges only) -> managed image or gallery image version.
// ---------------------------------------------------------------------------------------------

/** Tag holding the image's content digest on managed images and gallery image versions. */
export const AZURE_DIGEST_TAG = 'fcos-cdk-digest';
/** Blob metadata: the digest, and whether every page was written. */
const BLOB_DIGEST_METADATA = 'fcosdigest';
const BLOB_COMPLETE_METADATA = 'fcoscomplete';
/** Bytes of one page; page blob writes are page-aligned. */
const PAGE_BYTES = 512;
/** Largest single page write (the service's limit). */
const WRITE_BYTES = 4 * 1024 * 1024;
/** Page writes in flight (memory is about this many writes). */
const WRITES_IN_FLIGHT = 4;
/** Retries of each call by the SDK's pipeline (429, 5xx, connection errors, with backoff). */
const CALL_RETRIES = 6;
/** Retries of each lookup call: the lookup is the fingerprint, and must stay cheap. */
const LOOKUP_RETRIES = 1;
/** The environment variable whose account key, when set, signs blob requests instead of a token. */
const STORAGE_KEY_VARIABLE = 'AZURE_STORAGE_KEY';

/** What to set when no credential works. */
const CREDENTIALS_HINT =
  'set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_FEDERATED_TOKEN_FILE for workload identity), ' +
  `run with a managed identity, or sign in with az login; for the blob upload ${STORAGE_KEY_VARIABLE} (the account key) also works`;

/** The Azure SDK modules, loaded on first use (synthesis and cache hits never load them). */
async function loadAzureSdk() {
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
interface AzureSession {
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
async function openSession(
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
async function azureCall<T>(session: AzureSession, call: string, send: () => Promise<T>): Promise<T> {
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
function azureError(nodePath: string, call: string, error: unknown): CloudUploadError {
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
function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number } | null)?.statusCode === 404;
}

/** The gallery image version of this image: the option, else one derived from the digest. */
function galleryVersion(session: AzureSession): string {
  const explicit = session.options.gallery?.version;
  if (explicit) return explicit;
  return `1.${Number.parseInt(session.digest.slice(0, 6), 16)}.${Number.parseInt(session.digest.slice(6, 12), 16)}`;
}

/** What exists of the final image: its ARM id and provisioning state, if it carries this digest. */
interface FoundImage {
  readonly id: string;
  readonly provisioningState: string;
  readonly digestTag: string | undefined;
}

/** The managed image or gallery image version of this image, if it exists. */
async function findImage(session: AzureSession): Promise<FoundImage | undefined> {
  const { resourceGroup, gallery } = session.options;
  const abortSignal = session.signal;
  const call = gallery ? 'galleryImageVersions.get' : 'images.get';
  try {
    const found = gallery
      ? await session.compute.galleryImageVersions.get(
          resourceGroup,
          gallery.name,
          gallery.imageDefinition,
          galleryVersion(session),
          { abortSignal },
        )
      : await session.compute.images.get(resourceGroup, session.name, { abortSignal });
    return {
      id: found.id ?? '',
      provisioningState: String(found.provisioningState ?? ''),
      digestTag: found.tags?.[AZURE_DIGEST_TAG],
    };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    if (session.signal.aborted) throw session.signal.reason;
    throw azureError(session.nodePath, call, error);
  }
}

/** Whether the blob holds this image completely (its metadata says so). */
async function blobIsComplete(session: AzureSession, size?: number): Promise<boolean> {
  try {
    const properties = await session.blob.getProperties({ abortSignal: session.signal });
    const metadata = properties.metadata ?? {};
    return (
      metadata[BLOB_DIGEST_METADATA] === session.digest &&
      metadata[BLOB_COMPLETE_METADATA] === 'true' &&
      (size === undefined || properties.contentLength === size)
    );
  } catch (error) {
    if (isNotFound(error)) return false;
    if (session.signal.aborted) throw session.signal.reason;
    throw azureError(session.nodePath, 'blob.getProperties', error);
  }
}

/** Refuses an image that exists under this image's name but holds another digest. */
function assertOurs(session: AzureSession, image: FoundImage): void {
  if (image.digestTag !== session.digest) {
    throw new CloudUploadError(
      'azure',
      session.options.gallery ? 'galleryImageVersions.get' : 'images.get',
      `${image.id} exists but its ${AZURE_DIGEST_TAG} tag is ${image.digestTag ?? 'missing'}, not ${session.digest}: delete it or choose another name`,
      session.nodePath,
    );
  }
}

/** The cloud image as cosa's meta.json has it. */
function azureCloudImage(
  session: AzureSession,
  context: CloudLookupContext<AzureOptions>,
  id: string,
): CloudImage {
  const { gallery, location } = session.options;
  return {
    platform: 'azure',
    arch: context.arch,
    sourceDigest: session.digest,
    name: session.name,
    azure: { image: gallery ? galleryVersion(session) : session.name, url: session.blob.url },
    resourceId: id,
    location,
  };
}

/** Looks the image (then the blob) up: the Upload's fingerprint. */
async function lookupAzure(context: CloudLookupContext<AzureOptions>): Promise<CloudLookup> {
  const session = await openSession(context, () => {}, LOOKUP_RETRIES);
  const image = await findImage(session);
  if (image && image.digestTag === session.digest && image.provisioningState === 'Succeeded')
    return { state: 'complete', image: azureCloudImage(session, context, image.id) };
  if (image) return { state: 'partial', found: `${image.id} (${image.provisioningState})` };
  return (await blobIsComplete(session))
    ? { state: 'partial', found: `blob ${session.blob.name}` }
    : { state: 'absent' };
}

/** Uploads the image to Azure, reusing the image or the blob it finds. */
async function uploadAzure(context: CloudUploadContext<AzureOptions>): Promise<CloudImage> {
  if (context.arch !== 'x86_64' && !context.options.gallery) {
    throw new CloudUploadError(
      'azure',
      'images.createOrUpdate',
      `managed images are x86_64 only: publish ${context.arch} images to a gallery (options.gallery)`,
      context.nodePath,
    );
  }
  const session = await openSession(context, context.log, CALL_RETRIES);
  const existing = await findImage(session);
  if (existing) assertOurs(session, existing);
  if (existing?.provisioningState === 'Succeeded') {
    context.log(`reusing ${existing.id} (tagged with the image digest)`);
    return azureCloudImage(session, context, existing.id);
  }
  const file = await uncompressedImage(context, `${session.name}.vhd`);
  const { size } = await stat(file);
  assertFixedVhd(session, size);
  if (await blobIsComplete(session, size))
    context.log(`reusing blob ${session.blob.url} (uploaded by an earlier run)`);
  else await uploadPageBlob(session, file, size);
  const id = await createImage(session);
  return azureCloudImage(session, context, id);
}

/** Refuses a file that cannot be a fixed VHD (page-aligned, 1 MiB-aligned virtual size). */
function assertFixedVhd(session: AzureSession, size: number): void {
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
async function uploadPageBlob(session: AzureSession, file: string, size: number): Promise<void> {
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
async function readFully(handle: import('node:fs/promises').FileHandle, buffer: Buffer, position: number) {
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

/** Creates the managed image (Hyper-V V2, Linux, generalized) or gallery image version; its id. */
async function createImage(session: AzureSession): Promise<string> {
  const { resourceGroup, location, gallery, subscriptionId, storageAccount } = session.options;
  const tags = { [AZURE_DIGEST_TAG]: session.digest, name: session.name };
  const signal = withTimeout(session.signal, session.options.waitTimeoutMinutes * 60_000);
  const operation = { abortSignal: signal, updateIntervalInMs: session.options.pollIntervalSeconds * 1000 };
  const call = gallery ? 'galleryImageVersions.createOrUpdate' : 'images.createOrUpdate';
  session.log(
    `creating ${gallery ? `gallery image version ${galleryVersion(session)}` : `managed image ${session.name}`}`,
  );
  try {
    const created = gallery
      ? await session.compute.galleryImageVersions.createOrUpdate(
          resourceGroup,
          gallery.name,
          gallery.imageDefinition,
          galleryVersion(session),
          {
            location,
            tags,
            publishingProfile: { targetRegions: [{ name: location }] },
            storageProfile: {
              osDiskImage: {
                source: {
                  uri: session.blob.url,
                  storageAccountId: `/subscriptions/${subscriptionId}/resourceGroups/${session.options.storageResourceGroup ?? resourceGroup}/providers/Microsoft.Storage/storageAccounts/${storageAccount}`,
                },
              },
            },
          },
          operation,
        )
      : await session.compute.images.createOrUpdate(
          resourceGroup,
          session.name,
          {
            location,
            tags,
            hyperVGeneration: 'V2',
            storageProfile: {
              osDisk: {
                osType: 'Linux',
                osState: 'Generalized',
                blobUri: session.blob.url,
                caching: 'ReadWrite',
              },
            },
          },
          operation,
        );
    session.log(`created ${created.id}`);
    return created.id ?? '';
  } catch (error) {
    if (session.signal.aborted) throw session.signal.reason;
    if (signal.aborted) {
      throw new CloudWaitTimeoutError(
        'azure',
        call,
        `gave up waiting after ${session.options.waitTimeoutMinutes} min (options.waitTimeoutMinutes)`,
        session.nodePath,
      );
    }
    const typed = azureError(session.nodePath, call, error);
    if (typed instanceof CloudCredentialsError || typed instanceof CloudPermissionError) throw typed;
    throw new CloudTaskFailedError(
      'azure',
      call,
      `the operation failed: ${describeCloudError(error)}`,
      session.nodePath,
    );
  }
}
