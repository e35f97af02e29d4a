/**
 * Test-only node kinds defined the way a fork defines one (a construct here, its runner in
 * test-step-runner.ts), for executor tests: `TestStep` writes a file from its content and inputs
 * in a real child process, after sleeping; it can fail its first attempts, fail always, or leave a
 * grandchild process behind (to check that cancellation kills whole process groups).
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';

/** Props of {@link TestStep}. */
export interface TestStepProps {
  /** Text written to the output. */
  readonly content: string;
  /**
   * Files whose content is appended to the output.
   * @default []
   */
  readonly inputs?: readonly Artifact<'blob'>[];
  /**
   * How long the child process sleeps before writing, in ms.
   * @default 0
   */
  readonly sleepMs?: number;
  /**
   * Fail this many attempts before succeeding (counted in files under `stateDir`).
   * @default 0
   */
  readonly failAttempts?: number;
  /**
   * Always fail.
   * @default false
   */
  readonly fail?: boolean;
  /**
   * Start a grandchild `sleep` in the same process group and record pids in `stateDir`.
   * @default false
   */
  readonly spawnGrandchild?: boolean;
  /**
   * Directory for attempt counters and pid files (absolute; tests only).
   * @default undefined
   */
  readonly stateDir?: string;
  /**
   * Resource class to schedule in.
   * @default 'cpu'
   */
  readonly resourceClass?: 'cpu' | 'io' | 'net' | 'vm';
  /**
   * Memory for the vm class, in MiB.
   * @default 256
   */
  readonly memoryMiB?: number;
}

const schema = z
  .object({
    content: z.string(),
    inputs: z.array(artifactSchema('blob')).default([]),
    sleepMs: z.number().int().nonnegative().default(0),
    failAttempts: z.number().int().nonnegative().default(0),
    fail: z.boolean().default(false),
    spawnGrandchild: z.boolean().default(false),
    stateDir: z.string().optional(),
    resourceClass: z.enum(['cpu', 'io', 'net', 'vm']).default('cpu'),
    memoryMiB: z.number().int().positive().default(256),
  })
  .strict();

/** Parsed props of {@link TestStep}. */
export type TestStepConfig = z.output<typeof schema>;

/** The TestStep kind. */
export const testStepKind = defineKind({
  kind: 'TestStep',
  version: 1,
  schema,
  resources: (props) =>
    props.resourceClass === 'vm'
      ? { class: 'vm', memoryMiB: props.memoryMiB }
      : { class: props.resourceClass },
  runner: new URL('./test-step-runner.ts', import.meta.url),
});

/** A node whose work is a real child process writing a file. */
export class TestStep extends Step<TestStepProps, TestStepConfig> {
  /** The written file. */
  readonly output: Artifact<'blob'>;

  constructor(scope: Construct, id: string, props: TestStepProps) {
    super(scope, id, testStepKind, props);
    this.output = this.addOutput('output', 'blob', {});
  }
}

const orphanKind = defineKind<Record<string, never>, Record<string, never>>({
  kind: 'OrphanStep',
  version: 1,
  schema: z.object({}).strict(),
  runner: new URL('./not-a-runner.ts', import.meta.url),
});

/** A kind whose runner module exports no runner, for the executor's error about it. */
export class OrphanStep extends Step<Record<string, never>, Record<string, never>> {
  constructor(scope: Construct, id: string) {
    super(scope, id, orphanKind, {});
    this.addOutput('output', 'blob', {});
  }
}
