/** The runner of the test-only UnflaggedMarkerStep kind: MarkerStep's, without `fingerprintChangesWhenRun`. */
import { defineRunner } from '../../lib/runner.ts';
import { unflaggedMarkerStepKind } from './marker-step.ts';
import { markerRunnerDefinition } from './marker-step-runner.ts';

export default defineRunner(unflaggedMarkerStepKind, markerRunnerDefinition(false));
