/** The runner of the test-only StubbornStep kind: runs a child that ignores SIGTERM for a while. */
import { fileURLToPath } from 'node:url';
import { defineRunner } from '../../lib/runner.ts';
import { stubbornStepKind } from './stubborn-step.ts';

/** The child process: prints until killed, and for `lingerMs` more after SIGTERM. */
const CHILD_SCRIPT = fileURLToPath(new URL('./stubborn-step-child.cjs', import.meta.url));

export default defineRunner(stubbornStepKind, {
  async run(context) {
    await context.exec(process.execPath, [
      CHILD_SCRIPT,
      String(context.props.lingerMs),
      context.props.pidFile ?? '',
    ]);
    throw new Error('the stubborn child exited by itself');
  },
});
