/** The runner of the test-only TreeStep kind: writes its files, and checksums its input with sha256sum. */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defineRunner, requireInput } from '../../lib/runner.ts';
import { treeStepKind } from './tree-step.ts';

export default defineRunner(treeStepKind, {
  async run(context) {
    const directory = path.join(context.workDir, 'repo');
    await mkdir(directory, { recursive: true });
    for (const [name, content] of Object.entries(context.props.files)) {
      await mkdir(path.dirname(path.join(directory, name)), { recursive: true });
      await writeFile(path.join(directory, name), content);
    }
    if (context.props.input) {
      const input = requireInput(context, context.props.input).path;
      const files = (await readdir(input, { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => path.relative(input, path.join(entry.parentPath, entry.name)))
        .sort();
      const { stdout } = await context.exec('sha256sum', ['--', ...files], { cwd: input });
      await writeFile(path.join(directory, 'checksums.txt'), `${stdout}\n`);
    }
    return { repo: { storage: 'tree', path: directory } };
  },
});
