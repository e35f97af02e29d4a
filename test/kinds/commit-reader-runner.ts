/** The runner of the test-only CommitReader kind: `ostree cat` of one file of the input commit. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defineRunner, requireInput } from '../../lib/runner.ts';
import { commitReaderKind } from './commit-reader.ts';

/** CommitReader: the file's bytes as the output. */
export default defineRunner(commitReaderKind, {
  async run(context) {
    const commit = requireInput(context, context.props.commit);
    const { stdout } = await context.exec('ostree', [
      'cat',
      `--repo=${commit.path}`,
      commit.digest,
      context.props.file,
    ]);
    const file = path.join(context.workDir, 'content');
    await writeFile(file, stdout);
    return { output: { storage: 'file', path: file } };
  },
});
