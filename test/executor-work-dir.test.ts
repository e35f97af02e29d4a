/**
 * `fcos-run --work-dir` / `$FCOS_WORK_DIR`: nodes' work directories on another filesystem (a
 * tmpfs) than the cache. Outputs (files and trees) are copied into the cache across the
 * filesystem boundary, published, served from the cache on the next run; nothing stays in the
 * work root, dead runs' directories there are swept and other files are left alone.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CasStore } from '../lib/cache/cas-store.ts';
import {
  makeTempDir,
  nodesWith,
  REPO_ROOT,
  readEvents,
  synthIn,
  writeProgram,
} from './helpers/temp-project.ts';

const RUN_BIN = path.join(REPO_ROOT, 'bin/fcos-run.js');
const isRoot = process.getuid?.() === 0;

/** A file output, a tree output, and a file consuming the first (with a pause to watch it run). */
const PROGRAM = `import { TestStep } from '${new URL('./kinds/test-step.ts', import.meta.url).href}';
import { TreeStep } from '${new URL('./kinds/tree-step.ts', import.meta.url).href}';
const pipeline = new Pipeline({ name: 'work-dir' });
const a = new TestStep(pipeline, 'A', { content: 'alpha', sleepMs: 1500 });
new TestStep(pipeline, 'B', { content: 'beta', inputs: [a.output] });
new TreeStep(pipeline, 'T', { files: { 'x.txt': 'ex', 'sub/y.txt': 'why' } });
`;

/** The sha256 of `text`, prefixed as the cache records digests. */
function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Runs the built fcos-run in `project` (its fcos.out, the cache `cache`) with more arguments and environment. */
function runBin(project: string, cache: string, args: readonly string[], env: Record<string, string> = {}) {
  return execa(
    'node',
    [RUN_BIN, '--out', path.join(project, 'fcos.out'), '--cache', cache, '--plain', ...args],
    { cwd: project, reject: false, env },
  );
}

/** Waits until a work directory of process `pid` for node A appears in `root` (the run uses it). */
async function seenWorking(root: string, pid: number | undefined): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (readdirSync(root).some((entry) => entry.startsWith(`${pid}-A-`))) return true;
    await sleep(20);
  }
  return false;
}

describe.skipIf(!isRoot)('fcos-run --work-dir on a tmpfs', () => {
  let scratch: string;
  let project: string;

  beforeAll(async () => {
    scratch = await makeTempDir('fcos-work-tmpfs-');
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', scratch]);
    project = await writeProgram(PROGRAM);
    const synth = await synthIn(project);
    expect(synth.stderr).toBe('');
  });

  afterAll(async () => {
    if (scratch) await execa('umount', [scratch], { reject: false });
  });

  it('stores and publishes outputs made on the tmpfs, leaves nothing there, and a rerun is cached', async () => {
    const cache = path.join(project, 'cache');
    expect((await stat(scratch)).dev).not.toBe((await stat(project)).dev);
    const run = runBin(project, cache, ['--work-dir', scratch], {
      FCOS_WORK_DIR: path.join(project, 'unused'),
    });
    expect(await seenWorking(scratch, run.pid)).toBe(true);
    const first = await run;
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toContain('3 built, 0 cached');
    // The option wins over the environment, and the cache's own work root is not used.
    expect(existsSync(path.join(project, 'unused'))).toBe(false);
    expect(existsSync(path.join(cache, 'work'))).toBe(false);
    expect(await readdir(scratch)).toEqual([]);

    const out = path.join(project, 'fcos.out');
    expect(await readFile(path.join(out, 'artifacts/A/output.txt'), 'utf8')).toBe('alpha');
    expect(await readFile(path.join(out, 'artifacts/B/output.txt'), 'utf8')).toBe('betaalpha');
    expect(await readFile(path.join(out, 'artifacts/T/repo/sub/y.txt'), 'utf8')).toBe('why');
    const outputs = JSON.parse(await readFile(path.join(out, 'outputs.json'), 'utf8'));
    expect(outputs.A.output).toMatchObject({ storage: 'file', size: 5, digest: sha256('alpha') });
    expect(outputs.T.repo).toMatchObject({ storage: 'tree', size: 5 });
    // Each output is a blob in the cache (the published file is a hardlink of it).
    const blob = path.join(cache, 'blobs/sha256', sha256('alpha').slice(0, 2), sha256('alpha'));
    expect((await stat(blob)).ino).toBe((await stat(path.join(out, 'artifacts/A/output.txt'))).ino);
    for (const content of ['ex', 'why']) {
      expect(existsSync(path.join(cache, 'blobs/sha256', sha256(content).slice(0, 2), sha256(content)))).toBe(
        true,
      );
    }
    const verify = await execa('node', [RUN_BIN, 'cache', 'verify', '--cache', cache], { reject: false });
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);

    const second = await runBin(project, cache, ['--work-dir', scratch]);
    expect(second.exitCode).toBe(0);
    const events = await readEvents(project);
    expect(nodesWith(events, 'start')).toEqual([]);
    expect(nodesWith(events, 'cached')).toEqual(['A', 'B', 'T']);
    expect(JSON.parse(await readFile(path.join(out, 'outputs.json'), 'utf8'))).toEqual(outputs);
    expect(await readdir(scratch)).toEqual([]);
  });

  it('takes $FCOS_WORK_DIR, and sweeps only dead runs’ work directories there', async () => {
    const cache = path.join(project, 'cache-env');
    const dead = path.join(scratch, '999999999-A-abc123');
    await mkdir(path.join(dead, 'repo'), { recursive: true });
    await writeFile(path.join(dead, 'repo/leftover'), 'x');
    await writeFile(path.join(scratch, 'notes.txt'), 'not ours');
    await mkdir(path.join(scratch, '12-not-a-work-dir'));
    const run = runBin(project, cache, [], { FCOS_WORK_DIR: scratch });
    expect(await seenWorking(scratch, run.pid)).toBe(true);
    const result = await run;
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('3 built, 0 cached');
    expect(existsSync(path.join(cache, 'work'))).toBe(false);
    expect((await readdir(scratch)).sort()).toEqual(['12-not-a-work-dir', 'notes.txt']);
    await rm(path.join(scratch, 'notes.txt'));
    await rm(path.join(scratch, '12-not-a-work-dir'), { recursive: true });
  });

  it('moves a sparse file from the tmpfs into the cache as a sparse copy', async () => {
    const cache = await makeTempDir('fcos-work-cache-');
    const store = new CasStore(cache);
    await store.init();
    const source = path.join(scratch, 'disk.raw');
    const handle = await open(source, 'w');
    await handle.write(Buffer.from('header'), 0, 6, 0);
    await handle.write(Buffer.from('trailer'), 0, 7, 32 * 1024 * 1024);
    await handle.close();
    const stored = await store.putFile(source, { move: true });
    expect(existsSync(source)).toBe(false);
    const blob = await stat(store.blobPath(stored.digest));
    expect(blob.size).toBe(32 * 1024 * 1024 + 7);
    // Holes are kept per 4 MiB read chunk: the header's chunk is written, the 28 MiB after it not.
    expect(blob.blocks * 512).toBeLessThan(5 * 1024 * 1024);
    expect(await store.verifyBlob(stored.digest)).toBe(true);

    // A tree on the tmpfs is stored too, its files left to their owner (trees are copied).
    await mkdir(path.join(scratch, 'tree/sub'), { recursive: true });
    await writeFile(path.join(scratch, 'tree/sub/file'), 'in a tree');
    const tree = await store.putTree(path.join(scratch, 'tree'));
    expect(tree).toMatchObject({ files: 1, size: 9 });
    expect((await store.readBlob(sha256('in a tree'))).toString()).toBe('in a tree');
    await rm(path.join(scratch, 'tree'), { recursive: true });
  });
});

describe('fcos-run --work-dir usage', () => {
  it.each([
    [['--work-dir', ''], {}, '--work-dir'],
    [['--work-dir', '0'], {}, '--work-dir'],
    [[], { FCOS_WORK_DIR: '0' }, 'FCOS_WORK_DIR'],
  ])('refuses %j %j with exit 2', async (args, env, named) => {
    const directory = await makeTempDir('fcos-work-usage-');
    const result = await runBin(directory, path.join(directory, 'cache'), args, env);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`${named} takes a directory, not '${args[1] ?? '0'}'`);
    expect(result.stderr).toContain('Usage: fcos-run');
  });
});
