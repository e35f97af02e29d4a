/**
 * Publish: a release copied into a destination (a directory, or an S3 bucket) with the layout of
 * builds.coreos.fedoraproject.org: the image files and their signatures, meta.json and
 * release.json, the stream's archive ostree repository (signed commits and summary), the release
 * and builds indexes, the update metadata, the public key, and the stream metadata last. The
 * construct reads what the release was made of from its producers (the Release's builds, each
 * Build's commit, images and ostree archive), so a pipeline hands over only the release.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { Artifact, type ArtifactType, artifactSchema } from '../../lib/artifacts.ts';
import type { ValidationIssue } from '../../lib/errors.ts';
import { defineKind } from '../../lib/kind.ts';
import { projectPathSchema } from '../../lib/schemas.ts';
import { SIGNING_MODES, type SigningMode } from '../../lib/signing/modes.ts';
import { Step } from '../../lib/step.ts';
import { DEFAULT_BASE_URL } from '../release/index.ts';

/** An S3 bucket (or a prefix of one) to publish into. */
export interface S3DestinationProps {
  /** The bucket. */
  readonly bucket: string;
  /**
   * Key prefix the layout goes under (`fcos/` → `fcos/prod/streams/...`).
   * @default '' (the bucket's root)
   */
  readonly prefix?: string;
  /**
   * The bucket's region.
   * @default AWS_REGION of the environment, else us-east-1
   */
  readonly region?: string;
  /**
   * An S3-compatible endpoint (MinIO, Ceph ...).
   * @default AWS's
   */
  readonly endpoint?: string;
  /**
   * Address the bucket in the URL path instead of the host name.
   * @default true when `endpoint` is given, else false
   */
  readonly forcePathStyle?: boolean;
}

/** Where a release is published. */
export type PublishDestinationProps =
  /** A directory of the project (fcos-serve serves it). */
  | { readonly directory: string }
  /** An S3 bucket. */
  | { readonly s3: S3DestinationProps };

/** A file of a build that is published beside its meta.json. */
export type PublishedFileArtifact = Artifact<'platform-image'> | Artifact<'blob'> | Artifact<'live-image'>;

/** Props of {@link Publish}. */
export interface PublishProps {
  /** The release to publish (its release.json). */
  readonly release: Artifact<'release'>;
  /**
   * The stream's update metadata, published as `updates/<stream>.json`.
   * @default undefined (the destination's update metadata is left as it is)
   */
  readonly updates?: Artifact<'update-metadata'>;
  /** Where to publish: `{ directory }` (relative to the project) or `{ s3: { bucket, ... } }`. */
  readonly destination: PublishDestinationProps;
  /**
   * `environment`: sign with the key the FCOS_SIGNING_* environment names, or not at all when it
   * names none; `throwaway`: that key, else the cache's throwaway key (local builds); `none`.
   * @default 'environment'
   */
  readonly signing?: SigningMode;
  /**
   * Base URL the destination is served from (the release index links release.json under it).
   * @default the Release's `baseUrl`, else 'http://127.0.0.1:8080'
   */
  readonly baseUrl?: string;
  /**
   * The builds of the release, one meta.json per arch.
   * @default the `builds` of the Release that produced `release`
   */
  readonly builds?: readonly Artifact<'build'>[];
  /**
   * The ostree commits of the builds (their stream repository refs).
   * @default the `commit` of each Build of `builds`
   */
  readonly commits?: readonly Artifact<'ostree-commit'>[];
  /**
   * The files the builds' meta.json list (matched by sha256).
   * @default the `images`, the `live` image and the ostree archive of each Build of `builds`
   */
  readonly files?: readonly PublishedFileArtifact[];
}

/** A file artifact a build publishes. */
const publishedFileSchema = z.custom<PublishedFileArtifact>(
  (value) =>
    Artifact.isArtifact(value) &&
    (value.type === 'platform-image' || value.type === 'blob' || value.type === 'live-image'),
  {
    error: (issue) =>
      Artifact.isArtifact(issue.input)
        ? `expected a platform-image, live-image or blob artifact, got the ${issue.input.describe()}`
        : 'expected a platform-image or blob artifact (the output of another construct)',
  },
);

const s3Schema = z
  .object({
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'expected an S3 bucket name' }),
    prefix: z
      .string()
      .default('')
      .refine((prefix) => !prefix.startsWith('/') && !prefix.split('/').includes('..'), {
        error: 'a key prefix neither starts with / nor contains ..',
      })
      // A prefix names a folder: `fcos` and `fcos/` both put the layout under `fcos/`.
      .transform((prefix) => (prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`)),
    region: z.string().min(1).optional(),
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    forcePathStyle: z.boolean().optional(),
  })
  .strict()
  .transform((s3) => ({ ...s3, forcePathStyle: s3.forcePathStyle ?? s3.endpoint !== undefined }));

const destinationSchema = z.union([
  z.object({ directory: projectPathSchema() }).strict(),
  z.object({ s3: s3Schema }).strict(),
]);

const schema = z
  .object({
    release: artifactSchema('release'),
    updates: artifactSchema('update-metadata').optional(),
    destination: destinationSchema,
    signing: z.enum(SIGNING_MODES).default('environment'),
    baseUrl: z.url({ protocol: /^https?$/ }).transform((url) => url.replace(/\/+$/, '')),
    builds: z.array(artifactSchema('build')).min(1, {
      error:
        'the release has no builds: give `builds` (and `commits`, `files`) when the release is not made by a Release',
    }),
    commits: z.array(artifactSchema('ostree-commit')).min(1, {
      error: 'no ostree commit: give `commits` when the builds are not made by Build',
    }),
    files: z.array(publishedFileSchema).default([]),
  })
  .strict()
  .transform((props) => ({ ...props, stream: props.release.attributes.stream }));

/** Parsed props of {@link Publish}. */
export type PublishConfig = z.output<typeof schema>;

/** The Publish kind. */
export const publishKind = defineKind({
  kind: 'Publish',
  version: 1,
  schema: schema as unknown as z.ZodType<PublishConfig, PublishProps>,
  resources: (props) => ({ class: 's3' in props.destination ? 'net' : 'io' }),
  runner: new URL('./runner.ts', import.meta.url),
});

/** A construct's props, when it is a Step of `kind` (read without importing its class). */
function propsOfProducer(artifact: Artifact | undefined, kind: string): Readonly<Record<string, unknown>> {
  const producer = artifact?.producer as { readonly kind?: string; readonly props?: unknown } | undefined;
  if (producer?.kind !== kind || typeof producer.props !== 'object' || producer.props === null) return {};
  return producer.props as Readonly<Record<string, unknown>>;
}

/** The artifacts of type `type` in `value` (one, an array, or a record of them). */
function artifactsIn<T extends ArtifactType>(value: unknown, types: readonly T[]): Artifact<T>[] {
  const candidates = Array.isArray(value)
    ? value
    : Artifact.isArtifact(value)
      ? [value]
      : typeof value === 'object' && value !== null
        ? Object.values(value)
        : [];
  return candidates.filter(
    (candidate): candidate is Artifact<T> =>
      Artifact.isArtifact(candidate) && (types as readonly ArtifactType[]).includes(candidate.type),
  );
}

/** The builds of the Release that produced `release`. */
function releaseBuilds(release: Artifact<'release'> | undefined): Artifact<'build'>[] {
  return artifactsIn(propsOfProducer(release, 'Release').builds, ['build']);
}

/** The commit of the Build that produced each build. */
function buildCommits(builds: readonly Artifact<'build'>[]): Artifact<'ostree-commit'>[] {
  return builds.flatMap((build) => artifactsIn(propsOfProducer(build, 'Build').commit, ['ostree-commit']));
}

/** The images and ostree archive of the Build that produced each build. */
function buildFiles(builds: readonly Artifact<'build'>[]): PublishedFileArtifact[] {
  return builds.flatMap((build) => {
    const images = artifactsIn(propsOfProducer(build, 'Build').images, ['platform-image']);
    const live = artifactsIn(propsOfProducer(build, 'Build').live, ['live-image']);
    const producer = build.producer as { readonly kind?: string; readonly ostreeArchive?: unknown };
    const archive = producer.kind === 'Build' ? artifactsIn(producer.ostreeArchive, ['blob']) : [];
    return [...images, ...live, ...archive];
  });
}

/** The base URL the Release that produced `release` links its files under. */
function releaseBaseUrl(release: Artifact<'release'> | undefined): string {
  const baseUrl = propsOfProducer(release, 'Release').baseUrl;
  return typeof baseUrl === 'string' ? baseUrl : DEFAULT_BASE_URL;
}

/** A release published into a directory or an S3 bucket. */
export class Publish extends Step<PublishProps, PublishConfig> {
  /** What was published: keys written and skipped, bytes sent, the stream's versions (JSON). */
  readonly publication: Artifact<'publication'>;

  constructor(scope: Construct, id: string, props: PublishProps) {
    const builds = props.builds ?? releaseBuilds(props.release);
    super(scope, id, publishKind, {
      ...props,
      baseUrl: props.baseUrl ?? releaseBaseUrl(props.release),
      builds,
      commits: props.commits ?? buildCommits(builds),
      files: props.files ?? buildFiles(builds),
    });
    this.publication = this.addOutput('publication', 'publication', { stream: this.props.stream });
    this.addCheck(() => this.checkStreams());
  }

  /** Builds and update metadata of the release's stream; one build and one commit per arch. */
  private checkStreams(): ValidationIssue[] {
    const { stream, builds, commits, updates } = this.props;
    const issues: ValidationIssue[] = [];
    const arches = new Map<string, number>();
    for (const [index, build] of builds.entries()) {
      if (build.attributes.stream !== stream) {
        issues.push(
          this.issue(
            `builds.${index}`,
            `the ${build.describe()} is of stream ${build.attributes.stream}, but the release is of ${stream}`,
          ),
        );
      }
      const first = arches.get(build.attributes.arch);
      if (first !== undefined) {
        issues.push(
          this.issue(`builds.${index}`, `a second ${build.attributes.arch} build (builds.${first} is one)`),
        );
      } else arches.set(build.attributes.arch, index);
    }
    const commitArches = new Map<string, number>();
    for (const [index, commit] of commits.entries()) {
      const first = commitArches.get(commit.attributes.arch);
      if (first !== undefined) {
        issues.push(
          this.issue(
            `commits.${index}`,
            `a second ${commit.attributes.arch} commit (commits.${first} is one): a stream has one ref per arch`,
          ),
        );
      } else commitArches.set(commit.attributes.arch, index);
    }
    if (updates !== undefined && updates.attributes.stream !== stream) {
      issues.push(
        this.issue(
          'updates',
          `the ${updates.describe()} is of stream ${updates.attributes.stream}, but the release is of ${stream}`,
        ),
      );
    }
    return issues;
  }
}
