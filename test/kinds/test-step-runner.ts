/** The runner of the test-only TestStep kind: a real child process writes the output file. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineRunner } from '../../lib/runner.ts';
import { testStepKind } from './test-step.ts';

/** The child process: sleep, maybe spawn a grandchild, then write the output or fail. */
const CHILD_SCRIPT = fileURLToPath(new URL('./test-step-child.cjs', import.meta.url));

export default defineRunner(testStepKind, {
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
