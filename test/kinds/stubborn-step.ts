/**
 * A test-only node kind whose tool does not stop when asked: `StubbornStep`'s child process traps
 * SIGTERM and keeps writing output for a while (as QEMU does while it shuts down), so that tests
 * can check an interrupted run still ends cleanly while a tool's output keeps arriving.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import type { Artifact } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';

/** Props of {@link StubbornStep}. */
export interface StubbornStepProps {
  /**
   * How long the child keeps printing after SIGTERM, in ms.
   * @default 1000
   */
  readonly lingerMs?: number;
  /**
   * File the child writes its pid to once it runs (absolute; tests only).
   * @default undefined
   */
  readonly pidFile?: string;
}

const schema = z
  .object({
    lingerMs: z.number().int().nonnegative().default(1000),
    pidFile: z.string().optional(),
  })
  .strict();

/** Parsed props of {@link StubbornStep}. */
export type StubbornStepConfig = z.output<typeof schema>;

/** The StubbornStep kind. */
export const stubbornStepKind = defineKind({
  kind: 'StubbornStep',
  version: 1,
  schema,
  runner: new URL('./stubborn-step-runner.ts', import.meta.url),
});

/** A node whose tool keeps printing after it is told to stop, and never finishes by itself. */
export class StubbornStep extends Step<StubbornStepProps, StubbornStepConfig> {
  /** Never produced: the tool runs until it is stopped. */
  readonly output: Artifact<'blob'>;

  constructor(scope: Construct, id: string, props: StubbornStepProps = {}) {
    super(scope, id, stubbornStepKind, props);
    this.output = this.addOutput('output', 'blob', {});
  }
}
