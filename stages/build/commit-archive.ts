/**
 * What a Build reads of its commit with the ostree CLI: the commit's own timestamp (meta.json's
 * `ostree-timestamp`, never the wall clock), and the commit as an archive-mode repository in a tar
 * file (meta.json's `images.ostree`, as coreos-assembler's ostree tarball: a repository holding the
 * commit under its ref), which a publisher imports with `ostree pull-local`. The tar is
 * reproducible: sorted names, the commit's time, no owners.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { ToolExec } from '../../lib/exec.ts';
import { BuildError } from './errors.ts';

/** The commit's timestamp as `YYYY-MM-DDTHH:MM:SSZ`, from `ostree show` (which prints it in UTC). */
export async function commitTimestamp(
  exec: ToolExec,
  repo: string,
  checksum: string,
  nodePath: string,
): Promise<string> {
  const { stdout } = await exec('ostree', ['show', `--repo=${repo}`, checksum]);
  const match = /^Date:\s+(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) \+0000$/m.exec(stdout);
  if (!match) {
    throw new BuildError(`ostree show ${checksum} printed no 'Date: ... +0000' line`, {
      constructPath: nodePath,
      field: 'commit',
    });
  }
  return `${match[1]}T${match[2]}Z`;
}

/** What {@link writeCommitArchive} needs. */
export interface CommitArchiveRequest {
  /** The Build node's construct path, for errors. */
  readonly nodePath: string;
  /** The repository holding the commit (read-only). */
  readonly sourceRepo: string;
  /** The commit. */
  readonly checksum: string;
  /** The ref the archive's repository points at the commit. */
  readonly ref: string;
  /** The commit's time (seconds since the epoch): every entry's mtime. */
  readonly timestamp: number;
  /** An empty scratch directory. */
  readonly workDir: string;
  /** The tar file to write. */
  readonly file: string;
}

/** Writes the commit, in a fresh archive-mode repository, as a reproducible tar file. */
export async function writeCommitArchive(exec: ToolExec, request: CommitArchiveRequest): Promise<void> {
  const repo = path.join(request.workDir, 'repo');
  await mkdir(repo, { recursive: true });
  await exec('ostree', ['init', `--repo=${repo}`, '--mode=archive']);
  // --depth=0 (the default): the commit alone, without its parents.
  await exec('ostree', ['pull-local', `--repo=${repo}`, request.sourceRepo, request.checksum]);
  await exec('ostree', ['refs', `--repo=${repo}`, `--create=${request.ref}`, request.checksum]);
  // pull-local hardlinks the objects to the cache's, so another node linking the same objects at
  // this moment (a served or published repository) changes their link count and ctime, which GNU
  // tar reports as "file changed as we read it" with exit 1. Objects are content-addressed and
  // read-only: only their metadata moved. That warning alone is silenced and its exit 1 accepted;
  // any other message tar prints with exit 1 is still a failure.
  const result = await exec(
    'tar',
    [
      '--create',
      '--warning=no-file-changed',
      `--file=${request.file}`,
      `--directory=${repo}`,
      '--sort=name',
      `--mtime=@${request.timestamp}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mode=u+rw,go+r,go-w',
      '--format=gnu',
      '--exclude=./.lock',
      '--exclude=./tmp/*',
      '.',
    ],
    { okExitCodes: [0, 1] },
  );
  if (result.exitCode !== 0 && result.stderr.trim() !== '') {
    throw new BuildError(`tar of the commit archive exited ${result.exitCode}: ${result.stderr.trim()}`, {
      constructPath: request.nodePath,
    });
  }
}
