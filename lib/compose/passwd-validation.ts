/**
 * `check-passwd` and `check-groups` on a composed root, where rpm-ostree runs them
 * (`check_passwd_group_entries`, called by `impl_commit_tree` after the final postprocessing and
 * before the commit): the reference entries read per the key's type (rpm-ostree's default is
 * `previous`), the root's entries as rpm-ostree's /usr/lib files would hold them, the rules of
 * passwd-check.ts, and one typed error naming the key and every offending user or group.
 */
import type { Dirent } from 'node:fs';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ToolExec } from '../exec.ts';
import type { ComposeTreefile } from '../treefile/compose-input.ts';
import { PasswdCheckError } from './errors.ts';
import { type CheckOutcome, checkGroups, checkUsers, missingNames, type TreeOwners } from './passwd-check.ts';
import {
  type AccountFiles,
  PasswdParseError,
  parseGroup,
  parsePasswd,
  type UserIds,
  usrLibGroups,
  usrLibUsers,
} from './passwd-entries.ts';

/** What the validation reads. */
export interface PasswdValidationOptions {
  /** Runs ostree (reading the previous commit). */
  readonly exec: ToolExec;
  /** The composed root, in the ostree layout (/etc is usr/etc). */
  readonly root: string;
  /** treefile.json of the compose input. */
  readonly treefile: ComposeTreefile;
  /** The compose input directory: a `file` type's `filename` is relative to it. */
  readonly inputDirectory: string;
  /** The cache's archive repository, where the previous commit of the ref is. */
  readonly ostreeRepo: string;
  /** Construct path of the compose node, for the error. */
  readonly constructPath: string;
  /** Receives rpm-ostree's informational lines. */
  readonly log: (line: string) => void;
}

/** The previous commit of `ref` in `repo`, or undefined when there is none (rpm-ostree then checks nothing for `previous`). */
async function previousCommit(exec: ToolExec, repo: string, ref: string): Promise<string | undefined> {
  if (!existsSync(path.join(repo, 'config'))) return undefined;
  const result = await exec('ostree', [`--repo=${repo}`, 'rev-parse', ref], { okExitCodes: [0, 1] });
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

/** A file of a commit (`ostree cat`), or undefined when the commit does not have it. */
async function commitFile(
  exec: ToolExec,
  repo: string,
  commit: string,
  file: string,
  constructPath: string,
): Promise<string | undefined> {
  const result = await exec('ostree', [`--repo=${repo}`, 'cat', commit, file], {
    okExitCodes: [0, 1],
    quietStdout: true,
  });
  if (result.exitCode === 0) return result.stdout;
  if (/No such file or directory/.test(result.stderr)) return undefined;
  throw new PasswdCheckError(`reading ${file} of the previous commit ${commit}: ${result.stderr.trim()}`, {
    constructPath,
  });
}

/** A file of the root, or undefined when it does not exist. */
async function rootFile(root: string, file: string): Promise<string | undefined> {
  const full = path.join(root, file);
  return existsSync(full) ? readFile(full, 'utf8') : undefined;
}

/** The uids and gids owning the root or anything under it (not following symlinks, as rpm-ostree's `dir_contains_uid_gid`). */
export async function treeOwners(root: string): Promise<TreeOwners> {
  const uids = new Set<number>();
  const gids = new Set<number>();
  const walk = async (directory: string): Promise<void> => {
    const entries: Dirent[] = await readdir(directory, { withFileTypes: true });
    for (const entry of entries) {
      const child = path.join(directory, entry.name);
      const stats = await lstat(child);
      uids.add(stats.uid);
      gids.add(stats.gid);
      if (entry.isDirectory()) await walk(child);
    }
  };
  const top = await lstat(root);
  uids.add(top.uid);
  gids.add(top.gid);
  await walk(root);
  return { uids, gids };
}

/** Reads the passwd and group files of the previous commit, once, when a `previous` check needs them. */
class PreviousCommit {
  private files: Promise<{ passwd: AccountFiles; group: AccountFiles } | undefined> | undefined;

  constructor(private readonly options: PasswdValidationOptions) {}

  /** The previous commit's files, undefined without a previous commit. */
  read(): Promise<{ passwd: AccountFiles; group: AccountFiles } | undefined> {
    this.files ??= (async () => {
      const { exec, ostreeRepo } = this.options;
      const commit = await previousCommit(exec, ostreeRepo, this.options.treefile.ref);
      if (commit === undefined) return undefined;
      // Both /usr/lib and /usr/etc: a commit of the dnf driver keeps its users in /usr/etc.
      const read = (file: string) => commitFile(exec, ostreeRepo, commit, file, this.options.constructPath);
      return {
        passwd: { usrLib: await read('/usr/lib/passwd'), usrEtc: await read('/usr/etc/passwd') },
        group: { usrLib: await read('/usr/lib/group'), usrEtc: await read('/usr/etc/group') },
      };
    })();
    return this.files;
  }
}

/** The reference users of `check-passwd` (none for `none`, and for `previous` without a previous commit). */
async function referenceUsers(
  options: PasswdValidationOptions,
  previous: PreviousCommit,
): Promise<Map<string, UserIds>> {
  const config = options.treefile['check-passwd'] ?? { type: 'previous' };
  switch (config.type) {
    case 'none':
      return new Map();
    case 'file':
      return parsePasswd(
        await readFile(path.resolve(options.inputDirectory, config.filename), 'utf8'),
        `check-passwd file ${config.filename}`,
      );
    case 'data':
      return new Map(
        Object.entries(config.entries).map(([name, ids]): [string, UserIds] => {
          // `CheckPasswdDataEntries::ids`: one id for both, `[id]`, or `[uid, gid]`.
          const [uid, gid] = typeof ids === 'number' ? [ids, ids] : [ids[0], ids[1] ?? ids[0]];
          return [name, { uid, gid }];
        }),
      );
    case 'previous': {
      const files = await previous.read();
      return files === undefined ? new Map() : usrLibUsers(files.passwd, 'the previous commit');
    }
  }
}

/** The reference groups of `check-groups`, as {@link referenceUsers}. */
async function referenceGroups(
  options: PasswdValidationOptions,
  previous: PreviousCommit,
): Promise<Map<string, number>> {
  const config = options.treefile['check-groups'] ?? { type: 'previous' };
  switch (config.type) {
    case 'none':
      return new Map();
    case 'file':
      return parseGroup(
        await readFile(path.resolve(options.inputDirectory, config.filename), 'utf8'),
        `check-groups file ${config.filename}`,
      );
    case 'data':
      return new Map(Object.entries(config.entries));
    case 'previous': {
      const files = await previous.read();
      return files === undefined ? new Map() : usrLibGroups(files.group, 'the previous commit');
    }
  }
}

/** Runs `body`, turning a parse error into a {@link PasswdCheckError} about `key`. */
async function aboutKey<T>(key: string, constructPath: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof PasswdParseError)
      throw new PasswdCheckError(`${key}: ${error.message}`, { constructPath, field: key, cause: error });
    throw error;
  }
}

/** Logs the notes and throws the offences of one key's check. */
function report(
  key: 'check-passwd' | 'check-groups',
  type: string,
  outcome: CheckOutcome,
  options: PasswdValidationOptions,
) {
  for (const note of outcome.notes) options.log(`${key}: ${note}`);
  if (outcome.offences.length === 0) return;
  const what = key === 'check-passwd' ? 'user' : 'group';
  const count = outcome.offences.length;
  throw new PasswdCheckError(
    `${key} (type ${type}): ${count} ${what}${count === 1 ? '' : 's'} failed the check:\n${outcome.offences.map((line) => `  ${line}`).join('\n')}`,
    { constructPath: options.constructPath, field: key },
  );
}

/**
 * Checks the root's users, then its groups (rpm-ostree's order: a failing passwd check stops
 * before the groups), against the treefile's `check-passwd`/`check-groups`.
 */
export async function validatePasswdAndGroups(options: PasswdValidationOptions): Promise<void> {
  const { root, treefile, constructPath } = options;
  const previous = new PreviousCommit(options);
  let owners: TreeOwners | undefined;
  // The walk of the whole tree is only needed when some reference entry is missing.
  const ownersIfNeeded = async (missing: readonly string[]): Promise<TreeOwners> => {
    if (missing.length === 0) return { uids: new Set(), gids: new Set() };
    owners ??= await treeOwners(root);
    return owners;
  };
  const users = await aboutKey('check-passwd', constructPath, async () => {
    const reference = await referenceUsers(options, previous);
    const composed = usrLibUsers(
      { usrLib: await rootFile(root, 'usr/lib/passwd'), usrEtc: await rootFile(root, 'usr/etc/passwd') },
      'the composed tree',
    );
    const ownersNeeded = await ownersIfNeeded(missingNames(composed, reference));
    return checkUsers(composed, reference, {
      ignoreRemoved: treefile['ignore-removed-users'],
      owners: ownersNeeded,
    });
  });
  report('check-passwd', treefile['check-passwd']?.type ?? 'previous', users, options);
  const groups = await aboutKey('check-groups', constructPath, async () => {
    const reference = await referenceGroups(options, previous);
    const composed = usrLibGroups(
      { usrLib: await rootFile(root, 'usr/lib/group'), usrEtc: await rootFile(root, 'usr/etc/group') },
      'the composed tree',
    );
    const ownersNeeded = await ownersIfNeeded(missingNames(composed, reference));
    return checkGroups(composed, reference, {
      ignoreRemoved: treefile['ignore-removed-groups'],
      owners: ownersNeeded,
    });
  });
  report('check-groups', treefile['check-groups']?.type ?? 'previous', groups, options);
}
