/**
 * Release: release.json of one stream, every arch of one build, made only when the tests given as
 * gates passed. It is what UpdateMetadata and Publish take; Publish puts it at
 * `prod/streams/<stream>/builds/<version>/release.json`.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import type { ValidationIssue } from '../../lib/errors.ts';
import { defineKind } from '../../lib/kind.ts';
import { streamNameSchema } from '../../lib/release/stream-name.ts';
import { Step } from '../../lib/step.ts';

/** Where fcos-serve serves a destination by default: the base URL of a local release. */
export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

/** Props of {@link Release}. */
export interface ReleaseProps {
  /** The stream released to. */
  readonly stream: string;
  /** The build of each arch (one per arch), all of this stream. */
  readonly builds: readonly Artifact<'build'>[];
  /**
   * Test reports that gate the release: a failed test in any of them stops it (denylisted,
   * skipped and flaky tests do not).
   * @default []
   */
  readonly tests?: readonly Artifact<'test-report'>[];
  /**
   * The URL the destination is served from; release.json's file locations are below it
   * (`<baseUrl>/prod/streams/<stream>/builds/<version>/<arch>/<file>`).
   * @default 'http://127.0.0.1:8080'
   */
  readonly baseUrl?: string;
}

const schema = z
  .object({
    stream: streamNameSchema,
    builds: z
      .array(artifactSchema('build'))
      .min(1, { error: 'a release needs the build of at least one arch' }),
    tests: z.array(artifactSchema('test-report')).default([]),
    baseUrl: z
      .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
      .transform((url) => url.replace(/\/+$/, ''))
      .default(DEFAULT_BASE_URL),
  })
  .strict();

/** Parsed props of {@link Release}. */
export type ReleaseConfig = z.output<typeof schema>;

/** The Release kind. */
export const releaseKind = defineKind({
  kind: 'Release',
  version: 1,
  schema: schema as unknown as z.ZodType<ReleaseConfig, ReleaseProps>,
  runner: new URL('./runner.ts', import.meta.url),
});

/** A release of a stream: release.json, gated on test reports. */
export class Release extends Step<ReleaseProps, ReleaseConfig> {
  /** release.json. */
  readonly release: Artifact<'release'>;

  constructor(scope: Construct, id: string, props: ReleaseProps) {
    super(scope, id, releaseKind, props);
    this.release = this.addOutput('release', 'release', { stream: this.props.stream });
    this.addCheck(() => this.checkBuilds());
  }

  /** Every build of this stream, one per arch. */
  private checkBuilds(): ValidationIssue[] {
    const issues: ValidationIssue[] = [];
    const arches = new Map<string, number>();
    for (const [index, build] of this.props.builds.entries()) {
      const { arch, stream } = build.attributes;
      if (stream !== this.props.stream) {
        issues.push(
          this.issue(
            `builds.${index}`,
            `the ${build.describe()} is of stream '${stream}', but this release is of '${this.props.stream}'`,
          ),
        );
      }
      const first = arches.get(arch);
      if (first !== undefined) {
        issues.push(
          this.issue(
            `builds.${index}`,
            `a second ${arch} build (builds.${first} is one): a release has one build per arch`,
          ),
        );
      } else {
        arches.set(arch, index);
      }
    }
    return issues;
  }
}
