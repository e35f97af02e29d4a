/**
 * The Upload runner, idempotent: its fingerprint is a lookup of the image in the cloud by content
 * digest, so an image that exists is reused, and one deleted in the cloud is uploaded again.
 */
import { randomUUID } from 'node:crypto';
import type { Arch } from '../../lib/artifacts.ts';
import {
  CloudUploadError,
  type CloudUploader,
  cloudImageOutput,
  describeCloudError,
  withTimeout,
} from '../../lib/cloud/upload.ts';
import { FcosError } from '../../lib/errors.ts';
import { defineRunner, type FingerprintContext, type NodeProps } from '../../lib/runner.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import { findPlatform } from '../../targets/index.ts';
import { type UploadConfig, uploadKind } from './index.ts';

/** Props of the node as its runner receives them. */
type UploadNodeProps = NodeProps<UploadConfig>;

/** Time limit of the fingerprint's lookup: it runs for every Upload node on every run. */
const LOOKUP_TIMEOUT_MS = 60_000;

/** The platform's uploader and its parsed options, for a node's props. */
function uploaderFor(nodePath: string, props: UploadNodeProps) {
  const target = findPlatform(props.platform);
  if (!target?.uploader || !target.uploadOptions) {
    throw new FcosError(`platform ${props.platform} has no uploader; run fcos-synth again`, {
      constructPath: nodePath,
      field: 'image',
    });
  }
  const options = target.uploadOptions.parse(props.options);
  return { uploader: target.uploader as CloudUploader, options };
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
  const { uploader, options } = uploaderFor(context.nodePath, context.props);
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
  async run(context) {
    const image = context.inputs.image;
    if (!image)
      throw new FcosError(`input 'image' is missing`, { constructPath: context.nodePath, field: 'image' });
    const { uploader, options } = uploaderFor(context.nodePath, context.props);
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
      });
      return { cloudImage: await cloudImageOutput(context.workDir, cloudImage) };
    } catch (error) {
      if (context.signal.aborted || error instanceof FcosError) throw error;
      throw new CloudUploadError(uploader.cloud, 'upload', describeCloudError(error), context.nodePath);
    }
  },
});
