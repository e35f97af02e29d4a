/**
 * Finding an image's AWS objects by the digest tag: the AMI of each region, the imported snapshot;
 * the lookup that is the Upload node's fingerprint, and the cloud image record both steps return.
 */
import type { Image, Snapshot } from '@aws-sdk/client-ec2';
import type { CloudImage, CloudLookup, CloudLookupContext } from '../../lib/cloud/uploader.ts';
import type { AwsOptions } from './index.ts';
import { type AwsSession, awsCall, digestFilter, ec2Of, LOOKUP_ATTEMPTS, openSession } from './session.ts';

/** States of an AMI that will never become available. */
export const DEAD_IMAGE_STATES = new Set(['deregistered', 'failed', 'error', 'invalid', 'disabled']);

/** The AMI tagged with this digest in `region`, if any (pending or available). */
export async function findImage(session: AwsSession, region: string): Promise<Image | undefined> {
  const { DescribeImagesCommand } = session.sdk.ec2;
  const result = await awsCall(session, 'DescribeImages', region, () =>
    ec2Of(session, region).send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [digestFilter(session)] }),
      { abortSignal: session.signal },
    ),
  );
  return (result.Images ?? []).find((image) => !DEAD_IMAGE_STATES.has(image.State ?? ''));
}

/** The completed snapshot tagged with this digest in the main region, if any. */
export async function findSnapshot(session: AwsSession): Promise<Snapshot | undefined> {
  const { DescribeSnapshotsCommand } = session.sdk.ec2;
  const region = session.options.region;
  const result = await awsCall(session, 'DescribeSnapshots', region, () =>
    ec2Of(session, region).send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [digestFilter(session), { Name: 'status', Values: ['completed'] }],
      }),
      { abortSignal: session.signal },
    ),
  );
  return result.Snapshots?.[0];
}

/** The root snapshot of an AMI. */
export function snapshotOf(image: Image): string {
  return image.BlockDeviceMappings?.find((mapping) => mapping.Ebs?.SnapshotId)?.Ebs?.SnapshotId ?? '';
}

/** The cloud image as cosa's meta.json has it, from the AMI of each region. */
export function awsCloudImage(
  session: AwsSession,
  images: ReadonlyArray<{ region: string; image: Image }>,
): CloudImage {
  return {
    platform: 'aws',
    arch: session.arch,
    sourceDigest: session.digest,
    name: session.name,
    amis: images.map(({ region, image }) => ({
      name: region,
      hvm: image.ImageId ?? '',
      snapshot: snapshotOf(image),
    })),
  };
}

/** Looks the AMIs (then the snapshot) up by digest in every region: the Upload's fingerprint. */
export async function lookupAws(context: CloudLookupContext<AwsOptions>): Promise<CloudLookup> {
  const session = await openSession(context, () => {}, LOOKUP_ATTEMPTS);
  const found: Array<{ region: string; image: Image }> = [];
  for (const region of [context.options.region, ...context.options.copyToRegions]) {
    const image = await findImage(session, region);
    if (image?.State === 'available') found.push({ region, image });
    else if (image) return { state: 'partial', found: `AMI ${image.ImageId} (${image.State}) in ${region}` };
    else if (found.length > 0) return { state: 'partial', found: `AMI in ${found.length} region(s)` };
    else break;
  }
  if (found.length === 1 + context.options.copyToRegions.length) {
    return { state: 'complete', image: awsCloudImage(session, found) };
  }
  const snapshot = await findSnapshot(session);
  return snapshot ? { state: 'partial', found: `snapshot ${snapshot.SnapshotId}` } : { state: 'absent' };
}
