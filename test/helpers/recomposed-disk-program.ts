/**
 * The body of a test program with a real bootable commit and a real DiskImage of it: the tiny OS
 * fixture's commit re-committed into the run's cache by the test-only RecomposedCommit kind
 * (node `Compose`), and a 1 GiB `Disk` of it. Shared by the tests of commits in the cache and in
 * a remote cache.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TinyCommit } from '../global-setup.ts';
import { REPO_ROOT } from './link-project.ts';

/** A program (without the header writeProgram adds) naming its pipeline `name`. */
export function recomposedDiskProgram(name: string, tiny: TinyCommit): string {
  const doubles = pathToFileURL(path.join(REPO_ROOT, 'test/kinds/recomposed-commit.ts')).href;
  const props = {
    sourceRepo: tiny.repo,
    checksum: tiny.checksum,
    ref: tiny.ref,
    version: tiny.version,
    kernelVersion: tiny.kernelVersion,
  };
  return `import { RecomposedCommit } from '${doubles}';
const pipeline = new Pipeline({ name: '${name}' });
const compose = new RecomposedCommit(pipeline, 'Compose', ${JSON.stringify(props)});
const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit, sizeGiB: 1 });
`;
}
