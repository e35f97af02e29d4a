/**
 * The GCE uploader, loaded by the Upload runner only: Cloud Storage (resumable, streamed) ->
 * images.insert -> IAM binding. The object and the image are labelled with the image's digest, so
 * a run finds and reuses what an earlier one made.
 */
import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { CloudUploadError } from '../../lib/cloud/errors.ts';
import { type CloudImage, type CloudUploadContext, defineUploader } from '../../lib/cloud/uploader.ts';
import { insertImage, makePublic, startOperation, waitForImageReady, waitForOperation } from './image.ts';
import { type GceOptions, gce } from './index.ts';
import { findImage, gceCloudImage, isOurs, lookupGce, objectIsUploaded } from './lookup.ts';
import { assertCredentials, CALL_ATTEMPTS, openSession } from './session.ts';
import { deleteObject, uploadObject } from './storage.ts';

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

/** The GCE uploader. */
export default defineUploader(gce, { lookup: lookupGce, upload: uploadGce });
