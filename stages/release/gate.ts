/**
 * The release's gates: the test reports (KolaTest's `report.json`) must have no failed test.
 * Skipped (denylisted, not applicable), warned (denylisted with `warn`) and flaky (passed on
 * rerun) tests do not gate, as kola's own exit status does not count them either.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ReleaseError, ReleaseGateError } from './errors.ts';

/** The part of a test report a gate reads. */
const reportSchema = z
  .object({
    node: z.string(),
    tests: z.array(
      z
        .object({
          name: z.string(),
          result: z.enum(['pass', 'fail', 'skip', 'flaky', 'warn']),
          reason: z.string().optional(),
        })
        .loose(),
    ),
  })
  .loose();

/** A test report input: its field and where its directory is. */
export interface GateInput {
  /** The input's field (`tests.0`). */
  readonly field: string;
  /** The report directory (report.json inside). */
  readonly path: string;
}

/** Throws a ReleaseGateError naming every failed test and its report's node; returns how many tests were read. */
export async function checkGates(gates: readonly GateInput[], nodePath: string): Promise<number> {
  const failed: string[] = [];
  const reasons: string[] = [];
  let firstField: string | undefined;
  let total = 0;
  for (const gate of gates) {
    const file = path.join(gate.path, 'report.json');
    let json: unknown;
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      throw new ReleaseError(
        `the test report of '${gate.field}' cannot be read: ${(error as Error).message}`,
        {
          constructPath: nodePath,
          field: gate.field,
          cause: error,
        },
      );
    }
    const parsed = reportSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ReleaseError(
        `the test report of '${gate.field}' is not a KolaTest report (${issue?.path.join('.')}: ${issue?.message})`,
        { constructPath: nodePath, field: gate.field },
      );
    }
    total += parsed.data.tests.length;
    for (const test of parsed.data.tests) {
      if (test.result !== 'fail') continue;
      firstField ??= gate.field;
      failed.push(`${parsed.data.node}: ${test.name}`);
      reasons.push(`  - ${test.name} (${parsed.data.node}): ${test.reason ?? 'failed'}`);
    }
  }
  if (failed.length > 0) {
    throw new ReleaseGateError(
      `not released: ${failed.length} gating test${failed.length === 1 ? '' : 's'} failed:\n${reasons.join('\n')}`,
      failed,
      { constructPath: nodePath, field: firstField ?? 'tests' },
    );
  }
  return total;
}
