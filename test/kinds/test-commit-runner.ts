/** The runner of the test-only TestCommit kind (release-doubles.ts): a one-file tree committed to the cache's repository. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defineRunner } from '../../lib/runner.ts';
import { commitTree, ensureArchiveRepository } from '../../lib/tools/ostree.ts';
import { testCommitKind } from './release-doubles.ts';

/** TestCommit: a one-file tree committed to the cache's repository with the compose's metadata. */
export default defineRunner(testCommitKind, {
  async run(context) {
    const { props } = context;
    const tree = path.join(context.workDir, 'tree');
    await mkdir(path.join(tree, 'usr/lib'), { recursive: true });
    await writeFile(path.join(tree, 'usr/lib/os-release'), `VERSION_ID=${props.version}\n`);
    await ensureArchiveRepository(context.exec, context.ostreeRepo);
    const checksum = await commitTree(context.exec, {
      repo: context.ostreeRepo,
      tree,
      ref: props.ref,
      timestamp: props.timestamp,
      subject: `${props.ref} ${props.version}`,
      metadata: { version: props.version },
      bootable: false,
    });
    return {
      commit: {
        storage: 'ostree-commit',
        checksum,
        metadata: { ref: props.ref, version: props.version, arch: props.arch },
      },
    };
  },
});
