/**
 * The Azure image made from the page blob: a managed image (Hyper-V V2, Linux, generalized) or a
 * gallery image version, tagged with the digest, its long-running operation bounded in time.
 */
import {
  CloudCredentialsError,
  CloudPermissionError,
  CloudTaskFailedError,
  CloudWaitTimeoutError,
  describeCloudError,
} from '../../lib/cloud/errors.ts';
import { withTimeout } from '../../lib/cloud/polling.ts';
import { galleryVersion } from './lookup.ts';
import { AZURE_DIGEST_TAG, type AzureSession, azureError } from './session.ts';

/** Creates the managed image (Hyper-V V2, Linux, generalized) or gallery image version; its id. */
export async function createImage(session: AzureSession): Promise<string> {
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
