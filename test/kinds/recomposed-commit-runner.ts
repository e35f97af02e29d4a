/** The runner of the test-only RecomposedCommit kind (recomposed-commit.ts): checkout, then commitTree. */
import path from 'node:path';
import { defineRunner } from '../../lib/runner.ts';
import { commitTree, ensureArchiveRepository } from '../../lib/tools/ostree.ts';
import { recomposedCommitKind } from './recomposed-commit.ts';

/** RecomposedCommit: the source commit's tree checked out and committed into the cache's repository. */
export default defineRunner(recomposedCommitKind, {
  async run(context) {
    const { props, exec } = context;
    const tree = path.join(context.workDir, 'tree');
    // -U: a plain copy of every file (an archive repository cannot be hardlinked out of).
    await exec('ostree', ['checkout', `--repo=${props.sourceRepo}`, '-U', props.checksum, tree]);
    await ensureArchiveRepository(exec, context.ostreeRepo);
    const checksum = await commitTree(exec, {
      repo: context.ostreeRepo,
      tree,
      ref: props.ref,
      timestamp: props.timestamp,
      subject: `${props.ref} ${props.version}`,
      metadata: { version: props.version },
    });
    return {
      commit: {
        storage: 'ostree-commit',
        checksum,
        metadata: {
          ref: props.ref,
          version: props.version,
          arch: props.arch,
          kernelVersion: props.kernelVersion,
        },
      },
    };
  },
});
