/**
 * The cache never serves a damaged byte (issue #18): a null run trusts stamps that see rewrites
 * (ctime), a node verifies every input it consumes against its digest, a copied cache is re-hashed
 * once and then trusted again, and `cache verify` names every record it deletes.
 */
import { type BigIntStats, existsSync, statSync } from 'node:fs';
import { chmod, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BlobStamps } from '../lib/cache/blob-stamps.ts';
import { sha256Bytes } from '../lib/cache/hash.ts';
import {
  captureIo,
  makeTempDir,
  nodesWith,
  REPO_ROOT,
  readEvents,
  runIn,
  synthIn,
  testKindsHeader,
  writeProgram,
} from './helpers/temp-project.ts';

const RUN_BIN = path.join(REPO_ROOT, 'bin/fcos-run.js');

/** `import` line giving a temporary program the test-only TreeStep kind. */
function treeKindsHeader(): string {
  return `import { TreeStep } from '${pathToFileURL(path.join(REPO_ROOT, 'test/kinds/tree-step.ts')).href}';\nimport { LinkOutStep } from '${pathToFileURL(path.join(REPO_ROOT, 'test/kinds/link-out-step.ts')).href}';\n`;
}

/** Writes and synthesizes a program; returns its directory. */
async function project(body: string): Promise<string> {
  const directory = await writeProgram(`${testKindsHeader()}${treeKindsHeader()}${body}`);
  const synth = await synthIn(directory);
  expect(synth.stderr).toBe('');
  return directory;
}

/** Rewrites the program's body and synthesizes it again (same directory, same cache). */
async function resynth(directory: string, body: string): Promise<void> {
  const original = await readFile(path.join(directory, 'app.ts'), 'utf8');
  const header = original.slice(0, original.indexOf('\nconst pipeline'));
  await writeFile(path.join(directory, 'app.ts'), `${header}\n${body}\n`);
  expect((await synthIn(directory)).stderr).toBe('');
}

/** Runs fcos-run in-process on `<directory>/fcos.out` with the cache `cache`. */
async function runWithCache(directory: string, cache: string): Promise<{ code: number; stdout: string }> {
  const { main } = await import('../lib/cli/run.ts');
  const io = captureIo();
  const code = await main(['--out', path.join(directory, 'fcos.out'), '--cache', cache, '--plain'], io);
  return { code, stdout: io.out.join('') + io.err.join('') };
}

/** Blobs the last run hashed for `purpose`, summed over its verify events. */
async function hashedBlobs(directory: string, purpose: 'cached-output' | 'input'): Promise<number> {
  return (await readEvents(directory))
    .filter((event) => event.event === 'verify' && event.purpose === purpose)
    .reduce((total, event) => total + Number(event.blobs), 0);
}

/** Where the blob `digest` of the cache in `directory` is. */
function blobPath(cache: string, digest: string): string {
  return path.join(cache, 'blobs/sha256', digest.slice(0, 2), digest);
}

/** The digest of output `output` of `node` in the last run's outputs.json. */
async function outputDigest(directory: string, node: string, output: string): Promise<string> {
  const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
  return outputs[node][output].digest;
}

/** The blob of file `file` of the stored tree `treeDigest`. */
async function treeFileDigest(cache: string, treeDigest: string, file: string): Promise<string> {
  const manifest = JSON.parse(await readFile(blobPath(cache, treeDigest), 'utf8'));
  return manifest.entries.find((entry: { path: string }) => entry.path === file).digest;
}

/**
 * Rewrites `file` in place with `content` (same size) the way bit rot or a careless restore
 * does: same inode, same size, and its mtime put back with `touch -r`, to the nanosecond.
 * Returns its stats before and after.
 */
async function rewriteKeepingMtime(
  file: string,
  content: string,
): Promise<{ before: BigIntStats; after: BigIntStats }> {
  const before = statSync(file, { bigint: true });
  const reference = `${file}.reference`;
  await writeFile(reference, '');
  await execa('touch', ['-r', file, reference]);
  await chmod(file, 0o644);
  expect(Buffer.byteLength(content)).toBe(Number(before.size));
  await writeFile(file, content);
  await chmod(file, 0o444);
  await execa('touch', ['-r', reference, file]);
  const after = statSync(file, { bigint: true });
  // What a stamp of inode, size and mtime sees: nothing changed.
  expect([after.ino, after.size, after.mtimeNs]).toEqual([before.ino, before.size, before.mtimeNs]);
  return { before, after };
}

const REPO_FILES = {
  'Packages/a-1.0-1.noarch.rpm': 'a'.repeat(4000),
  'Packages/b-1.0-1.noarch.rpm': 'b'.repeat(4000),
  'repodata/repomd.xml': '<repomd/>',
};

/** A repository (a tree output) and a compose that consumes it; `composeMark` changes the compose's key. */
const repoAndCompose = (composeMark: string) => `
const pipeline = new Pipeline({ name: 'trees' });
const repo = new TreeStep(pipeline, 'Repo', { files: ${JSON.stringify(REPO_FILES)} });
new TreeStep(pipeline, 'Compose', { files: { mark: '${composeMark}' }, input: repo.repo });
`;

describe('fcos-run: the cache serves no damaged byte', () => {
  it('a blob rewritten with the same size and its mtime restored is caught by the null run (ctime moved), evicted and rebuilt', async () => {
    const content = 'e'.repeat(2048);
    const directory = await project(`
const pipeline = new Pipeline({ name: 'rewrite' });
new TestStep(pipeline, 'E', { content: '${content}' });
`);
    const cache = path.join(directory, 'cache');
    expect((await runIn(directory)).code).toBe(0);
    // An untouched cache: the null run trusts the stamps, though the build linked the blob into fcos.out.
    expect((await runIn(directory)).code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'cached')).toEqual(['E']);
    expect(await hashedBlobs(directory, 'cached-output')).toBe(0);

    const digest = await outputDigest(directory, 'E', 'output');
    const { after } = await rewriteKeepingMtime(blobPath(cache, digest), 'X'.repeat(2048));
    expect(statSync(path.join(directory, 'fcos.out/artifacts/E/output.txt')).ino).toBe(Number(after.ino));

    const rerun = await runIn(directory);
    expect(rerun.code, rerun.stdout).toBe(0);
    expect(rerun.stdout).toContain(
      "[warning] E: cached output 'output' of E was corrupted (evicted); rebuilding",
    );
    const events = await readEvents(directory);
    expect(await hashedBlobs(directory, 'cached-output')).toBe(1);
    expect(nodesWith(events, 'start')).toEqual(['E']);
    expect(await readFile(blobPath(cache, digest), 'utf8')).toBe(content);
    expect(await readFile(path.join(directory, 'fcos.out/artifacts/E/output.txt'), 'utf8')).toBe(content);
  });

  it('a damaged file of a tree output is caught by the null run when its stamp changed, and the tree rebuilt', async () => {
    const directory = await project(repoAndCompose('1'));
    const cache = path.join(directory, 'cache');
    expect((await runIn(directory)).code).toBe(0);
    // The tree published into fcos.out is left alone by a null run: no stamp moves, nothing is hashed.
    expect((await runIn(directory)).code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'cached')).toEqual(['Compose', 'Repo']);
    expect(await hashedBlobs(directory, 'cached-output')).toBe(0);

    const tree = await outputDigest(directory, 'Repo', 'repo');
    const rpm = await treeFileDigest(cache, tree, 'Packages/b-1.0-1.noarch.rpm');
    await rewriteKeepingMtime(blobPath(cache, rpm), 'B'.repeat(4000));

    const rerun = await runIn(directory);
    expect(rerun.code, rerun.stdout).toBe(0);
    expect(rerun.stdout).toContain(
      `[warning] Repo: cached output 'repo' of Repo has a file 'Packages/b-1.0-1.noarch.rpm' (blob ${rpm}) that was corrupted (evicted); rebuilding`,
    );
    const events = await readEvents(directory);
    expect(nodesWith(events, 'start')).toEqual(['Repo']);
    expect(nodesWith(events, 'cached')).toEqual(['Compose']);
    expect(await readFile(blobPath(cache, rpm), 'utf8')).toBe('b'.repeat(4000));
    expect(
      await readFile(
        path.join(directory, 'fcos.out/artifacts/Repo/repo/Packages/b-1.0-1.noarch.rpm'),
        'utf8',
      ),
    ).toBe('b'.repeat(4000));
  });

  it('a damaged RPM inside a tree input that no stamp sees is caught when the compose consumes it; the next run rebuilds the repository', async () => {
    const directory = await project(repoAndCompose('1'));
    const cache = path.join(directory, 'cache');
    expect((await runIn(directory)).code).toBe(0);
    const tree = await outputDigest(directory, 'Repo', 'repo');
    const rpm = await treeFileDigest(cache, tree, 'Packages/b-1.0-1.noarch.rpm');
    // Bit rot: the bytes change and no stat field does. Rewriting moves the ctime, so the stamp is
    // refreshed to the new inode state, as if it had been taken after the damage.
    await rewriteKeepingMtime(blobPath(cache, rpm), 'B'.repeat(4000));
    await new BlobStamps(cache).recordVerified(rpm, blobPath(cache, rpm));

    // The compose changed, so it runs and consumes the repository, which is served by its stamps.
    await resynth(directory, repoAndCompose('2'));
    const failed = await runIn(directory);
    expect(failed.code).toBe(1);
    let events = await readEvents(directory);
    expect(nodesWith(events, 'cached')).toEqual(['Repo']);
    const failure = events.find((event) => event.event === 'fail' && event.node === 'Compose')!;
    expect(failure.errorName).toBe('CorruptInputError');
    expect(failure.willRetry).toBe(false);
    expect(failure.error).toBe(
      `input 'input' from Repo: the file 'Packages/b-1.0-1.noarch.rpm' of its tree (blob ${rpm}) does not match its digest; it was evicted with Repo's cached result: run fcos-run again to rebuild Repo`,
    );
    expect(failed.stdout).toContain(
      `[FAILED] Compose: input 'input' from Repo: the file 'Packages/b-1.0-1.noarch.rpm'`,
    );
    expect(existsSync(blobPath(cache, rpm))).toBe(false);

    const rerun = await runIn(directory);
    expect(rerun.code, rerun.stdout).toBe(0);
    events = await readEvents(directory);
    expect(nodesWith(events, 'start')).toEqual(['Compose', 'Repo']);
    const checksums = await readFile(
      path.join(directory, 'fcos.out/artifacts/Compose/repo/checksums.txt'),
      'utf8',
    );
    expect(checksums).toContain(`${sha256Bytes('b'.repeat(4000))}  Packages/b-1.0-1.noarch.rpm`);
    // The rebuilt RPM was hashed as it was stored: the compose's copy of it needs no second pass.
    // The two files deduplicated onto blobs stored before are trusted by stamp only, so the
    // compose hashes them as it copies them.
    expect(await hashedBlobs(directory, 'input')).toBe(2);
  });

  it('a consumed file input is hashed once per run: a cached input is verified before its consumer runs', async () => {
    const directory = await project(`
const pipeline = new Pipeline({ name: 'consume' });
const a = new TestStep(pipeline, 'A', { content: 'a'.repeat(1000) });
new TestStep(pipeline, 'C1', { content: '1', inputs: [a.output] });
`);
    expect((await runIn(directory)).code).toBe(0);
    expect(await hashedBlobs(directory, 'input')).toBe(0);
    await resynth(
      directory,
      `const pipeline = new Pipeline({ name: 'consume' });
const a = new TestStep(pipeline, 'A', { content: 'a'.repeat(1000) });
new TestStep(pipeline, 'C1', { content: '2', inputs: [a.output] });
new TestStep(pipeline, 'C2', { content: '3', inputs: [a.output] });`,
    );
    expect((await runIn(directory)).code).toBe(0);
    const events = await readEvents(directory);
    expect(nodesWith(events, 'cached')).toEqual(['A']);
    expect(nodesWith(events, 'start')).toEqual(['C1', 'C2']);
    expect(await hashedBlobs(directory, 'input')).toBe(1);
  });

  it('an input a runner hardlinks out of the cache (a publish directory) stays trusted: the next null run hashes nothing', async () => {
    // What the Publish kind does with every image: the first null run after a cold run used to
    // hash each published image again, because link(2) moved the blob's ctime.
    for (const plainLink of [false, true]) {
      const directory = await project(`
const pipeline = new Pipeline({ name: 'link-out' });
const a = new TestStep(pipeline, 'A', { content: 'a'.repeat(100_000) });
new LinkOutStep(pipeline, 'Publish', { input: a.output, directory: 'published', plainLink: ${plainLink} });
`);
      expect((await runIn(directory)).code).toBe(0);
      const blob = blobPath(path.join(directory, 'cache'), await outputDigest(directory, 'A', 'output'));
      const published = path.join(directory, 'published/published.txt');
      expect(statSync(published).ino).toBe(statSync(blob).ino);
      const again = await runIn(directory);
      expect(again.stdout).toContain('0 built, 2 cached');
      // A plain link(2), outside the cache's knowledge, costs the next run a hash of the blob.
      expect(await hashedBlobs(directory, 'cached-output')).toBe(plainLink ? 1 : 0);
    }
  });

  it('a copied cache (cp -a: every inode new) is re-hashed by its first null run, then trusted', async () => {
    const directory = await project(`
const pipeline = new Pipeline({ name: 'copied' });
const a = new TestStep(pipeline, 'A', { content: 'a' });
const b = new TestStep(pipeline, 'B', { content: 'b' });
new TestStep(pipeline, 'C', { content: 'c', inputs: [a.output, b.output] });
new TreeStep(pipeline, 'Repo', { files: ${JSON.stringify(REPO_FILES)} });
`);
    expect((await runIn(directory)).code).toBe(0);
    const copy = path.join(await makeTempDir('fcos-copied-cache-'), 'cache');
    await execa('cp', ['-a', path.join(directory, 'cache'), copy]);

    const first = await runWithCache(directory, copy);
    expect(first.code, first.stdout).toBe(0);
    expect(first.stdout).toContain('0 built, 4 cached');
    // A, B and C's files, and the tree: its manifest and its three files.
    expect(await hashedBlobs(directory, 'cached-output')).toBe(3 + 1 + 3);
    for (let run = 0; run < 2; run++) {
      const again = await runWithCache(directory, copy);
      expect(again.stdout).toContain('0 built, 4 cached');
      expect(await hashedBlobs(directory, 'cached-output')).toBe(0);
    }
  });
});

describe('fcos-run cache verify', () => {
  it('names every action record it deletes (a truncated one) and exits 1; the next run rebuilds its node', async () => {
    const directory = await project(`
const pipeline = new Pipeline({ name: 'records' });
new TestStep(pipeline, 'Kept', { content: 'k' });
new TestStep(pipeline, 'Truncated', { content: 't' });
`);
    const cache = path.join(directory, 'cache');
    expect((await runIn(directory)).code).toBe(0);
    const key = String((await readEvents(directory)).find((event) => event.node === 'Truncated')!.key);
    const record = path.join(cache, 'actions', key.slice(0, 2), `${key}.json`);
    await truncate(record, 40);

    const verify = await execa('node', [RUN_BIN, 'cache', 'verify', '--cache', cache], { reject: false });
    expect(verify.exitCode).toBe(1);
    expect(verify.stdout).toContain(
      `corrupt action record deleted: ${key} (not JSON (truncated or overwritten))`,
    );
    expect(verify.stdout).toMatch(/^\d+ blobs checked, 0 corrupt$/m);
    expect(verify.stdout).toMatch(/^2 action records checked, 1 corrupt \(deleted\), 0 missing blobs$/m);
    expect(existsSync(record)).toBe(false);

    const clean = await execa('node', [RUN_BIN, 'cache', 'verify', '--cache', cache], { reject: false });
    expect(clean.exitCode).toBe(0);
    expect(clean.stdout).toMatch(/^1 action records checked, 0 corrupt \(deleted\), 0 missing blobs$/m);

    expect((await runIn(directory)).code).toBe(0);
    const events = await readEvents(directory);
    expect(nodesWith(events, 'start')).toEqual(['Truncated']);
    expect(nodesWith(events, 'cached')).toEqual(['Kept']);
  });
});
