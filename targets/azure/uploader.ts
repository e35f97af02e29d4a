/**
 * The Azure uploader, loaded by the Upload runner only: page blob (non-zero ranges only) -> managed
 * image or gallery image version. The blob's metadata and the image's tags hold the image's digest,
 * so a run finds and reuses what an earlier one made.
 */
import { stat } from 'node:fs/promises';
import { CloudUploadError } from '../../lib/cloud/errors.ts';
import { type CloudImage, type CloudUploadContext, defineUploader } from '../../lib/cloud/uploader.ts';
import { uncompressed } from '../../lib/tools/compress.ts';
import { createImage } from './image.ts';
import { type AzureOptions, azure } from './index.ts';
import { assertOurs, azureCloudImage, blobIsComplete, findImage, lookupAzure } from './lookup.ts';
import { assertFixedVhd, uploadPageBlob } from './page-blob.ts';
import { CALL_RETRIES, openSession } from './session.ts';

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
  const file = await uncompressed(context.exec, context.imagePath, context.workDir, `${session.name}.vhd`);
  const { size } = await stat(file);
  assertFixedVhd(session, size);
  if (await blobIsComplete(session, size))
    context.log(`reusing blob ${session.blob.url} (uploaded by an earlier run)`);
  else await uploadPageBlob(session, file, size);
  const id = await createImage(session);
  return azureCloudImage(session, context, id);
}

/** The Azure uploader. */
export default defineUploader(azure, { lookup: lookupAzure, upload: uploadAzure });
