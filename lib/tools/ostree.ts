/**
 * ostree: the cache's archive repository and reproducible commits. Quirks handled here (ostree
 * 2022.7): without `--timestamp` the checksum changes every run; a commit on an existing branch
 * gets a parent unless `--parent=none`; xattrs and owners of the build host leak in unless
 * `--no-xattrs --owner-uid=0 --owner-gid=0`; an object already in the repository is never written
 * again, even a corrupt one (so a commit is checked after it is written, see commitTree).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { FcosError } from '../errors.ts';
import type { ToolExec } from '../exec.ts';
import type { JsonValue } from '../util/canonical-json.ts';
import { describeProblems, fsckCommits, removeCorruptObjects } from './ostree-fsck.ts';

/** Creates the archive-mode repository `repo` unless it exists (atomically: init elsewhere, rename). */
export async function ensureArchiveRepository(exec: ToolExec, repo: string): Promise<void> {
  if (existsSync(path.join(repo, 'config'))) return;
  await mkdir(path.dirname(repo), { recursive: true });
  const staging = await mkdtemp(`${repo}.init-`);
  try {
    await exec('ostree', ['init', '--mode=archive', `--repo=${staging}`]);
    await rename(staging, repo).catch((error: NodeJS.ErrnoException) => {
      // Another process created it first: theirs is as good as ours.
      if (!existsSync(path.join(repo, 'config'))) throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Options of {@link commitTree}. */
export interface CommitTreeOptions {
  /** The archive repository. */
  readonly repo: string;
  /** The directory to commit. */
  readonly tree: string;
  /** The branch (ref) the commit is written to and bound to. */
  readonly ref: string;
  /** Commit timestamp, seconds since the epoch. */
  readonly timestamp: number;
  /** Commit subject. */
  readonly subject: string;
  /**
   * String metadata (`version` ...).
   * @default {}
   */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * Other metadata as GVariant text (`add-commit-metadata` values that are not strings).
   * @default {}
   */
  readonly variantMetadata?: Readonly<Record<string, JsonValue>>;
  /**
   * Mark the commit bootable (kernel and initramfs under usr/lib/modules); false for layers.
   * @default true
   */
  readonly bootable?: boolean;
}

/**
 * Commits `tree` to `ref` reproducibly and returns the commit checksum; the commit's objects are
 * checked (fsck) and any found damaged are removed and written again.
 */
export async function commitTree(exec: ToolExec, options: CommitTreeOptions): Promise<string> {
  const args = [
    `--repo=${options.repo}`,
    'commit',
    `--branch=${options.ref}`,
    `--tree=dir=${options.tree}`,
    '--parent=none',
    `--timestamp=@${options.timestamp}`,
    '--owner-uid=0',
    '--owner-gid=0',
    '--no-xattrs',
    ...(options.bootable === false ? [] : ['--bootable']),
    '--fsync=false',
    `--subject=${options.subject}`,
  ];
  for (const [key, value] of Object.entries(options.metadata ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    args.push(`--add-metadata-string=${key}=${value}`);
  }
  for (const [key, value] of Object.entries(options.variantMetadata ?? {}).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    args.push(`--add-metadata=${key}=${toGVariantText(value)}`);
  }
  const checksum = await commitOnce(exec, args);
  // ostree keeps an object it already has, even a corrupt one, so a commit is only as sound as the
  // objects already in the repository: check this commit's, and write again those found damaged.
  const check = await fsckCommits(options.repo, [checksum], { exec });
  if (check.damagedCommits.length === 0) return checksum;
  await removeCorruptObjects(options.repo, check.problems);
  const rewritten = await commitOnce(exec, args);
  const recheck = await fsckCommits(options.repo, [rewritten], { exec });
  if (recheck.damagedCommits.length > 0) {
    throw new CommitRepairError(
      `commit ${rewritten} of ${options.tree} is still damaged after its ${check.problems.length} damaged object(s) were written again: ${describeProblems(recheck.problems)}`,
    );
  }
  return rewritten;
}

/** Runs `ostree commit` with `args`; returns the checksum it printed. */
async function commitOnce(exec: ToolExec, args: readonly string[]): Promise<string> {
  const result = await exec('ostree', args);
  const checksum = result.stdout.trim();
  if (!/^[0-9a-f]{64}$/.test(checksum))
    throw new Error(`ostree commit printed '${checksum}', not a checksum`);
  return checksum;
}

/** A commit still has damaged objects after they were removed and written again (a failing disk?). */
export class CommitRepairError extends FcosError {}

/** GVariant text of a JSON value (the syntax `ostree commit --add-metadata` parses). */
export function toGVariantText(value: JsonValue): string {
  if (value === null) return '@mv nothing';
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isInteger(value) ? `int64 ${value}` : `${value}`;
  if (Array.isArray(value)) {
    if (value.length === 0) return '@as []';
    return `[${value.map((item) => toGVariantText(item)).join(', ')}]`;
  }
  const entries = Object.entries(value).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return '@a{sv} {}';
  return `{${entries.map(([key, item]) => `'${key}': <${toGVariantText(item)}>`).join(', ')}}`;
}
