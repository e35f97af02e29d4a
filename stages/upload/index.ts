/**
 * Upload: a platform image published to its cloud through the cloud's SDK. The options schema
 * comes from the platform's data (targets/<cloud>/index.ts, or a platform a project registered);
 * synthesis records where the cloud's uploader module is, and only the runner (runner.ts) loads it.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import type { AnyUploadOptions } from '../../lib/platform.ts';
import { Step } from '../../lib/step.ts';
import { currentProjectDir } from '../../lib/synth/session.ts';
import { portableModuleSpec } from '../../lib/util/package-root.ts';
import { findPlatform, platformNames } from '../../targets/index.ts';

/** Props of {@link Upload}. */
export interface UploadProps {
  /** The platform image to upload; its platform picks the cloud. */
  readonly image: Artifact<'platform-image'>;
  /**
   * Cloud-specific options, validated by the platform's schema (targets/aws/index.ts ...): one of
   * the entries of `UploadOptionsByPlatform`, which each cloud's folder adds to.
   */
  readonly options: AnyUploadOptions;
}

/** Names of the platforms that can be uploaded. */
const uploadablePlatforms = (): string[] =>
  platformNames().filter((name) => findPlatform(name)?.upload !== undefined);

const schema = z
  .object({
    image: artifactSchema('platform-image'),
    options: z.record(z.string(), z.unknown()),
  })
  .strict()
  .transform((props, context) => {
    const platform = props.image.attributes.platform;
    const upload = findPlatform(platform)?.upload;
    if (!upload) {
      context.addIssue({
        code: 'custom',
        path: ['image'],
        message: `a ${platform} image cannot be uploaded (${props.image.describe()}); Upload supports ${uploadablePlatforms().join(', ')}`,
      });
      return z.NEVER;
    }
    const parsed = upload.options.safeParse(props.options);
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
    return {
      image: props.image,
      platform,
      arch,
      options: parsed.data as Readonly<Record<string, unknown>>,
      // Where the runner finds the cloud's uploader: portable like a runner spec.
      uploader: portableModuleSpec(upload.uploaderFile, currentProjectDir()),
    };
  });

/** Parsed props of {@link Upload}. */
export type UploadConfig = z.output<typeof schema>;

/** The Upload kind. */
export const uploadKind = defineKind({
  kind: 'Upload',
  // v2: the props record the uploader module (`uploader`).
  version: 2,
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
