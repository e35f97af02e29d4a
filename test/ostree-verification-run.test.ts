/**
 * The cache's ostree repository through the real executor and CLI: a commit damaged in the cache
 * is refused by the node about to consume it (a real DiskImage), with a message naming the commit
 * and its producer; the next run composes it again, which writes the damaged object anew, and the
 * disk builds from a repository ostree's own fsck finds clean. A forced compose repairs a damaged
 * object by itself, and `fcos-run cache verify` (the real bin) reports a damaged commit, evicts its
 * record and exits 1.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { describe, expect, inject, it } from 'vitest';
import { cacheOstreeRepository } from '../lib/cache/ostree-verification.ts';
import { contentObjectFile, exec, flipByte, plainFsck } from './helpers/ostree-damage.ts';
import { recomposedDiskProgram } from './helpers/recomposed-disk-program.ts';
import { nodesWith, REPO_ROOT, readEvents, runIn, synthIn, writeProgram } from './helpers/temp-project.ts';

const RUN_BIN = path.join(REPO_ROOT, 'bin/fcos-run.js');

/** The digest of `node`'s output `name` in the last run's outputs.json. */
async function outputDigest(directory: string, node: string, name: string): Promise<string> {
  const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
  return outputs[node][name].digest;
}

/** `ostree cat` of `file` in `commit` of `repo`. */
async function catFile(repo: string, commit: string, file: string): Promise<string> {
  return (await exec('ostree', [`--repo=${repo}`, 'cat', commit, file], { quietStdout: true })).stdout;
}

describe('a damaged commit in the cache (real executor, real ostree)', () => {
  it('is refused by the DiskImage consuming it; the next run composes it again and the disk builds', async () => {
    const directory = await writeProgram(recomposedDiskProgram('ostree-repair', inject('tinyCommit')));
    expect((await synthIn(directory)).code).toBe(0);
    const repo = cacheOstreeRepository(path.join(directory, 'cache'));

    const composed = await runIn(directory, '--only', 'Compose');
    expect(composed.code, composed.stderr).toBe(0);
    const commit = await outputDigest(directory, 'Compose', 'commit');
    const osRelease = await catFile(repo, commit, '/usr/lib/os-release');
    await flipByte(await contentObjectFile(repo, commit, '/usr/lib/os-release'));

    const refused = await runIn(directory);
    expect(refused.code).toBe(1);
    const events = await readEvents(directory);
    expect(nodesWith(events, 'cached')).toEqual(['Compose']);
    const failure = events.find((event) => event.event === 'fail');
    expect(failure).toMatchObject({ node: 'Disk', errorName: 'CorruptCommitError' });
    expect(failure?.error).toContain(`ostree commit ${commit} is damaged in the cache's ostree repository`);
    expect(failure?.error).toContain('run fcos-run again to rebuild Compose');
    expect(`${refused.stdout}${refused.stderr}`).toContain(`ostree commit ${commit} is damaged`);

    const repaired = await runIn(directory);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(nodesWith(await readEvents(directory), 'finish')).toEqual(['Compose', 'Disk']);
    expect(await outputDigest(directory, 'Compose', 'commit')).toBe(commit);
    expect(await catFile(repo, commit, '/usr/lib/os-release')).toBe(osRelease);
    expect(await plainFsck(repo)).toMatchObject({ exitCode: 0 });

    // The policy: a null run checks no commit (an fsck per run would cost seconds to minutes).
    // Damage now goes unseen while every node is a hit, and is found when a node consumes it.
    await flipByte(await contentObjectFile(repo, commit, '/usr/lib/os-release'));
    const nullRun = await runIn(directory);
    expect(nullRun.code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'cached')).toEqual(['Compose', 'Disk']);
    expect((await plainFsck(repo)).exitCode).toBe(1);
  }, 180_000);
});

describe('a damaged object of a small commit (TestCommit)', () => {
  /** A project with one TestCommit node, run once; returns its directory, cache repository and commit. */
  async function committedOnce(): Promise<{ directory: string; repo: string; commit: string }> {
    const doubles = pathToFileURL(path.join(REPO_ROOT, 'test/kinds/release-doubles.ts')).href;
    const directory = await writeProgram(`import { TestCommit } from '${doubles}';
const pipeline = new Pipeline({ name: 'ostree-small' });
new TestCommit(pipeline, 'Commit', { version: '41.20251120.2.0' });
`);
    expect((await synthIn(directory)).code).toBe(0);
    const first = await runIn(directory);
    expect(first.code, first.stderr).toBe(0);
    const commit = await outputDigest(directory, 'Commit', 'commit');
    return { directory, repo: cacheOstreeRepository(path.join(directory, 'cache')), commit };
  }

  it('is repaired by a forced compose (ostree alone would keep the corrupt object)', async () => {
    const { directory, repo, commit } = await committedOnce();
    const object = await contentObjectFile(repo, commit, '/usr/lib/os-release');
    const good = await readFile(object);
    await flipByte(object);
    expect((await plainFsck(repo)).exitCode).toBe(1);
    const forced = await runIn(directory, '--force', 'Commit');
    expect(forced.code, forced.stderr).toBe(0);
    expect(await outputDigest(directory, 'Commit', 'commit')).toBe(commit);
    expect(await readFile(object)).toEqual(good);
    expect(await plainFsck(repo)).toMatchObject({ exitCode: 0 });
  }, 60_000);

  it('is reported by cache verify (the bin), which evicts the record and exits 1; then verify is clean and a run rebuilds', async () => {
    const { directory, repo, commit } = await committedOnce();
    const cache = path.join(directory, 'cache');
    const object = await contentObjectFile(repo, commit, '/usr/lib/os-release');
    const checksum = `${path.basename(path.dirname(object))}${path.basename(object, '.filez')}`;
    await flipByte(object);
    const verify = await execa('node', [RUN_BIN, 'cache', 'verify', '--cache', cache], { reject: false });
    expect(verify.exitCode, verify.stderr).toBe(1);
    expect(verify.stdout).toContain(`corrupt ostree object removed: ${checksum}.file`);
    expect(verify.stdout).toMatch(new RegExp(`ostree commit ${commit.slice(0, 12)}\\S* removed.*Commit`));
    expect(verify.stdout).toMatch(/record [0-9a-f]{12} \(Commit\) evicted/);
    expect(verify.stdout).toContain('1 ostree commit checked, 1 damaged');
    const again = await execa('node', [RUN_BIN, 'cache', 'verify', '--cache', cache], { reject: false });
    expect(again.exitCode, again.stdout).toBe(0);
    expect(again.stdout).toContain('0 ostree commits checked, 0 damaged');
    const rebuilt = await runIn(directory);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(nodesWith(await readEvents(directory), 'finish')).toEqual(['Commit']);
    expect(await plainFsck(repo)).toMatchObject({ exitCode: 0 });
  }, 60_000);
});
