/**
 * The AMI: registered from the snapshot (hvm, gp3, ENA, UEFI), waited for, copied to further regions
 * (reusing copies tagged with the digest) and shared (public or with accounts).
 */
import type { Image } from '@aws-sdk/client-ec2';
import { CloudTaskFailedError } from '../../lib/cloud/errors.ts';
import { pollUntil } from '../../lib/cloud/polling.ts';
import { DEAD_IMAGE_STATES, findImage, snapshotOf } from './lookup.ts';
import { type AwsSession, awsCall, ec2Of, imageTags, waitOptions } from './session.ts';

/** Registers the AMI from the snapshot (hvm, gp3 root, ENA, UEFI), tagged at creation. */
export async function registerImage(session: AwsSession, snapshotId: string): Promise<Image> {
  const { RegisterImageCommand } = session.sdk.ec2;
  const region = session.options.region;
  const aarch64 = session.arch === 'aarch64';
  const result = await awsCall(session, 'RegisterImage', region, () =>
    ec2Of(session, region).send(
      new RegisterImageCommand({
        Name: session.name,
        Description: `Fedora CoreOS ${session.arch} (sha256 ${session.digest})`,
        Architecture: aarch64 ? 'arm64' : 'x86_64',
        VirtualizationType: 'hvm',
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: { SnapshotId: snapshotId, VolumeType: 'gp3', DeleteOnTermination: true },
          },
        ],
        EnaSupport: true,
        SriovNetSupport: 'simple',
        BootMode: aarch64 ? 'uefi' : 'uefi-preferred',
        ...(session.options.imdsV2Only ? { ImdsSupport: 'v2.0' as const } : {}),
        TagSpecifications: [{ ResourceType: 'image', Tags: imageTags(session) }],
      }),
      { abortSignal: session.signal },
    ),
  );
  session.log(`registered AMI ${result.ImageId} in ${region} from snapshot ${snapshotId}`);
  return { ImageId: result.ImageId!, State: 'pending' };
}

/** Waits until the AMI is available; it, described. */
export async function waitForImage(session: AwsSession, region: string, imageId: string): Promise<Image> {
  const { DescribeImagesCommand } = session.sdk.ec2;
  return pollUntil(
    waitOptions(session, `DescribeImages ${imageId}`, `AMI ${imageId} in ${region} to become available`),
    async () => {
      const result = await awsCall(session, 'DescribeImages', region, () =>
        ec2Of(session, region).send(new DescribeImagesCommand({ ImageIds: [imageId] }), {
          abortSignal: session.signal,
        }),
      );
      const image = result.Images?.[0];
      if (image?.State === 'available') return image;
      if (image && DEAD_IMAGE_STATES.has(image.State ?? '')) {
        throw new CloudTaskFailedError(
          'aws',
          `RegisterImage (${region})`,
          `AMI ${imageId} became ${image.State}: ${image.StateReason?.Message ?? 'no reason given'}`,
          session.nodePath,
        );
      }
      return undefined;
    },
  );
}

/** Copies the AMI into `region` (reusing a copy tagged with the digest) and waits for it. */
export async function copyImage(session: AwsSession, source: Image, region: string): Promise<Image> {
  const { CopyImageCommand, CreateTagsCommand } = session.sdk.ec2;
  const existing = await findImage(session, region);
  let imageId = existing?.ImageId;
  if (imageId) {
    session.log(`reusing copy ${imageId} in ${region}`);
  } else {
    const result = await awsCall(session, 'CopyImage', region, () =>
      ec2Of(session, region).send(
        new CopyImageCommand({
          Name: session.name,
          Description: source.Description,
          SourceImageId: source.ImageId,
          SourceRegion: session.options.region,
          CopyImageTags: true,
          TagSpecifications: [{ ResourceType: 'image', Tags: imageTags(session) }],
        }),
        { abortSignal: session.signal },
      ),
    );
    imageId = result.ImageId!;
    session.log(`copying ${source.ImageId} to ${region} as ${imageId}`);
  }
  const image = await waitForImage(session, region, imageId);
  const snapshotId = snapshotOf(image);
  if (snapshotId) {
    await awsCall(session, 'CreateTags', region, () =>
      ec2Of(session, region).send(
        new CreateTagsCommand({ Resources: [snapshotId], Tags: imageTags(session) }),
        {
          abortSignal: session.signal,
        },
      ),
    );
  }
  return image;
}

/** Makes the AMIs public, or grants the named accounts launch permission, in every region. */
export async function grantLaunchPermissions(
  session: AwsSession,
  images: ReadonlyArray<{ region: string; image: Image }>,
): Promise<void> {
  const grants = [
    ...(session.options.public ? [{ Group: 'all' as const }] : []),
    ...session.options.launchPermissionAccounts.map((UserId) => ({ UserId })),
  ];
  if (grants.length === 0) return;
  const { ModifyImageAttributeCommand } = session.sdk.ec2;
  for (const { region, image } of images) {
    await awsCall(session, 'ModifyImageAttribute', region, () =>
      ec2Of(session, region).send(
        new ModifyImageAttributeCommand({ ImageId: image.ImageId, LaunchPermission: { Add: grants } }),
        { abortSignal: session.signal },
      ),
    );
  }
  session.log(
    `launch permission: ${grants.map((grant) => ('Group' in grant ? 'public' : grant.UserId)).join(', ')}`,
  );
}
