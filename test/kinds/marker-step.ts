/**
 * Test-only node kinds whose fingerprint sees their own run's effect, as Upload's and Publish's
 * do: the run writes a marker file into the project directory and the fingerprint reads it.
 * `MarkerStep` picks one of two kinds that differ only in their runner's
 * `fingerprintChangesWhenRun`, so a test can compare the executor with and without it.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import type { Artifact } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';

const schema = z
  .object({
    marker: z.string().min(1),
    content: z.string(),
    throwWhenMarked: z.boolean().default(false),
  })
  .strict();

/** Parsed props of {@link MarkerStep} (the kind is chosen by the construct, not recorded here). */
export type MarkerStepConfig = z.output<typeof schema>;

/** Props of {@link MarkerStep}. */
export interface MarkerStepProps {
  /** File name, in the project directory, that the run writes and the fingerprint reads. */
  readonly marker: string;
  /** What the run writes into the marker and its output. */
  readonly content: string;
  /**
   * Whether the runner declares `fingerprintChangesWhenRun`.
   * @default true
   */
  readonly fingerprintChangesWhenRun?: boolean;
  /**
   * The fingerprint throws once the marker exists (a cloud unreachable after the upload).
   * @default false
   */
  readonly throwWhenMarked?: boolean;
}

/** The MarkerStep kind whose runner declares `fingerprintChangesWhenRun`. */
export const markerStepKind = defineKind({
  kind: 'MarkerStep',
  version: 1,
  schema,
  runner: new URL('./marker-step-runner.ts', import.meta.url),
});

/** The same kind without `fingerprintChangesWhenRun`. */
export const unflaggedMarkerStepKind = defineKind({
  kind: 'UnflaggedMarkerStep',
  version: 1,
  schema,
  runner: new URL('./unflagged-marker-step-runner.ts', import.meta.url),
});

/** A node whose run writes a marker into the project directory that its fingerprint reads. */
export class MarkerStep extends Step<Omit<MarkerStepProps, 'fingerprintChangesWhenRun'>, MarkerStepConfig> {
  /** The content written, as a file. */
  readonly output: Artifact<'blob'>;

  constructor(scope: Construct, id: string, props: MarkerStepProps) {
    const { fingerprintChangesWhenRun = true, ...recorded } = props;
    super(scope, id, fingerprintChangesWhenRun ? markerStepKind : unflaggedMarkerStepKind, recorded);
    this.output = this.addOutput('output', 'blob', {});
  }
}
