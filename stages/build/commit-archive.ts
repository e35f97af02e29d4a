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
  await exec('tar', [
    '--create',
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
  ]);
}
