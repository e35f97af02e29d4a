/**
 * Test-only node kinds that stand in for the producers a Build and a Release read, so that the
 * release kinds run through the real executor in seconds: `TestCommit` (a real ostree commit of a
 * one-file tree, with RpmOstreeCompose's metadata), `TestImage` (a small file named and described
 * as PlatformImage names and describes images), `TestCloudImage` (Upload's metadata, given by the
 * test) and `TestReport` (a KolaTest report with the results the test asks for; like KolaTest it
 * fails on a failed test unless told to tolerate failures).
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Arch, type Artifact, archSchema, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';

const commitSchema = z
  .object({
    arch: archSchema.default('x86_64'),
    version: z.string(),
    ref: z.string().default('fedora/x86_64/coreos/testing'),
    timestamp: z.number().int().nonnegative().default(1_700_000_000),
  })
  .strict();

/** Props of {@link TestCommit}. */
export interface TestCommitProps {
  /**
   * Architecture.
   * @default 'x86_64'
   */
  readonly arch?: Arch;
  /** The commit's `version`. */
  readonly version: string;
  /**
   * Its ref.
   * @default 'fedora/x86_64/coreos/testing'
   */
  readonly ref?: string;
  /**
   * Its timestamp, seconds since the epoch.
   * @default 1700000000
   */
  readonly timestamp?: number;
}

/** The TestCommit kind. */
export const testCommitKind = defineKind({
  kind: 'TestCommit',
  version: 1,
  schema: commitSchema,
  runner: new URL('./test-commit-runner.ts', import.meta.url),
});

/** A real ostree commit of a one-file tree. */
export class TestCommit extends Step<TestCommitProps, z.output<typeof commitSchema>> {
  /** The commit. */
  readonly commit: Artifact<'ostree-commit'>;

  constructor(scope: Construct, id: string, props: TestCommitProps) {
    super(scope, id, testCommitKind, props);
    this.commit = this.addOutput('commit', 'ostree-commit', { arch: this.props.arch });
  }
}

const imageSchema = z
  .object({
    commit: artifactSchema('ostree-commit'),
    platform: z.string(),
    ignitionPlatformId: z.string().optional(),
    sectorSize: z.union([z.literal(512), z.literal(4096)]).default(512),
    extension: z.string().default('qcow2.xz'),
    arch: archSchema.optional(),
    osName: z.string().default('fedora-coreos'),
  })
  .strict();

/** Props of {@link TestImage}. */
export interface TestImageProps {
  /** The commit it is "made" from. */
  readonly commit: Artifact<'ostree-commit'>;
  /** Platform name. */
  readonly platform: string;
  /**
   * Ignition platform id.
   * @default the platform name
   */
  readonly ignitionPlatformId?: string;
  /**
   * Sector size.
   * @default 512
   */
  readonly sectorSize?: 512 | 4096;
  /**
   * File extension (the format key in release.json).
   * @default 'qcow2.xz'
   */
  readonly extension?: string;
  /**
   * Architecture declared at synthesis (to test the arch checks).
   * @default the commit's
   */
  readonly arch?: Arch;
  /**
   * OS name.
   * @default 'fedora-coreos'
   */
  readonly osName?: string;
}

/** The TestImage kind. */
export const testImageKind = defineKind({
  kind: 'TestImage',
  version: 1,
  schema: imageSchema,
  runner: new URL('./test-image-runner.ts', import.meta.url),
});

/** A small file standing for a platform image, with PlatformImage's metadata. */
export class TestImage extends Step<TestImageProps, z.output<typeof imageSchema>> {
  /** The image. */
  readonly image: Artifact<'platform-image'>;

  constructor(scope: Construct, id: string, props: TestImageProps) {
    super(scope, id, testImageKind, props);
    this.image = this.addOutput('image', 'platform-image', {
      arch: this.props.arch ?? this.props.commit.attributes.arch,
      platform: this.props.platform,
      sectorSize: this.props.sectorSize,
    });
  }
}

const cloudImageSchema = z
  .object({
    image: artifactSchema('platform-image'),
    metadata: z.record(z.string(), z.unknown()),
    arch: archSchema.optional(),
  })
  .strict();

/** Props of {@link TestCloudImage}. */
export interface TestCloudImageProps {
  /** The uploaded image. */
  readonly image: Artifact<'platform-image'>;
  /** The cloud fields (`amis`, `gcp`, `azure`) of the output's metadata. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /**
   * Architecture declared at synthesis.
   * @default the image's
   */
  readonly arch?: Arch;
}

/** The TestCloudImage kind. */
export const testCloudImageKind = defineKind({
  kind: 'TestCloudImage',
  version: 1,
  schema: cloudImageSchema,
  runner: new URL('./test-cloud-image-runner.ts', import.meta.url),
});

/** A cloud image with Upload's metadata, uploaded nowhere. */
export class TestCloudImage extends Step<TestCloudImageProps, z.output<typeof cloudImageSchema>> {
  /** The cloud image. */
  readonly cloudImage: Artifact<'cloud-image'>;

  constructor(scope: Construct, id: string, props: TestCloudImageProps) {
    super(scope, id, testCloudImageKind, props);
    this.cloudImage = this.addOutput('cloudImage', 'cloud-image', {
      arch: this.props.arch ?? this.props.image.attributes.arch,
      platform: this.props.image.attributes.platform,
    });
  }
}

const reportSchema = z
  .object({
    results: z.array(
      z.object({
        name: z.string(),
        result: z.enum(['pass', 'fail', 'skip', 'flaky', 'warn']),
        reason: z.string().optional(),
      }),
    ),
    tolerateFailures: z.boolean().default(false),
  })
  .strict();

/** Props of {@link TestReport}. */
export interface TestReportProps {
  /** The tests and their results. */
  readonly results: ReadonlyArray<{
    readonly name: string;
    readonly result: 'pass' | 'fail' | 'skip' | 'flaky' | 'warn';
    readonly reason?: string;
  }>;
  /**
   * Write the report and succeed even when a test failed (KolaTest fails the node instead).
   * @default false
   */
  readonly tolerateFailures?: boolean;
}

/** The TestReport kind. */
export const testReportKind = defineKind({
  kind: 'TestReport',
  version: 1,
  schema: reportSchema,
  runner: new URL('./test-report-runner.ts', import.meta.url),
});

/** A KolaTest-shaped report with given results. */
export class TestReport extends Step<TestReportProps, z.output<typeof reportSchema>> {
  /** The report directory (report.json). */
  readonly report: Artifact<'test-report'>;

  constructor(scope: Construct, id: string, props: TestReportProps) {
    super(scope, id, testReportKind, props);
    this.report = this.addOutput('report', 'test-report', {});
  }
}
