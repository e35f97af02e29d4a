/**
 * Verifying ostree commits with real ostree on copies of the tiny OS commit: fsck of one commit's
 * objects only (in a shadow repository, the checked one never written), the damaged objects and
 * the commits naming them read from ostree's messages, a commit ostree cannot traverse, a commit
 * written again over a corrupt object repaired, the executor's check before a commit is consumed
 * (removal, eviction, the typed error) and the check of a whole cache repository.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ACTION_RECORD_SCHEMA_VERSION, ActionCache, type ActionRecord } from '../lib/cache/action-cache.ts';
import {
  CommitVerifier,
  CorruptCommitError,
  cacheOstreeRepository,
  verifyOstreeRepository,
} from '../lib/cache/ostree-verification.ts';
import { commitTree } from '../lib/tools/ostree.ts';
import { fsckCommits, objectFile, parseProblem } from '../lib/tools/ostree-fsck.ts';
import {
  contentObjectFile,
  contentObjectOf,
  copyTinyRepository,
  entriesOf,
  exec,
  flipByte,
  plainFsck,
} from './helpers/ostree-damage.ts';
import { makeTempDir } from './helpers/temp-project.ts';

/** A file of the tiny OS present in every commit of it. */
const OS_RELEASE = '/usr/lib/os-release';

/** A private copy of the tiny commit's repository. */
async function tinyCopy(): Promise<{ repo: string; commit: string }> {
  const directory = await makeTempDir('fcos-ostree-verify-');
  return {
    repo: await copyTinyRepository(path.join(directory, 'repo')),
    commit: inject('tinyCommit').checksum,
  };
}

/** Commits a one-file tree (`content` in etc/motd) to `ref` of `repo`. */
async function smallCommit(repo: string, ref: string, content: string): Promise<string> {
  const tree = path.join(await makeTempDir('fcos-ostree-tree-'), 'tree');
  await mkdir(path.join(tree, 'usr/etc'), { recursive: true });
  await writeFile(path.join(tree, 'usr/etc/motd'), content);
  return commitTree(exec, { repo, tree, ref, timestamp: 1_700_000_000, subject: ref, bootable: false });
}

/** An action record of `node` whose output `commit` is the ostree commit `checksum`. */
function commitRecord(key: string, node: string, checksum: string): ActionRecord {
  return {
    schemaVersion: ACTION_RECORD_SCHEMA_VERSION,
    key,
    node,
    kind: 'RpmOstreeCompose',
    outputs: {
      commit: { digest: checksum, storage: 'ostree-commit' as const, size: 0, type: 'ostree-commit' },
    },
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:00:01.000Z',
    durationMs: 1000,
    keyMaterial: {},
  };
}

describe('fsck of chosen commits (real ostree, tiny OS commit)', () => {
  it('finds a sound commit sound, reads only its objects, and writes nothing into the repository', async () => {
    const { repo, commit } = await tinyCopy();
    const result = await fsckCommits(repo, [commit], { exec });
    expect(result).toMatchObject({ commits: [commit], problems: [], damagedCommits: [] });
    expect(result.objects).toBeGreaterThan(100);
    // Measured here for the record: fsck of the ~50 MB tiny commit (see the report).
    expect(result.durationMs).toBeGreaterThan(0);
    expect(await entriesOf(repo, 'tmp')).toEqual(['cache']);
    expect(await entriesOf(repo, 'state')).toEqual([]);
  });

  it('names a content object whose bytes were flipped in place, and the commit it damages', async () => {
    const { repo, commit } = await tinyCopy();
    const checksum = await contentObjectOf(repo, commit, OS_RELEASE);
    await flipByte(objectFile(repo, checksum, 'file'));
    const result = await fsckCommits(repo, [commit], { exec });
    expect(result.damagedCommits).toEqual([commit]);
    expect(result.problems).toEqual([
      expect.objectContaining({ checksum, type: 'file', state: 'corrupt', commits: [commit] }),
    ]);
    // No partial-commit mark nor leftovers in the checked repository: fsck ran in a shadow.
    expect(await entriesOf(repo, 'state')).toEqual([]);
    expect(await entriesOf(repo, 'tmp')).toEqual(['cache']);
  });

  it('checks the commits asked for only; with all, every commit, each damaged object with the commits naming it', async () => {
    const { repo, commit } = await tinyCopy();
    const first = await smallCommit(repo, 'test/first', 'first\n');
    const second = await smallCommit(repo, 'test/second', 'second\n');
    const motd = await contentObjectOf(repo, second, '/usr/etc/motd');
    await flipByte(objectFile(repo, motd, 'file'));
    expect((await fsckCommits(repo, [first, commit], { exec })).damagedCommits).toEqual([]);
    const all = await fsckCommits(repo, 'all', { exec });
    expect(all.commits).toEqual([commit, first, second].sort());
    expect(all.damagedCommits).toEqual([second]);
    expect(all.problems.map((problem) => [problem.checksum, problem.state, problem.commits])).toEqual([
      [motd, 'corrupt', [second]],
    ]);
  });

  it('reports a missing object, and a commit it cannot traverse (its root tree gone) with the object at fault', async () => {
    const { repo, commit } = await tinyCopy();
    const other = await smallCommit(repo, 'test/other', 'other\n');
    const missing = await contentObjectOf(repo, commit, OS_RELEASE);
    await unlink(objectFile(repo, missing, 'file'));
    expect((await fsckCommits(repo, [commit], { exec })).problems).toEqual([
      expect.objectContaining({ checksum: missing, type: 'file', state: 'missing', commits: [commit] }),
    ]);
    // The other commit's root dirtree removed: fsck stops at it; each commit is then checked alone.
    const { stdout } = await exec('ostree', [`--repo=${repo}`, 'ls', '-C', '-d', other, '/']);
    const rootTree = /\s([0-9a-f]{64})\s+[0-9a-f]{64}\s+\/$/m.exec(stdout)![1]!;
    await unlink(objectFile(repo, rootTree, 'dirtree'));
    const all = await fsckCommits(repo, 'all', { exec });
    expect(all.damagedCommits).toEqual([commit, other].sort());
    expect(all.untraversable[other]).toContain(`No such metadata object ${rootTree}.dirtree`);
    expect(all.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ checksum: missing, state: 'missing', commits: [commit] }),
        expect.objectContaining({ checksum: rootTree, type: 'dirtree', state: 'missing', commits: [other] }),
      ]),
    );
  });

  it('finds a commit object whose bytes changed, even when ostree cannot traverse it', async () => {
    const { repo, commit } = await tinyCopy();
    // Early in the commit variant: its root tree checksum, so traversal fails.
    const file = objectFile(repo, commit, 'commit');
    const bytes = await readFile(file);
    const rootTreeOffset = bytes.length - 32 * 2 - 1;
    await flipByte(file, rootTreeOffset / bytes.length);
    const result = await fsckCommits(repo, [commit], { exec });
    expect(result.damagedCommits).toEqual([commit]);
    expect(result.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ checksum: commit, type: 'commit', state: 'corrupt' }),
      ]),
    );
  });

  it('pins the wording of the fsck messages it reads (ostree 2022.7)', () => {
    const sum = 'b'.repeat(64);
    const commit = 'c'.repeat(64);
    const other = 'd'.repeat(64);
    expect(
      parseProblem(
        `In commits ${commit}, ${other}: fsck content object ${sum}: Corrupted file object; checksum expected='${sum}' actual='${'e'.repeat(64)}'`,
      ),
    ).toMatchObject({ checksum: sum, type: 'file', state: 'corrupt', commits: [commit, other] });
    expect(parseProblem(`In commits ${commit}: fsck ${sum}.dirtree: Corrupted dirtree object`)).toMatchObject(
      {
        checksum: sum,
        type: 'dirtree',
        state: 'corrupt',
      },
    );
    expect(parseProblem(`Object missing in commits ${commit}: ${sum}.file`)).toMatchObject({
      checksum: sum,
      state: 'missing',
      commits: [commit],
    });
    expect(parseProblem(`error: fsck ${commit}.commit: Corrupted commit object`)).toMatchObject({
      checksum: commit,
      type: 'commit',
    });
    expect(parseProblem('Marking commit as partial: x')).toBeUndefined();
  });
});

describe('a commit written over a corrupt object (ostree keeps objects it has)', () => {
  it('is repaired by commitTree: the damaged object is removed and written again', async () => {
    const { repo } = await tinyCopy();
    const commit = await smallCommit(repo, 'test/repair', 'repair me\n');
    const file = await contentObjectFile(repo, commit, '/usr/etc/motd');
    const good = await readFile(file);
    await flipByte(file);
    expect((await fsckCommits(repo, [commit], { exec })).damagedCommits).toEqual([commit]);
    expect(await smallCommit(repo, 'test/repair', 'repair me\n')).toBe(commit);
    expect(await readFile(file)).toEqual(good);
    expect(await plainFsck(repo)).toMatchObject({ exitCode: 0 });
  });
});

describe('the executor check before a commit is consumed (CommitVerifier)', () => {
  it('lets a sound commit through, once per process', async () => {
    const root = await makeTempDir('fcos-ostree-cache-');
    const repo = await copyTinyRepository(cacheOstreeRepository(root));
    const commit = inject('tinyCommit').checksum;
    const verifier = new CommitVerifier(repo, new ActionCache(root));
    const consumer = { consumer: 'Disk', producer: 'Compose' };
    await verifier.ensureSound(commit, 'commit', consumer);
    // Damage after the check is not seen again in this process: one check per commit and run.
    await flipByte(await contentObjectFile(repo, commit, OS_RELEASE));
    await verifier.ensureSound(commit, 'commit', consumer);
  });

  it('refuses a damaged commit naming it and its producer, removes it and evicts every record producing it', async () => {
    const root = await makeTempDir('fcos-ostree-cache-');
    const repo = await copyTinyRepository(cacheOstreeRepository(root));
    const { checksum: commit, ref } = inject('tinyCommit');
    const actions = new ActionCache(root);
    await actions.put(commitRecord('1'.repeat(64), 'testing/x86_64/Compose', commit));
    await actions.put(commitRecord('2'.repeat(64), 'other/Compose', 'f'.repeat(64)));
    const damaged = await contentObjectOf(repo, commit, OS_RELEASE);
    await flipByte(objectFile(repo, damaged, 'file'));
    const verifier = new CommitVerifier(repo, actions);
    const consumer = { consumer: 'testing/x86_64/Disk', producer: 'testing/x86_64/Compose' };
    const error = await verifier.ensureSound(commit, 'commit', consumer).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptCommitError);
    expect(error).toMatchObject({
      commit,
      producer: 'testing/x86_64/Compose',
      constructPath: 'testing/x86_64/Disk',
    });
    expect((error as Error).message).toContain(`ostree commit ${commit} is damaged`);
    expect((error as Error).message).toContain(`${damaged}.file corrupt`);
    expect((error as Error).message).toContain('run fcos-run again to rebuild testing/x86_64/Compose');
    expect(existsSync(objectFile(repo, damaged, 'file'))).toBe(false);
    expect(existsSync(objectFile(repo, commit, 'commit'))).toBe(false);
    const refs = await exec('ostree', ['refs', `--repo=${repo}`]);
    expect(refs.stdout).not.toContain(ref);
    expect(await actions.get('1'.repeat(64))).toBeUndefined();
    expect(await actions.get('2'.repeat(64))).toBeDefined();
    // What is left is consistent: ostree's own fsck of the repository passes.
    expect(await plainFsck(repo)).toMatchObject({ exitCode: 0 });
    // A second consumer in the same run gets the same answer without a second check.
    await expect(verifier.ensureSound(commit, 'commit', consumer)).rejects.toBeInstanceOf(CorruptCommitError);
  });
});

describe('a cache whose ostree repository is gone', () => {
  it('refuses the commit as missing and creates nothing (the next compose initializes the repository)', async () => {
    const root = await makeTempDir('fcos-ostree-cache-');
    const repo = cacheOstreeRepository(root);
    const actions = new ActionCache(root);
    const commit = inject('tinyCommit').checksum;
    await actions.put(commitRecord('3'.repeat(64), 'Compose', commit));
    const verifier = new CommitVerifier(repo, actions);
    const error = await verifier
      .ensureSound(commit, 'commit', { consumer: 'Disk', producer: 'Compose' })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptCommitError);
    expect((error as Error).message).toContain(`${commit}.commit missing`);
    expect(existsSync(repo)).toBe(false);
    expect(await actions.get('3'.repeat(64))).toBeUndefined();
  });
});

describe('checking the whole cache repository (cache verify)', () => {
  it('reports nothing for a cache without an ostree repository', async () => {
    const root = await makeTempDir('fcos-ostree-cache-');
    expect(await verifyOstreeRepository(root, new ActionCache(root))).toMatchObject({ present: false });
  });

  it('finds the damaged commit among others, removes it with its corrupt objects, evicts its records; a second check is clean', async () => {
    const root = await makeTempDir('fcos-ostree-cache-');
    const repo = await copyTinyRepository(cacheOstreeRepository(root));
    const { checksum: tiny } = inject('tinyCommit');
    const other = await smallCommit(repo, 'test/other', 'other\n');
    const actions = new ActionCache(root);
    await actions.put(commitRecord('1'.repeat(64), 'testing/x86_64/Compose', tiny));
    await actions.put(commitRecord('2'.repeat(64), 'Other', other));
    const damaged = await contentObjectOf(repo, tiny, OS_RELEASE);
    await flipByte(objectFile(repo, damaged, 'file'));
    const first = await verifyOstreeRepository(root, actions);
    expect(first.fsck?.damagedCommits).toEqual([tiny]);
    expect(first.removedObjects).toBe(1);
    expect(first.evictedRecords).toEqual([
      { key: '1'.repeat(64), node: 'testing/x86_64/Compose', commit: tiny, output: 'commit' },
    ]);
    expect(await actions.get('2'.repeat(64))).toBeDefined();
    const second = await verifyOstreeRepository(root, actions);
    expect(second.fsck).toMatchObject({ commits: [other], damagedCommits: [] });
    expect(await plainFsck(repo)).toMatchObject({ exitCode: 0 });
  });
});
