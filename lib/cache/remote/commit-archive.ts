/**
 * An ostree commit as one file that a remote cache can carry: an archive-mode repository holding
 * just that commit and its objects (`ostree pull-local`, depth 0: no parents), in a tar. The
 * archive is a blob like any other (named by its own sha256); the commit checksum finds it
 * through a small pointer entry (lib/run/remote-artifacts.ts). On the way in, `ostree pull-local
 * --untrusted` checks every object's checksum as it copies it into the cache's repository, so a
 * tampered archive cannot put a commit there that does not match its name.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ToolExec } from '../../exec.ts';

/** Writes `archive`: a tar of a fresh archive repository holding `commit` from `repository`. */
export async function exportCommitArchive(
  exec: ToolExec,
  repository: string,
  commit: string,
  archive: string,
): Promise<void> {
  const scratch = await mkdtemp(`${archive}.repo-`);
  try {
    await exec('ostree', ['init', '--mode=archive', `--repo=${scratch}`]);
    await exec('ostree', ['pull-local', `--repo=${scratch}`, '--depth=0', repository, commit]);
    await exec('tar', ['--numeric-owner', '-C', scratch, '-cf', archive, '--', 'config', 'objects']);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Copies `commit` from the tar `archive` into `repository` (an existing archive-mode repository),
 * every object checked against its checksum on the way; the tar is unpacked under `scratchParent`. Rejects when the archive does not hold
 * the commit or an object does not match.
 */
export async function importCommitArchive(
  exec: ToolExec,
  repository: string,
  commit: string,
  archive: string,
  scratchParent: string,
): Promise<void> {
  await mkdir(scratchParent, { recursive: true });
  const scratch = await mkdtemp(path.join(scratchParent, `${process.pid}-commit-import-`));
  try {
    await exec('tar', ['--no-same-owner', '-C', scratch, '-xf', archive]);
    await exec('ostree', ['pull-local', `--repo=${repository}`, '--untrusted', '--depth=0', scratch, commit]);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
