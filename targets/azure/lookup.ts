/**
 * Finding an image's Azure objects: the managed image or gallery image version (tagged with the
 * digest) and the page blob (its metadata says whether every page was written); the lookup that is
 * the Upload node's fingerprint, and the cloud image record both steps return.
 */
import { CloudUploadError } from '../../lib/cloud/errors.ts';
import type { CloudImage, CloudLookup, CloudLookupContext } from '../../lib/cloud/uploader.ts';
import type { AzureOptions } from './index.ts';
import { BLOB_COMPLETE_METADATA, BLOB_DIGEST_METADATA } from './page-blob.ts';
import {
  AZURE_DIGEST_TAG,
  type AzureSession,
  azureError,
  isNotFound,
  LOOKUP_RETRIES,
  openSession,
} from './session.ts';

/** The gallery image version of this image: the option, else one derived from the digest. */
export function galleryVersion(session: AzureSession): string {
  const explicit = session.options.gallery?.version;
  if (explicit) return explicit;
  return `1.${Number.parseInt(session.digest.slice(0, 6), 16)}.${Number.parseInt(session.digest.slice(6, 12), 16)}`;
}

/** What exists of the final image: its ARM id and provisioning state, if it carries this digest. */
export interface FoundImage {
  readonly id: string;
  readonly provisioningState: string;
  readonly digestTag: string | undefined;
}

/** The managed image or gallery image version of this image, if it exists. */
export async function findImage(session: AzureSession): Promise<FoundImage | undefined> {
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
export async function blobIsComplete(session: AzureSession, size?: number): Promise<boolean> {
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
export function assertOurs(session: AzureSession, image: FoundImage): void {
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
export function azureCloudImage(
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
export async function lookupAzure(context: CloudLookupContext<AzureOptions>): Promise<CloudLookup> {
  const session = await openSession(context, () => {}, LOOKUP_RETRIES);
  const image = await findImage(session);
  if (image && image.digestTag === session.digest && image.provisioningState === 'Succeeded')
    return { state: 'complete', image: azureCloudImage(session, context, image.id) };
  if (image) return { state: 'partial', found: `${image.id} (${image.provisioningState})` };
  return (await blobIsComplete(session))
    ? { state: 'partial', found: `blob ${session.blob.name}` }
    : { state: 'absent' };
}
