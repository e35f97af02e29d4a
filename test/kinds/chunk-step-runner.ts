/** The runner of the test-only ChunkStep kind: a real child process writes the output in chunks. */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineRunner } from '../../lib/runner.ts';
import { chunkStepKind } from './chunk-step.ts';

/** The child process: maybe a grandchild, then the chunks, each followed by a log line and a pause. */
const CHILD_SCRIPT = fileURLToPath(new URL('./chunk-step-child.cjs', import.meta.url));

export default defineRunner(chunkStepKind, {
  async run(context) {
    const props = context.props;
    const out = path.join(context.workDir, 'output.bin');
    const inputFiles = Object.keys(context.inputs)
      .sort()
      .map((field) => context.inputs[field]!.path);
    await context.exec(process.execPath, [
      CHILD_SCRIPT,
      out,
      props.seed,
      String(props.chunks),
      String(props.chunkKiB),
      String(props.delayMs),
      props.grandchild ? '1' : '0',
      ...inputFiles,
    ]);
    return { output: { storage: 'file', path: out, metadata: { length: (await stat(out)).size } } };
  },
});
