/**
 * `ostree fsck` of chosen commits of an archive repository, and removing what it found damaged.
 *
 * ostree 2022.7's fsck takes no commit: it checks every commit of a repository, and it writes
 * into it (a commit with a missing object is marked partial, a state that `ostree commit` of the
 * same tree never clears, so fsck would fail on it forever). So the check runs in a throwaway
 * shadow repository inside the repository's own `tmp/`: hardlinks of every object except the
 * commits not asked for. fsck traverses the commits it finds, so it reads exactly the objects of
 * the commits asked for, with ostree's own checks (metadata checksums, decompressed content and
 * its header), and the checked repository is never written. fsck has no machine-readable output:
 * the damaged objects and the commits naming them are read from its messages, whose wording is
 * pinned by the tests. When fsck stops early (a commit it cannot traverse: a metadata object
 * missing or unreadable), the metadata objects are re-hashed here (an archive repository stores
 * them as the bytes their checksum is taken of) and each commit is checked on its own, so that one
 * broken commit hides nothing about the others.
 */
import { existsSync, linkSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { errnoCode, isErrno } from '../cache/fs-helpers.ts';
import { sha256Bytes } from '../cache/hash.ts';
import { isProcessAlive } from '../cache/process-liveness.ts';
import type { ToolExec } from '../exec.ts';

/** The object types an archive repository's commits are made of. */
export type OstreeObjectType = 'commit' | 'dirtree' | 'dirmeta' | 'file';

/** One object of a checked commit that cannot be used. */
export interface OstreeObjectProblem {
  /** The object's checksum. */
  readonly checksum: string;
  /** Its type. */
  readonly type: OstreeObjectType;
  /** Present with content that does not match its checksum, or absent. */
  readonly state: 'corrupt' | 'missing';
  /** What ostree said about it. */
  readonly detail: string;
  /** The checked commits that reference it, sorted (empty when ostree did not say). */
  readonly commits: readonly string[];
}

/** What {@link fsckCommits} found. */
export interface OstreeFsckResult {
  /** The commits checked, sorted. */
  readonly commits: readonly string[];
  /** Objects fsck checked (reachable from those commits), when it said. */
  readonly objects: number | undefined;
  /** Every damaged object, by checksum and type. */
  readonly problems: readonly OstreeObjectProblem[];
  /** The commits that cannot be used (a damaged object, or not traversable), sorted. */
  readonly damagedCommits: readonly string[];
  /** What fsck said of each commit it could not traverse. */
  readonly untraversable: Readonly<Record<string, string>>;
  /** Wall-clock milliseconds of the check. */
  readonly durationMs: number;
}

/** Options of {@link fsckCommits}. */
export interface FsckOptions {
  /** Runs ostree (the caller's, so that its log and cancellation apply). */
  readonly exec: ToolExec;
}

/** Prefix of the shadow repositories in a repository's `tmp/` (then the owner's pid). */
const SHADOW_PREFIX = 'fcos-fsck-';
/** An object checksum as ostree prints it. */
const CHECKSUM = /^[0-9a-f]{64}$/;

/**
 * Checks `commits` of the archive repository `repo` (every commit with `'all'`) with
 * `ostree fsck`, reading only their objects and writing nothing into `repo`.
 */
export async function fsckCommits(
  repo: string,
  commits: readonly string[] | 'all',
  options: FsckOptions,
): Promise<OstreeFsckResult> {
  const started = performance.now();
  const wanted = commits === 'all' ? undefined : new Set(commits);
  const problems = new ProblemList();
  if (!existsSync(path.join(repo, 'config'))) {
    // No repository (never created, or deleted): the commits asked for are missing. Nothing is
    // created here, so that the next compose initializes the repository as usual.
    for (const commit of wanted ?? []) problems.add(missingCommit(commit, `no ostree repository at ${repo}`));
    return summary([], 0, problems, {}, wanted, started);
  }
  const shadow = await makeShadow(options.exec, repo);
  try {
    const linked = await linkObjects(repo, shadow, wanted);
    for (const commit of wanted ?? []) {
      if (!linked.includes(commit)) problems.add(missingCommit(commit, 'no such commit'));
    }
    const run = await runFsck(options.exec, shadow);
    for (const problem of run.problems) problems.add(problem);
    const untraversable =
      run.fatal === undefined
        ? {}
        : await checkUntraversable(options.exec, repo, shadow, linked, run.fatal, problems);
    return summary(linked, run.objects, problems, untraversable, wanted, started);
  } finally {
    await rm(shadow, { recursive: true, force: true });
  }
}

/**
 * After fsck stopped at a commit it could not traverse: finds the damaged metadata by hashing
 * and, when several commits are checked, which of them are affected by checking each on its own
 * (adding what it finds to `problems`). Returns what fsck said of each untraversable commit.
 */
async function checkUntraversable(
  exec: ToolExec,
  repo: string,
  shadow: string,
  commits: readonly string[],
  fatal: string,
  problems: ProblemList,
): Promise<Record<string, string>> {
  for (const problem of await hashMetadataObjects(shadow)) problems.add(problem);
  const untraversable: Record<string, string> = {};
  if (commits.length === 1) untraversable[commits[0]!] = fatal;
  else {
    await Promise.all(commits.map((commit) => unlink(objectFile(shadow, commit, 'commit'))));
    for (const commit of commits) {
      const file = objectFile(shadow, commit, 'commit');
      linkInto(objectFile(repo, commit, 'commit'), file);
      const alone = await runFsck(exec, shadow);
      for (const problem of alone.problems) problems.add(problem);
      if (alone.fatal !== undefined) untraversable[commit] = alone.fatal;
      await unlink(file).catch(() => {});
    }
  }
  for (const [commit, message] of Object.entries(untraversable)) {
    const missing = /No such metadata object ([0-9a-f]{64})\.(commit|dirtree|dirmeta)/.exec(message);
    if (!missing) continue;
    const type = missing[2] as OstreeObjectType;
    problems.add({ checksum: missing[1]!, type, state: 'missing', detail: message, commits: [commit] });
  }
  return untraversable;
}

/** The problem of a commit that is not there. */
function missingCommit(commit: string, detail: string): OstreeObjectProblem {
  return { checksum: commit, type: 'commit', state: 'missing', detail, commits: [commit] };
}

/** The result of a check of `checked` commits, with the commits damaged by `problems` or not traversable. */
function summary(
  checked: readonly string[],
  objects: number | undefined,
  problems: ProblemList,
  untraversable: Record<string, string>,
  wanted: ReadonlySet<string> | undefined,
  started: number,
): OstreeFsckResult {
  const list = problems.list();
  const damaged = new Set(Object.keys(untraversable));
  for (const problem of list) for (const commit of problem.commits) damaged.add(commit);
  // A damaged object ostree did not attribute (found by hashing) damages the one commit checked.
  if (checked.length === 1 && list.length > 0) damaged.add(checked[0]!);
  return {
    commits: [...checked].sort(),
    objects,
    problems: list,
    damagedCommits: [...damaged].filter((commit) => checked.includes(commit) || wanted?.has(commit)).sort(),
    untraversable,
    durationMs: performance.now() - started,
  };
}

/** Problems by object, merged (one object is reported once, with every commit that names it). */
class ProblemList {
  private readonly byObject = new Map<string, OstreeObjectProblem>();

  /** Adds `problem`, or merges its commits into the one already known for the object. */
  add(problem: OstreeObjectProblem): void {
    const name = `${problem.checksum}.${problem.type}`;
    const known = this.byObject.get(name);
    if (!known) {
      this.byObject.set(name, { ...problem, commits: [...new Set(problem.commits)].sort() });
      return;
    }
    const commits = [...new Set([...known.commits, ...problem.commits])].sort();
    // A corrupt object is worse news than a missing one (it must be removed).
    this.byObject.set(name, { ...(known.state === 'corrupt' ? known : problem), commits });
  }

  /** Every problem, sorted by object name. */
  list(): OstreeObjectProblem[] {
    return [...this.byObject.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
  }
}

/** A new, empty archive repository inside `repo`'s tmp/ (same filesystem: objects are hardlinked in). */
async function makeShadow(exec: ToolExec, repo: string): Promise<string> {
  const tmp = path.join(repo, 'tmp');
  mkdirSync(tmp, { recursive: true });
  await sweepStaleShadows(tmp);
  const shadow = await mkdtemp(path.join(tmp, `${SHADOW_PREFIX}${process.pid}-`));
  await exec('ostree', ['init', '--mode=archive', `--repo=${shadow}`]);
  return shadow;
}

/** Removes the shadows left by processes that died during a check. */
async function sweepStaleShadows(tmp: string): Promise<void> {
  for (const entry of await readdir(tmp)) {
    if (!entry.startsWith(SHADOW_PREFIX)) continue;
    const owner = Number(entry.slice(SHADOW_PREFIX.length).split('-', 1)[0]);
    if (!isProcessAlive(owner)) await rm(path.join(tmp, entry), { recursive: true, force: true });
  }
}

/**
 * Links every object of `repo` into `shadow` except commits not `wanted` (all commits without
 * `wanted`) and detached metadata (fsck does not read it); returns the commits linked.
 */
async function linkObjects(
  repo: string,
  shadow: string,
  wanted: ReadonlySet<string> | undefined,
): Promise<string[]> {
  const commits: string[] = [];
  const objects = path.join(repo, 'objects');
  for (const prefix of readdirSync(objects)) {
    if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
    const target = path.join(shadow, 'objects', prefix);
    mkdirSync(target, { recursive: true });
    // Synchronous within one directory (a few hundred links), yielding between directories:
    // far cheaper than a thread-pool round trip per link, and the run's display keeps moving.
    for (const name of readdirSync(path.join(objects, prefix))) {
      const extension = name.slice(name.indexOf('.') + 1);
      if (extension === 'commitmeta') continue;
      if (extension === 'commit') {
        const checksum = `${prefix}${name.slice(0, -'.commit'.length)}`;
        if (wanted && !wanted.has(checksum)) continue;
        commits.push(checksum);
      }
      linkInto(path.join(objects, prefix, name), path.join(target, name));
    }
    await yieldToEventLoop();
  }
  return commits;
}

/** Hardlinks `source` at `destination`; a symlink where a hardlink is refused (another owner). */
function linkInto(source: string, destination: string): void {
  try {
    linkSync(source, destination);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return; // removed meanwhile: fsck reports it missing if it is needed
    const code = errnoCode(error);
    if (code !== 'EPERM' && code !== 'EXDEV' && code !== 'EMLINK') throw error;
    symlinkSync(source, destination);
  }
}

/** The file of object `checksum` of `type` in the archive repository `repo`. */
export function objectFile(repo: string, checksum: string, type: OstreeObjectType): string {
  const extension = type === 'file' ? 'filez' : type;
  return path.join(repo, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.${extension}`);
}

/** What one `ostree fsck` said. */
interface FsckRun {
  readonly problems: OstreeObjectProblem[];
  /** The error that stopped it before it checked everything, if one did. */
  readonly fatal: string | undefined;
  /** Objects it checked, when it said. */
  readonly objects: number | undefined;
}

/** Runs `ostree fsck --all` on `shadow` and reads its messages. */
async function runFsck(exec: ToolExec, shadow: string): Promise<FsckRun> {
  // --all: report every damaged object instead of stopping at the first. No --delete: the
  // caller decides what to remove, from the real repository.
  const result = await exec('ostree', ['fsck', '--all', `--repo=${shadow}`], {
    okExitCodes: [0, 1],
    quietStdout: true,
  });
  const problems: OstreeObjectProblem[] = [];
  let fatal: string | undefined;
  for (const line of result.stderr.split('\n')) {
    const problem = parseProblem(line);
    if (problem) {
      problems.push(problem);
      continue;
    }
    const error = /^error: (.*)$/.exec(line);
    if (error && error[1] !== 'Repository corruption encountered') fatal = error[1];
  }
  if (result.exitCode !== 0 && problems.length === 0 && fatal === undefined) {
    fatal = result.stderr.trim() || `ostree fsck exited with code ${result.exitCode}`;
  }
  const progress = [...result.stdout.matchAll(/fsck objects \(\d+\/(\d+)\)/g)].at(-1);
  return { problems, fatal, objects: progress ? Number(progress[1]) : undefined };
}

/** The damaged object one line of fsck's output names, if it names one. */
export function parseProblem(line: string): OstreeObjectProblem | undefined {
  const text = line.replace(/^error: /, '');
  const missing =
    /^Object missing(?: in commits ([0-9a-f, ]+))?: ([0-9a-f]{64})\.(commit|dirtree|dirmeta|file)$/.exec(
      text,
    );
  if (missing) {
    return {
      checksum: missing[2]!,
      type: missing[3] as OstreeObjectType,
      state: 'missing',
      detail: 'missing',
      commits: commitList(missing[1]),
    };
  }
  const corrupt =
    /^(?:In commits ([0-9a-f, ]+): )?fsck (?:content object ([0-9a-f]{64})|([0-9a-f]{64})\.(commit|dirtree|dirmeta)): (.*)$/.exec(
      text,
    );
  if (!corrupt) return undefined;
  const content = corrupt[2] !== undefined;
  return {
    checksum: (content ? corrupt[2] : corrupt[3])!,
    type: content ? 'file' : (corrupt[4] as OstreeObjectType),
    state: 'corrupt',
    detail: corrupt[5]!,
    commits: commitList(corrupt[1]),
  };
}

/** The checksums of `In commits A, B`. */
function commitList(text: string | undefined): string[] {
  return (text ?? '').split(/[, ]+/).filter((commit) => CHECKSUM.test(commit));
}

/** The metadata objects of `shadow` whose bytes do not hash to their name (found without traversal). */
async function hashMetadataObjects(shadow: string): Promise<OstreeObjectProblem[]> {
  const problems: OstreeObjectProblem[] = [];
  const objects = path.join(shadow, 'objects');
  for (const prefix of readdirSync(objects)) {
    for (const name of readdirSync(path.join(objects, prefix))) {
      const match = /^([0-9a-f]{62})\.(commit|dirtree|dirmeta)$/.exec(name);
      if (!match) continue;
      const checksum = `${prefix}${match[1]}`;
      const actual = sha256Bytes(await readFile(path.join(objects, prefix, name)));
      if (actual === checksum) continue;
      problems.push({
        checksum,
        type: match[2] as OstreeObjectType,
        state: 'corrupt',
        detail: `Corrupted ${match[2]} object; checksum expected='${checksum}' actual='${actual}'`,
        commits: match[2] === 'commit' ? [checksum] : [],
      });
    }
  }
  return problems;
}

/** Deletes the objects of `problems` found corrupt from `repo` (so that the next commit writes them again); returns how many. */
export async function removeCorruptObjects(
  repo: string,
  problems: readonly OstreeObjectProblem[],
): Promise<number> {
  let removed = 0;
  for (const problem of problems) {
    if (problem.state !== 'corrupt') continue;
    if (await unlinkIfExists(objectFile(repo, problem.checksum, problem.type))) removed += 1;
  }
  return removed;
}

/**
 * Removes `commits` from `repo`: their commit objects, detached metadata and partial state, and
 * the refs that name them (readers of a ref, such as a compose's check against the previous
 * commit, must not find a commit whose objects are gone). Returns the refs deleted.
 */
export async function removeCommits(
  exec: ToolExec,
  repo: string,
  commits: readonly string[],
): Promise<string[]> {
  if (commits.length === 0 || !existsSync(path.join(repo, 'config'))) return [];
  const doomed = new Set(commits);
  const deletedRefs: string[] = [];
  const refs = await exec('ostree', ['refs', `--repo=${repo}`], { quietStdout: true });
  for (const ref of refs.stdout.split('\n').filter((line) => line.length > 0 && !line.includes(':'))) {
    const target = await exec('ostree', ['rev-parse', `--repo=${repo}`, ref], {
      okExitCodes: [0, 1],
      quietStdout: true,
    });
    if (!doomed.has(target.stdout.trim())) continue;
    await exec('ostree', ['refs', `--repo=${repo}`, '--delete', ref]);
    deletedRefs.push(ref);
  }
  for (const commit of doomed) {
    const file = objectFile(repo, commit, 'commit');
    await unlinkIfExists(file);
    await unlinkIfExists(file.replace(/\.commit$/, '.commitmeta'));
    await unlinkIfExists(path.join(repo, 'state', `${commit}.commitpartial`));
  }
  return deletedRefs.sort();
}

/** Unlinks `file`; false when it was not there. */
async function unlinkIfExists(file: string): Promise<boolean> {
  try {
    await unlink(file);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
}

/** The damaged objects as one clause: `b1f5333d….file corrupt (ostree's words); …` (the first few). */
export function describeProblems(problems: readonly OstreeObjectProblem[], shown = 3): string {
  const described = problems
    .slice(0, shown)
    .map((problem) =>
      problem.state === 'missing'
        ? `${problem.checksum}.${problem.type} missing`
        : `${problem.checksum}.${problem.type} corrupt (${problem.detail})`,
    );
  const more = problems.length - described.length;
  return `${described.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}
