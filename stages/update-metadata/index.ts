/**
 * UpdateMetadata: a stream's `updates/<stream>.json` (barriers, dead-ends, staged rollouts), the
 * document the update graph is built from. Entries are typed camelCase props, written in the real
 * snake_case format by the runner (runner.ts) through lib/release/update-metadata.ts. An entry may
 * name the release being built (a `release` artifact, its version known only at run time): that
 * Release becomes an input of the node.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { Artifact } from '../../lib/artifacts.ts';
import type { ValidationIssue } from '../../lib/errors.ts';
import { defineKind } from '../../lib/kind.ts';
import { updateMetadataSchema } from '../../lib/release/formats.ts';
import { compareReleaseVersions } from '../../lib/release/update-metadata.ts';
import { projectPathSchema, simpleNameSchema } from '../../lib/schemas.ts';
import { Step } from '../../lib/step.ts';

/** A barrier or dead-end: why. */
export interface UpdateReasonProps {
  /** Why (a URL to the tracker issue, usually); Zincati shows a dead-end's reason at login. */
  readonly reason: string;
}

/** A staged rollout of one release. */
export interface RolloutProps {
  /**
   * When the rollout starts, Unix seconds.
   * @default the release's snapshot time (the newest commit timestamp of its builds), when
   * `version` is a Release; required for a version given as a string
   */
  readonly startEpoch?: number;
  /**
   * Share of the fleet (0–1) offered the release at the start.
   * @default 0
   */
  readonly startPercentage?: number;
  /**
   * Minutes from the start until the whole fleet is offered it.
   * @default undefined (the share stays at startPercentage)
   */
  readonly durationMinutes?: number;
}

/** What the update metadata says about one release. */
export interface UpdateEntryProps {
  /** The release: its version, or the Release being built (its version is read at run time). */
  readonly version: string | Artifact<'release'>;
  /**
   * Every update path to a later release goes through this one.
   * @default undefined (not a barrier)
   */
  readonly barrier?: UpdateReasonProps;
  /**
   * Machines on this release get no update, and are told why.
   * @default undefined (not a dead-end)
   */
  readonly deadend?: UpdateReasonProps;
  /**
   * Offer the release to a growing share of the fleet.
   * @default undefined (not a rollout; without barrier or rollout a release is no update target)
   */
  readonly rollout?: RolloutProps;
}

/** Props of {@link UpdateMetadata}. */
export interface UpdateMetadataProps {
  /** The stream (`stable`, `testing` ...): the output is `<stream>.json`. */
  readonly stream: string;
  /**
   * What to say about releases, oldest first; each version once. An entry for a version of `from`
   * replaces that entry (its whole metadata); the others are appended.
   * @default []
   */
  readonly releases?: readonly UpdateEntryProps[];
  /**
   * An existing `updates/<stream>.json` of the project to start from; its entries come first.
   * @default undefined (start empty)
   */
  readonly from?: string;
  /**
   * Whether `from` may not exist yet: the destination's own `updates/<stream>.json` before the
   * first publish. A missing file then means no earlier entries; otherwise it is an error.
   * @default false
   */
  readonly allowMissingFrom?: boolean;
  /**
   * The time (Unix seconds) a rollout must have ended by to be collapsed to `start_percentage: 1.0`,
   * and the document's `last-modified`. Never the wall clock, so the output is reproducible.
   * @default the start of the newest rollout (last-modified: that, or the from document's if later)
   */
  readonly asOf?: number;
}

/** A version string, or the output of a Release. */
const versionSchema = z.custom<string | Artifact<'release'>>(
  (value) =>
    (typeof value === 'string' && value.length > 0) ||
    (Artifact.isArtifact(value) && value.type === 'release'),
  {
    error: (issue) => {
      const given = issue.input;
      if (Artifact.isArtifact(given))
        return `expected a version or a release artifact, got the ${given.describe()}`;
      if (given === '') return 'expected a version, got an empty string';
      return `expected a version (a string) or a release artifact (the output of a Release), got ${given === undefined ? 'nothing' : JSON.stringify(given)}`;
    },
  },
);

/** A reason: a non-empty string. */
const reasonSchema = z
  .object({ reason: z.string().min(1, 'give a reason (a URL to the tracker issue)') })
  .strict();

const entrySchema = z
  .object({
    version: versionSchema,
    barrier: reasonSchema.optional(),
    deadend: reasonSchema.optional(),
    rollout: z
      .object({
        startEpoch: z.number().int().nonnegative().optional(),
        startPercentage: z.number().min(0).max(1).default(0),
        durationMinutes: z.number().int().nonnegative().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const schema = z
  .object({
    stream: simpleNameSchema,
    releases: z.array(entrySchema).default([]),
    from: projectPathSchema().optional(),
    allowMissingFrom: z.boolean().default(false),
    asOf: z.number().int().nonnegative().optional(),
  })
  .strict()
  .superRefine((props, context) => {
    for (const issue of entryIssues(props.stream, props.releases)) {
      context.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    }
  });

/** Parsed props of {@link UpdateMetadata}. */
export type UpdateMetadataConfig = z.output<typeof schema>;

/** What synthesis can check of the entries: the same version twice, release order, a Release of another stream. */
function entryIssues(
  stream: string,
  entries: UpdateMetadataConfig['releases'],
): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  const seen = new Map<unknown, number>();
  let previousVersion: { version: string; index: number } | undefined;
  entries.forEach((entry, index) => {
    const path = ['releases', index, 'version'];
    const version = entry.version;
    // The same Release artifact (producer and output) or the same string twice.
    const identity =
      typeof version === 'string' ? version : `${version.producer.node.path}#${version.output}`;
    const earlier = seen.get(identity);
    if (earlier !== undefined) {
      issues.push({ path, message: `the same release is listed twice (also releases.${earlier})` });
    }
    seen.set(identity, index);
    if (typeof version === 'string' && entry.rollout && entry.rollout.startEpoch === undefined) {
      issues.push({
        path: ['releases', index, 'rollout', 'startEpoch'],
        message: `give the rollout's start (Unix seconds): only a Release's rollout defaults to its snapshot time`,
      });
    }
    if (typeof version !== 'string') {
      if (version.attributes.stream !== stream) {
        issues.push({
          path,
          message: `the ${version.describe()} is of stream '${version.attributes.stream}', not '${stream}'`,
        });
      }
      return;
    }
    if (previousVersion && compareReleaseVersions(previousVersion.version, version) > 0) {
      issues.push({
        path,
        message: `version ${version} is older than ${previousVersion.version} (releases.${previousVersion.index}): list releases oldest first`,
      });
    }
    previousVersion = { version, index };
  });
  return issues;
}

/** The UpdateMetadata kind. */
export const updateMetadataKind = defineKind({
  kind: 'UpdateMetadata',
  version: 1,
  schema: schema as unknown as z.ZodType<UpdateMetadataConfig, UpdateMetadataProps>,
  resources: () => ({ class: 'io' }),
  runner: new URL('./runner.ts', import.meta.url),
});

/** A stream's update metadata: `updates/<stream>.json`. */
export class UpdateMetadata extends Step<UpdateMetadataProps, UpdateMetadataConfig> {
  /** The document (`<stream>.json`), for Publish to put at `updates/<stream>.json`. */
  readonly updates: Artifact<'update-metadata'>;

  constructor(scope: Construct, id: string, props: UpdateMetadataProps) {
    super(scope, id, updateMetadataKind, props);
    this.updates = this.addOutput('updates', 'update-metadata', { stream: this.props.stream });
    this.addCheck(() => this.checkFrom());
  }

  /** The `from` document exists, is update metadata, and is of this stream. */
  private checkFrom(): ValidationIssue[] {
    const from = this.props.from;
    if (from === undefined) return [];
    const file = path.resolve(this.projectDir, from);
    if (!existsSync(file)) {
      return this.props.allowMissingFrom
        ? []
        : [this.issue('from', `update metadata '${from}' does not exist`)];
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      return [this.issue('from', `'${from}' is not JSON: ${(error as Error).message}`)];
    }
    const result = updateMetadataSchema.safeParse(parsed);
    if (!result.success) {
      const first = result.error.issues[0]!;
      return [
        this.issue('from', `'${from}' is not update metadata: ${first.path.join('.')}: ${first.message}`),
      ];
    }
    if (result.data.stream !== this.props.stream) {
      return [
        this.issue(
          'from',
          `'${from}' is the update metadata of stream '${result.data.stream}', not '${this.props.stream}'`,
        ),
      ];
    }
    return [];
  }
}
