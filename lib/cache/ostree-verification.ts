/**
 * The cache's ostree repository is verified: a commit is checked (`ostree fsck` of that commit's
 * objects, lib/tools/ostree-fsck.ts) before a node that runs consumes it, once per process; a
 * cache hit checks nothing, so a null run stays cheap. A damaged commit is taken out of the
 * repository (its corrupt objects, the commit object and the refs naming it) and every action
 * record that lists it as an output is evicted: the next run composes it again, and the compose
 * writes the removed objects anew. `fcos-run cache verify` checks every commit the same way.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { FcosError } from '../errors.ts';
import { runTool, type ToolExec } from '../exec.ts';
import {
  describeProblems,
  fsckCommits,
  type OstreeFsckResult,
  type OstreeObjectProblem,
  removeCommits,
  removeCorruptObjects,
} from '../tools/ostree-fsck.ts';
import type { ActionCache } from './action-cache.ts';

/** The archive-mode ostree repository of the cache at `root` (ArtifactStore.ostreeRepo). */
export function cacheOstreeRepository(root: string): string {
  return path.join(root, 'ostree', 'repo');
}

/** A record evicted because a commit it produced was damaged. */
export interface EvictedCommitRecord {
  /** Its action key. */
  readonly key: string;
  /** Construct path of the node that produced the commit. */
  readonly node: string;
  /** The commit. */
  readonly commit: string;
  /** The name of the output that is the commit. */
  readonly output: string;
}

/** Where a commit about to be consumed comes from (the executor's InputOrigin, as far as it is used here). */
export interface CommitConsumer {
  /** Construct path of the node consuming it. */
  readonly consumer: string;
  /** Construct path of the node that produced it. */
  readonly producer: string;
  /** Action key of the producer's record, if known (records producing the commit are evicted either way). */
  readonly producerKey?: string;
  /** Stops the check when the attempt is cancelled. */
  readonly signal?: AbortSignal;
}

/**
 * A commit a node was about to consume is damaged in the cache's ostree repository: it was
 * removed and its producer's records evicted, so the next run composes it again.
 */
export class CorruptCommitError extends FcosError {
  /** The commit checksum. */
  readonly commit: string;
  /** Construct path of the node that produced it. */
  readonly producer: string;
  /** Its damaged objects. */
  readonly problems: readonly OstreeObjectProblem[];

  constructor(
    consumer: CommitConsumer,
    field: string,
    commit: string,
    problems: readonly OstreeObjectProblem[],
  ) {
    super(
      `input '${field}' from ${consumer.producer}: ostree commit ${commit} is damaged in the cache's ostree repository (${describeProblems(problems)}); the commit and its damaged objects were removed and ${consumer.producer}'s cached result evicted: run fcos-run again to rebuild ${consumer.producer}`,
      { constructPath: consumer.consumer, field },
    );
    this.commit = commit;
    this.producer = consumer.producer;
    this.problems = problems;
  }
}

/** Checks commits before they are consumed, each once per process. */
export class CommitVerifier {
  /** Checks done or under way in this process, by commit. */
  private readonly checks = new Map<string, Promise<readonly OstreeObjectProblem[]>>();

  constructor(
    private readonly repo: string,
    private readonly actions: ActionCache,
  ) {}

  /**
   * Resolves once `commit` is known sound; a damaged commit is removed with its damaged objects,
   * the records producing it are evicted, and a {@link CorruptCommitError} names it and its producer.
   */
  async ensureSound(commit: string, field: string, consumer: CommitConsumer): Promise<void> {
    const shared = this.checks.get(commit);
    const check = shared ?? this.check(commit, consumer.signal);
    if (!shared) {
      this.checks.set(commit, check);
      // A check that could not finish (cancelled, ostree failed) is not a verdict: try again next time.
      check.catch(() => this.checks.delete(commit));
    }
    let problems: readonly OstreeObjectProblem[];
    try {
      problems = await check;
    } catch (error) {
      // Another consumer's check stopped by its own cancellation or failure: check for this one.
      if (!shared || consumer.signal?.aborted) throw error;
      return this.ensureSound(commit, field, consumer);
    }
    if (problems.length > 0) throw new CorruptCommitError(consumer, field, commit, problems);
  }

  /** fsck of `commit`; when damaged, it is taken out of the cache. Returns its problems. */
  private async check(
    commit: string,
    signal: AbortSignal | undefined,
  ): Promise<readonly OstreeObjectProblem[]> {
    const exec: ToolExec = (file, args, options) =>
      runTool(file, args, { ...options, ...(signal ? { signal } : {}) });
    const result = await fsckCommits(this.repo, [commit], { exec });
    if (result.damagedCommits.length === 0) return [];
    await removeDamage(exec, this.repo, this.actions, result);
    return result.problems.length > 0
      ? result.problems
      : [
          {
            checksum: commit,
            type: 'commit',
            state: 'corrupt',
            detail: Object.values(result.untraversable).join('; '),
            commits: [commit],
          },
        ];
  }
}

/** What {@link verifyOstreeRepository} found and did. */
export interface OstreeRepositoryVerification {
  /** Whether the cache has an ostree repository at all. */
  readonly present: boolean;
  /** The fsck, when there is a repository. */
  readonly fsck?: OstreeFsckResult;
  /** Corrupt objects deleted. */
  readonly removedObjects: number;
  /** Refs deleted because they named a removed commit. */
  readonly removedRefs: readonly string[];
  /** Records evicted because they produced a removed commit. */
  readonly evictedRecords: readonly EvictedCommitRecord[];
}

/**
 * Checks every commit of the cache's ostree repository; damaged commits are removed with their
 * corrupt objects and the records producing them are evicted (the next run rebuilds them).
 */
export async function verifyOstreeRepository(
  root: string,
  actions: ActionCache,
  options: { readonly signal?: AbortSignal } = {},
): Promise<OstreeRepositoryVerification> {
  const repo = cacheOstreeRepository(root);
  if (!existsSync(path.join(repo, 'config'))) {
    return { present: false, removedObjects: 0, removedRefs: [], evictedRecords: [] };
  }
  const exec: ToolExec = (file, args, execOptions) =>
    runTool(file, args, { ...execOptions, ...(options.signal ? { signal: options.signal } : {}) });
  const fsck = await fsckCommits(repo, 'all', { exec });
  return { present: true, fsck, ...(await removeDamage(exec, repo, actions, fsck)) };
}

/** Removes what `result` found damaged from `repo` and evicts the records producing the damaged commits. */
async function removeDamage(
  exec: ToolExec,
  repo: string,
  actions: ActionCache,
  result: OstreeFsckResult,
): Promise<Omit<OstreeRepositoryVerification, 'present' | 'fsck'>> {
  const removedObjects = await removeCorruptObjects(repo, result.problems);
  const removedRefs = await removeCommits(exec, repo, result.damagedCommits);
  const evictedRecords = await evictCommitRecords(actions, new Set(result.damagedCommits));
  return { removedObjects, removedRefs, evictedRecords };
}

/** Evicts every record with an output that is one of `commits`; returns them. */
async function evictCommitRecords(
  actions: ActionCache,
  commits: ReadonlySet<string>,
): Promise<EvictedCommitRecord[]> {
  if (commits.size === 0) return [];
  const evicted: EvictedCommitRecord[] = [];
  for (const { record } of await actions.list()) {
    for (const [output, value] of Object.entries(record.outputs)) {
      if (value.storage !== 'ostree-commit' || !commits.has(value.digest)) continue;
      await actions.remove(record.key);
      evicted.push({ key: record.key, node: record.node, commit: value.digest, output });
      break;
    }
  }
  return evicted;
}
