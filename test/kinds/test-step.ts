/**
 * Test-only node kinds that run real child processes, for executor tests: `TestStep` writes a file
 * from its content and inputs, after sleeping; it can fail its first attempts, fail always, or
 * leave a grandchild process behind (to check that cancellation kills whole process groups).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { registerRunner } from '../../lib/runner.ts';
import { Step, type StepKind } from '../../lib/step.ts';

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

type TestStepConfig = z.output<typeof schema>;

const testStepKind: StepKind<TestStepProps, TestStepConfig> = {
  kind: 'TestStep',
  version: 1,
  module: import.meta.url,
  schema,
  resources: (props) =>
    props.resourceClass === 'vm'
      ? { class: 'vm', memoryMiB: props.memoryMiB }
      : { class: props.resourceClass },
};

/** A node whose work is a real child process writing a file. */
export class TestStep extends Step<TestStepProps, TestStepConfig> {
  /** The written file. */
  readonly output: Artifact<'blob'>;

  constructor(scope: Construct, id: string, props: TestStepProps) {
    super(scope, id, testStepKind, props);
    this.output = this.addOutput('output', 'blob', {});
  }
}

/** The child process: sleep, maybe spawn a grandchild, then write the output or fail. */
const CHILD_SCRIPT = fileURLToPath(new URL('./test-step-child.cjs', import.meta.url));

registerRunner<TestStepConfig>({
  kind: 'TestStep',
  version: 1,
  retryable: true,
  async run(context) {
    const props = context.props;
    let fail = props.fail;
    if (props.failAttempts > 0 && props.stateDir) {
      await mkdir(props.stateDir, { recursive: true });
      const counter = path.join(props.stateDir, `${context.nodePath.replace(/\//g, '_')}.attempts`);
      const attempts = Number(await readFile(counter, 'utf8').catch(() => '0')) + 1;
      await writeFile(counter, String(attempts));
      if (attempts <= props.failAttempts) fail = true;
    }
    const pidFile = props.stateDir
      ? path.join(props.stateDir, `${context.nodePath.replace(/\//g, '_')}.pids`)
      : '';
    if (props.spawnGrandchild && props.stateDir) await mkdir(props.stateDir, { recursive: true });
    const out = path.join(context.workDir, 'output.txt');
    const inputFiles = Object.keys(context.inputs)
      .sort()
      .map((field) => context.inputs[field]!.path);
    await context.exec(process.execPath, [
      CHILD_SCRIPT,
      out,
      props.content,
      String(props.sleepMs),
      fail ? '1' : '0',
      props.spawnGrandchild ? '1' : '0',
      pidFile,
      ...inputFiles,
    ]);
    return { output: { storage: 'file', path: out, metadata: { length: (await readFile(out)).length } } };
  },
});

const orphanKind: StepKind<Record<string, never>, Record<string, never>> = {
  kind: 'OrphanStep',
  version: 1,
  module: import.meta.url,
  schema: z.object({}).strict(),
  resources: () => ({ class: 'cpu' }),
};

/** A kind whose module registers no runner, for the executor's "no runner" error. */
export class OrphanStep extends Step<Record<string, never>, Record<string, never>> {
  constructor(scope: Construct, id: string) {
    super(scope, id, orphanKind, {});
    this.addOutput('output', 'blob', {});
  }
}
