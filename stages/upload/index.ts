/**
 * Upload: a platform image published to its cloud (AWS, Azure, GCE) through the cloud's SDK; the
 * options schema comes from the platform's folder in targets/, the uploader is loaded only by the
 * runner (runner.ts).
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';
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
export const uploadKind = defineKind({
  kind: 'Upload',
  version: 1,
  schema: schema as unknown as z.ZodType<UploadConfig, UploadProps>,
  resources: () => ({ class: 'net' }),
  runner: new URL('./runner.ts', import.meta.url),
});

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
