/**
 * The Upload runner, idempotent: its fingerprint is a lookup of the image in the cloud by content
 * digest, so an image that exists is reused, and one deleted in the cloud is uploaded again. The
 * cloud's uploader (and its SDK) is imported from the module synthesis recorded, on first need.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CloudUploadError, describeCloudError } from '../../lib/cloud/errors.ts';
import { withTimeout } from '../../lib/cloud/polling.ts';
import type { CloudImage, CloudUploader } from '../../lib/cloud/uploader.ts';
import { loadUploader } from '../../lib/cloud/uploader-module.ts';
import { FcosError } from '../../lib/errors.ts';
import {
  defineRunner,
  type FingerprintContext,
  type NodeProps,
  type RunnerOutput,
  requireInput,
} from '../../lib/runner.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import { type UploadConfig, uploadKind } from './index.ts';

/** Props of the node as its runner receives them. */
type UploadNodeProps = NodeProps<UploadConfig>;

/** Time limit of the fingerprint's lookup: it runs for every Upload node on every run. */
const LOOKUP_TIMEOUT_MS = 60_000;

/** The file name of the cloud image output. */
export const CLOUD_IMAGE_FILE = 'cloud-image.json';

/** The node's uploader (imported from the recorded module) and its options, parsed by the cloud's schema. */
async function uploaderFor(
  context: Pick<FingerprintContext<UploadNodeProps>, 'nodePath' | 'props' | 'projectDir'>,
): Promise<{ readonly uploader: CloudUploader; readonly options: unknown }> {
  const { props, nodePath } = context;
  const uploader = await loadUploader(props.uploader, props.platform, {
    projectDir: context.projectDir,
    nodePath,
  });
  try {
    return { uploader, options: uploader.parseOptions(props.options) };
  } catch (error) {
    throw new FcosError(
      `the ${props.platform} upload options are not valid for its uploader (${describeCloudError(error)}): run fcos-synth again`,
      { constructPath: nodePath, field: 'options' },
    );
  }
}

/** Writes the cloud image as `cloud-image.json` and returns it as the Upload's output. */
async function cloudImageOutput(workDir: string, image: CloudImage): Promise<RunnerOutput> {
  const file = path.join(workDir, CLOUD_IMAGE_FILE);
  await writeFile(file, `${JSON.stringify(image, null, 2)}\n`);
  return { storage: 'file', path: file, metadata: image };
}

/**
 * The fingerprint: what the cloud holds for the image's digest. A complete image gives a stable
 * fingerprint (its ids), so the node is served from the cache while the image exists. Anything else
 * (nothing, a half-finished upload, a lookup that could not run) gives a fresh one, so that the node
 * runs: it uploads, resumes, or fails with the cloud's message. It never carries a secret: only
 * ids, states and the name of an error.
 */
async function fingerprintUpload(context: FingerprintContext<UploadNodeProps>): Promise<JsonValue> {
  const image = context.inputs.image;
  if (!image) return null;
  const { uploader, options } = await uploaderFor(context);
  try {
    const found = await uploader.lookup({
      nodePath: context.nodePath,
      options,
      digest: image.digest,
      arch: context.props.arch,
      signal: withTimeout(context.signal, LOOKUP_TIMEOUT_MS),
    });
    if (found.state === 'complete') return { cloud: uploader.cloud, lookup: 'found', image: found.image };
    return {
      cloud: uploader.cloud,
      lookup: found.state,
      ...(found.state === 'partial' ? { found: found.found } : {}),
      nonce: randomUUID(),
    };
  } catch (error) {
    context.signal.throwIfAborted();
    const reason = error instanceof CloudUploadError ? `${error.name} in ${error.call}` : 'lookup failed';
    return { cloud: uploader.cloud, lookup: 'unavailable', reason, nonce: randomUUID() };
  }
}

/** The Upload runner: dispatches to the uploader of the image's platform. */
export default defineRunner(uploadKind, {
  retryable: true,
  timeoutSeconds: 6 * 3600,
  fingerprint: fingerprintUpload,
  // The upload puts the image in the cloud the fingerprint looks up: re-key it so the next run is a hit.
  fingerprintChangesWhenRun: true,
  async run(context) {
    const image = requireInput(context, context.props.image);
    const { uploader, options } = await uploaderFor(context);
    const log = context.log;
    log(`uploading the image (sha256 ${image.digest}) to ${uploader.cloud}`);
    try {
      const cloudImage = await uploader.upload({
        nodePath: context.nodePath,
        options,
        digest: image.digest,
        arch: context.props.arch,
        signal: context.signal,
        imagePath: image.path,
        workDir: context.workDir,
        log,
        exec: context.exec,
      });
      return { cloudImage: await cloudImageOutput(context.workDir, cloudImage) };
    } catch (error) {
      if (context.signal.aborted || error instanceof FcosError) throw error;
      throw new CloudUploadError(uploader.cloud, 'upload', describeCloudError(error), context.nodePath);
    }
  },
});
