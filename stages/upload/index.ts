/**
 * Upload: a platform image published to its cloud (AWS, Azure, GCE) through the cloud's SDK; the
 * options schema and the uploader come from the platform's module in targets/. The runner (at the
 * bottom) is idempotent: its fingerprint is a lookup of the image in the cloud by content digest,
 * so an image that exists is reused, and one deleted in the cloud is uploaded again.
 */
import { randomUUID } from 'node:crypto';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Arch, type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import {
  CloudUploadError,
  type CloudUploader,
  cloudImageOutput,
  describeCloudError,
  withTimeout,
} from '../../lib/cloud/upload.ts';
import { FcosError } from '../../lib/errors.ts';
import { type FingerprintContext, type NodeRunner, registerRunner } from '../../lib/runner.ts';
import { Step, type StepKind } from '../../lib/step.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import type { AwsUploadOptions, AzureUploadOptions, GceUploadOptions } from '../../targets/index.ts';
import { findPlatform, PLATFORMS } from '../../targets/index.ts';

/** Props of {@link Upload}. */
export interface UploadProps {
  /** The platform image to upload; its platform picks the cloud. */
  readonly image: Artifact<'platform-image'>;
  /** Cloud-specific options, validated by the platform's schema (targets/aws.ts ...). */
  readonly options: AwsUploadOptions | AzureUploadOptions | GceUploadOptions;
}

/** Names of the platforms that can be uploaded. */
const uploadablePlatforms = (): string[] =>
  [...PLATFORMS.values()].filter((target) => target.uploadOptions !== undefined).map((target) => target.name);

const schema = z
  .object({
    image: artifactSchema('platform-image'),
    options: z.record(z.string(), z.unknown()),
  })
  .strict()
  .transform((props, context) => {
    const platform = props.image.attributes.platform;
    const optionsSchema = findPlatform(platform)?.uploadOptions;
    if (!optionsSchema) {
      context.addIssue({
        code: 'custom',
        path: ['image'],
        message: `a ${platform} image cannot be uploaded (${props.image.describe()}); Upload supports ${uploadablePlatforms().join(', ')}`,
      });
      return z.NEVER;
    }
    const parsed = optionsSchema.safeParse(props.options);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        if (issue.code === 'unrecognized_keys') {
          for (const key of issue.keys) {
            context.addIssue({
              code: 'custom',
              path: ['options', ...issue.path, key],
              message: `unknown ${platform} upload option`,
            });
          }
        } else {
          context.addIssue({
            code: 'custom',
            path: ['options', ...issue.path],
            message: `${platform}: ${issue.message}`,
          });
        }
      }
      return z.NEVER;
    }
    const { arch } = props.image.attributes;
    return { image: props.image, platform, arch, options: parsed.data };
  });

/** Parsed props of {@link Upload}. */
export type UploadConfig = z.output<typeof schema>;

/** The Upload kind. */
export const uploadKind: StepKind<UploadProps, UploadConfig> = {
  kind: 'Upload',
  version: 1,
  module: import.meta.url,
  schema: schema as unknown as z.ZodType<UploadConfig, UploadProps>,
  resources: () => ({ class: 'net' }),
};

/** A platform image registered in its cloud. */
export class Upload extends Step<UploadProps, UploadConfig> {
  /** The cloud image (AMI ids per region, GCE image, Azure image). */
  readonly cloudImage: Artifact<'cloud-image'>;

  constructor(scope: Construct, id: string, props: UploadProps) {
    super(scope, id, uploadKind, props);
    const { arch, platform } = this.props.image.attributes;
    this.cloudImage = this.addOutput('cloudImage', 'cloud-image', { arch, platform });
  }
}

/** Props of an Upload node as its runner sees them (canonical JSON from pipeline.json). */
interface UploadNodeProps {
  readonly [key: string]: JsonValue;
  readonly platform: string;
  readonly arch: Arch;
  readonly options: { readonly [key: string]: JsonValue };
}

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
export const uploadRunner: NodeRunner<UploadNodeProps> = {
  kind: 'Upload',
  version: 1,
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
};

registerRunner(uploadRunner);
