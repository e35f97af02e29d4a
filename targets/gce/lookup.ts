/**
 * Finding an image's GCE objects: the image (labelled with the digest) and the tarball in Cloud
 * Storage (its metadata holds the digest); the lookup that is the Upload node's fingerprint, and the
 * cloud image record both steps return.
 */
import type { protos } from '@google-cloud/compute';
import { withRetries } from '../../lib/cloud/retry.ts';
import type { CloudImage, CloudLookup, CloudLookupContext } from '../../lib/cloud/uploader.ts';
import type { GceOptions } from './index.ts';
import {
  assertCredentials,
  type GceSession,
  gceError,
  httpStatusOf,
  isTransient,
  LOOKUP_ATTEMPTS,
  openSession,
} from './session.ts';

/**
 * Labels holding the image's content digest (a label value is at most 63 characters: the two
 * halves of the sha256). The object carries the whole digest in its metadata.
 */
export const GCE_DIGEST_LABELS = ['fcos-sha256-a', 'fcos-sha256-b'] as const;
/** Object metadata key holding the digest. */
export const OBJECT_DIGEST_METADATA = 'fcosDigest';

/** The image of this name, if it exists. */
export async function findImage(
  session: GceSession,
): Promise<protos.google.cloud.compute.v1.IImage | undefined> {
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
export function isOurs(session: GceSession, image: protos.google.cloud.compute.v1.IImage): boolean {
  const labels = image.labels ?? {};
  return `${labels[GCE_DIGEST_LABELS[0]] ?? ''}${labels[GCE_DIGEST_LABELS[1]] ?? ''}` === session.digest;
}

/** Whether the tarball is in the bucket with this digest (and size, when given). */
export async function objectIsUploaded(session: GceSession, size?: number): Promise<boolean> {
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
export function gceCloudImage(session: GceSession): CloudImage {
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

/** Looks the image (then the object) up: the Upload's fingerprint. */
export async function lookupGce(context: CloudLookupContext<GceOptions>): Promise<CloudLookup> {
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
