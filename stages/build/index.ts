/**
 * Build: one arch of one build of a stream, as coreos-assembler's meta.json (commit, version, the
 * image files, the cloud images, the previous release as parent), written next to an archive of
 * the commit (`images.ostree`). It is what a Release gathers per arch and what Publish puts under
 * `prod/streams/<stream>/builds/<version>/<arch>/`.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import type { ValidationIssue } from '../../lib/errors.ts';
import { defineKind } from '../../lib/kind.ts';
import { streamNameSchema } from '../../lib/release/stream-name.ts';
import { Step } from '../../lib/step.ts';

/** Props of {@link Build}. */
export interface BuildProps {
  /** The stream the build belongs to (`stable`, `testing`, `next` ...). */
  readonly stream: string;
  /** The ostree commit of the build. */
  readonly commit: Artifact<'ostree-commit'>;
  /** The platform images made from the commit (at least one), all of the commit's arch. */
  readonly images: readonly Artifact<'platform-image'>[];
  /**
   * The images registered in clouds (AMIs, the GCE image, the Azure image), of the commit's arch.
   * @default []
   */
  readonly cloudImages?: readonly Artifact<'cloud-image'>[];
  /**
   * The live ISO and PXE artifacts of the commit: meta.json's `live-iso`, `live-kernel`,
   * `live-initramfs` and `live-rootfs` (release.json's metal `iso` and `pxe` formats).
   * @default none
   */
  readonly live?: Artifact<'live-image'>;
  /**
   * The stream's existing release index (releases.json): a path relative to the project, or an
   * http(s) URL. The build's parent is its newest release of another version with a commit for
   * this arch (meta.json's `fedora-coreos.parent-version` / `parent-commit`); a missing file means
   * no release yet.
   * @default undefined (no parent)
   */
  readonly previousReleases?: string;
}

/** An http(s) URL, or a relative path that stays inside the project. */
const previousReleasesSchema = z.string().refine(
  (value) => {
    if (/^https?:\/\//.test(value)) return URL.canParse(value);
    return !value.startsWith('/') && !value.split(/[\\/]/).includes('..') && value !== '';
  },
  { error: 'expected an http(s) URL or a path relative to the project (without `..`)' },
);

const schema = z
  .object({
    stream: streamNameSchema,
    commit: artifactSchema('ostree-commit'),
    images: z.array(artifactSchema('platform-image')).min(1, { error: 'a build needs at least one image' }),
    cloudImages: z.array(artifactSchema('cloud-image')).default([]),
    live: artifactSchema('live-image').optional(),
    previousReleases: previousReleasesSchema.optional(),
  })
  .strict();

/** Parsed props of {@link Build}. */
export type BuildConfig = z.output<typeof schema>;

/** The Build kind. */
export const buildKind = defineKind({
  kind: 'Build',
  version: 1,
  schema: schema as unknown as z.ZodType<BuildConfig, BuildProps>,
  resources: () => ({ class: 'io' }),
  runner: new URL('./runner.ts', import.meta.url),
});

/** One arch of a build of a stream: cosa's meta.json. */
export class Build extends Step<BuildProps, BuildConfig> {
  /** meta.json. */
  readonly build: Artifact<'build'>;
  /** The commit as an archive-mode ostree repository in a tar file (meta.json's `images.ostree`). */
  readonly ostreeArchive: Artifact<'blob'>;

  constructor(scope: Construct, id: string, props: BuildProps) {
    super(scope, id, buildKind, props);
    const { arch } = this.props.commit.attributes;
    this.build = this.addOutput('build', 'build', { arch, stream: this.props.stream });
    this.ostreeArchive = this.addOutput('ostree', 'blob', {});
    this.addCheck(() => this.checkInputs());
  }

  /** Images and cloud images of the commit's arch; one image per platform and sector size. */
  private checkInputs(): ValidationIssue[] {
    const { arch } = this.props.commit.attributes;
    const issues: ValidationIssue[] = [];
    const seen = new Map<string, number>();
    for (const [index, image] of this.props.images.entries()) {
      const { platform, sectorSize } = image.attributes;
      if (image.attributes.arch !== arch) {
        issues.push(
          this.issue(
            `images.${index}`,
            `the ${image.describe()} is for ${image.attributes.arch}, but the commit (${this.props.commit.describe()}) is for ${arch}`,
          ),
        );
        // Its platform is not compared: it is not this build's image at all.
        continue;
      }
      const key = `${platform}/${sectorSize}`;
      const first = seen.get(key);
      if (first !== undefined) {
        issues.push(
          this.issue(
            `images.${index}`,
            `a second ${platform} image with ${sectorSize}-byte sectors (images.${first} is one): meta.json has one image per platform and sector size`,
          ),
        );
      } else {
        seen.set(key, index);
      }
    }
    const { live } = this.props;
    if (live !== undefined && live.attributes.arch !== arch) {
      issues.push(
        this.issue(
          'live',
          `the ${live.describe()} is for ${live.attributes.arch}, but the commit is for ${arch}`,
        ),
      );
    }
    const clouds = new Map<string, number>();
    for (const [index, cloudImage] of this.props.cloudImages.entries()) {
      if (cloudImage.attributes.arch !== arch) {
        issues.push(
          this.issue(
            `cloudImages.${index}`,
            `the ${cloudImage.describe()} is for ${cloudImage.attributes.arch}, but the commit is for ${arch}`,
          ),
        );
      }
      const first = clouds.get(cloudImage.attributes.platform);
      if (first !== undefined) {
        issues.push(
          this.issue(
            `cloudImages.${index}`,
            `a second ${cloudImage.attributes.platform} cloud image (cloudImages.${first} is one): meta.json has one per cloud`,
          ),
        );
      } else {
        clouds.set(cloudImage.attributes.platform, index);
      }
    }
    return issues;
  }
}
