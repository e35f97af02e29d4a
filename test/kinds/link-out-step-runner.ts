/** The runner of the test-only LinkOutStep kind: a DirectoryDestination writes the input under its key. */
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DirectoryDestination } from '../../lib/release/destinations/directory.ts';
import { defineRunner } from '../../lib/runner.ts';
import { linkOutStepKind } from './link-out-step.ts';

export default defineRunner(linkOutStepKind, {
  async run(context) {
    const input = context.inputs[context.props.input.$input]!;
    const destination = new DirectoryDestination(
      path.resolve(context.projectDir, context.props.directory),
      context.props.plainLink || !context.keepInputsTrusted
        ? {}
        : { keepInputsTrusted: context.keepInputsTrusted },
    );
    const { size } = await stat(input.path);
    await destination.write('published.txt', { file: input.path, size }, input.digest);
    const out = path.join(context.workDir, 'record.txt');
    await writeFile(out, `published.txt ${input.digest}\n`);
    return { output: { storage: 'file', path: out, metadata: {} } };
  },
});
