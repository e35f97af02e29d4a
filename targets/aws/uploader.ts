/**
 * The AWS uploader, loaded by the Upload runner only: S3 (multipart, streamed) -> ImportSnapshot ->
 * RegisterImage -> copies and permissions. Every object it creates is tagged with the image's
 * digest, so a run finds and reuses what an earlier one made.
 */

import type { CloudImage, CloudUploadContext } from '../../lib/cloud/uploader.ts';
import { defineUploader } from '../../lib/cloud/uploader.ts';
import { copyImage, grantLaunchPermissions, registerImage, waitForImage } from './ami.ts';
import { type AwsOptions, aws } from './index.ts';
import { awsCloudImage, findImage, findSnapshot, lookupAws } from './lookup.ts';
import { deleteStagedObject } from './s3-staging.ts';
import { CALL_ATTEMPTS, openSession } from './session.ts';
import { importSnapshot } from './snapshot-import.ts';

/** Uploads the image to AWS, reusing the AMIs, snapshot, import task or staged object it finds. */
async function uploadAws(context: CloudUploadContext<AwsOptions>): Promise<CloudImage> {
  const session = await openSession(context, context.log, CALL_ATTEMPTS);
  const { region } = context.options;
  let image = await findImage(session, region);
  if (image) {
    context.log(`reusing AMI ${image.ImageId} in ${region} (tagged with the image digest)`);
  } else {
    let snapshotId = (await findSnapshot(session))?.SnapshotId;
    if (snapshotId) context.log(`resuming from snapshot ${snapshotId} (imported by an earlier run)`);
    else snapshotId = await importSnapshot(session, context);
    image = await registerImage(session, snapshotId);
  }
  const images = [{ region, image: await waitForImage(session, region, image.ImageId!) }];
  for (const target of context.options.copyToRegions) {
    images.push({ region: target, image: await copyImage(session, images[0]!.image, target) });
  }
  await grantLaunchPermissions(session, images);
  if (!context.options.keepObject) await deleteStagedObject(session);
  return awsCloudImage(session, images);
}

/** The AWS uploader. */
export default defineUploader(aws, { lookup: lookupAws, upload: uploadAws });
