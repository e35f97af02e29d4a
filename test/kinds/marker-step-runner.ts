/**
 * The runner of the test-only MarkerStep kind (marker-step.ts): the run writes the marker into the
 * project directory; the fingerprint reads it (fresh while it is absent, as Upload's lookup is
 * while the cloud holds nothing) and appends what it saw to `<marker>.fingerprints`, so that a
 * test can tell when it was called.
 */
import { randomUUID } from 'node:crypto';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defineRunner, type NodeProps, type RunnerDefinition } from '../../lib/runner.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import { type MarkerStepConfig, markerStepKind } from './marker-step.ts';

/** The definition of a MarkerStep runner, with or without `fingerprintChangesWhenRun`. */
export function markerRunnerDefinition(
  fingerprintChangesWhenRun: boolean,
): RunnerDefinition<NodeProps<MarkerStepConfig>> {
  return {
    fingerprintChangesWhenRun,
    async fingerprint(context): Promise<JsonValue> {
      const marker = path.join(context.projectDir, context.props.marker);
      const calls = `${marker}.fingerprints`;
      const content = await readFile(marker, 'utf8').catch(() => undefined);
      if (content === undefined) {
        await appendFile(calls, 'absent\n');
        return { marker: null, nonce: randomUUID() };
      }
      if (context.props.throwWhenMarked) {
        await appendFile(calls, 'threw\n');
        throw new Error('the marker is unreadable on purpose');
      }
      await appendFile(calls, 'present\n');
      return { marker: content };
    },
    async run(context) {
      await writeFile(path.join(context.projectDir, context.props.marker), context.props.content);
      const output = path.join(context.workDir, 'output.txt');
      await writeFile(output, context.props.content);
      return { output: { storage: 'file', path: output } };
    },
  };
}

export default defineRunner(markerStepKind, markerRunnerDefinition(true));
