/**
 * The RpmOstreeCompose runner (dnf driver) for real, on the tiny OS's repository built once per
 * run: reproducible commits, the ostree layout, versions (Fedora CoreOS's X.Y.Z.A: the prefix
 * dated from the packages' newest build time, the respin, nothing else), package list, the
 * lockfile hook, bad inputs, check-passwd/check-groups (file, previous) and add-files.
 */
import { existsSync } from 'node:fs';
import { appendFile, cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { PasswdCheckError } from '../lib/compose/errors.ts';
import {
  composeVersion,
  expandVersionPrefix,
  STREAM_CODES,
  streamCode,
  UnknownStreamError,
} from '../lib/compose/version.ts';
import { runTool } from '../lib/exec.ts';
import type { LockfileUpdateContext, RunnerContext, RunnerOutput } from '../lib/runner.ts';
import { PackageNotFoundError } from '../lib/tools/dnf.ts';
import { readLockfiles } from '../lib/treefile/lockfile.ts';
import { canonicalStringify } from '../lib/util/canonical-json.ts';
import { RUNNERS } from './helpers/runners.ts';
import { makeTempDir, REPO_ROOT } from './helpers/temp-project.ts';

const TINY_PACKAGES = ['tiny-release', 'tiny-kernel', 'tiny-init', 'busybox', 'ignition', 'tiny-dracut'];

/** Writes a Manifest-style output tree (treefile.json, repos.json) and returns its directory. */
async function treefileInput(treefile: Record<string, unknown>): Promise<string> {
  const directory = path.join(await makeTempDir(), 'treefile');
  await mkdir(directory);
  await writeFile(path.join(directory, 'treefile.json'), canonicalStringify(treefile, 2));
  await writeFile(
    path.join(directory, 'repos.json'),
    canonicalStringify([{ name: 'local', local: true }], 2),
  );
  return directory;
}

/**
 * What a test varies in a compose: its log, the treefile's digest, the driver, the respin prop and
 * the timestamp prop (none by default: the compose is dated from its packages).
 */
interface ComposeOptions {
  readonly log?: string[];
  readonly digest?: string;
  readonly driver?: 'dnf' | 'auto';
  readonly respin?: number;
  readonly timestamp?: number;
}

/** Runs the compose runner with a new work dir against `ostreeRepo`. */
async function compose(treefileDir: string, ostreeRepo: string, options: ComposeOptions = {}) {
  const { log = [], digest = 'a'.repeat(64), driver = 'dnf', respin = 0, timestamp } = options;
  const runner = RUNNERS.RpmOstreeCompose;
  const workDir = await makeTempDir();
  const context: RunnerContext = {
    nodePath: 'testing/x86_64/Compose',
    props: {
      treefile: { $input: 'treefile' },
      localRepos: [{ $input: 'localRepos.0' }],
      driver,
      ...(timestamp === undefined ? {} : { timestamp }),
      respin,
    },
    inputs: {
      treefile: {
        type: 'treefile',
        digest,
        storage: 'tree',
        path: treefileDir,
        metadata: { arch: 'x86_64' },
      },
      'localRepos.0': {
        type: 'rpm-repo',
        digest: 'b'.repeat(64),
        storage: 'tree',
        path: inject('tinyRepo'),
        metadata: { name: 'local' },
      },
    },
    declaredOutputs: {},
    projectDir: REPO_ROOT,
    signal: new AbortController().signal,
    workDir,
    ostreeRepo,
    log: (line) => log.push(line),
    exec: (file, args, options) => runTool(file, args, { ...options, log: (line) => log.push(line) }),
  };
  return runner.run(context);
}

/** Runs ostree against `repo`, returning stdout. */
async function ostree(repo: string, ...args: string[]): Promise<string> {
  return (await runTool('ostree', [`--repo=${repo}`, ...args])).stdout;
}

/**
 * The newest build time of the tiny OS's packages, read by rpm from the RPM files (the date the
 * compose is dated by), in seconds and as the version's `YYYYMMDD`.
 */
async function tinyRepoSnapshot(): Promise<{ time: number; date: string }> {
  const packages = path.join(inject('tinyRepo'), 'Packages');
  const files = (await readdir(packages)).map((name) => path.join(packages, name));
  const result = await runTool('rpm', ['-qp', '--qf', '%{BUILDTIME}\\n', ...files]);
  const time = Math.max(...result.stdout.trim().split('\n').map(Number));
  return { time, date: new Date(time * 1000).toISOString().slice(0, 10).replaceAll('-', '') };
}

/** The `Date:` line `ostree show` prints for a commit. */
async function commitDate(repo: string, checksum: string): Promise<string | undefined> {
  return /^Date: +(.+)$/m.exec(await ostree(repo, 'show', checksum))?.[1]?.trim();
}

const TREEFILE = {
  ref: 'fedora/x86_64/coreos/testing',
  releasever: 41,
  repos: ['local'],
  packages: TINY_PACKAGES,
  // As local-os/manifest.yaml (and fedora-coreos-config) for the testing stream: code 2.
  'automatic-version-prefix': '41.<date:%Y%m%d>.2',
  'mutate-os-release': '41',
  'add-commit-metadata': { 'fedora-coreos.stream': 'testing', 'fcos-cdk.answer': 42 },
  postprocess: ['#!/bin/sh\nset -e\necho postprocessed > /usr/lib/fcos-cdk-postprocessed\n'],
  'remove-files': ['usr/share/doc'],
};

describe('RpmOstreeCompose (dnf driver)', () => {
  let first: {
    checksum: string;
    repo: string;
    version: string;
    snapshotTime: unknown;
    packages: RunnerOutput;
  };
  let snapshot: { time: number; date: string };

  beforeAll(async () => {
    await import('../stages/rpm-ostree-compose/index.ts');
    snapshot = await tinyRepoSnapshot();
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    const outputs = await compose(await treefileInput(TREEFILE), repo);
    const commit = outputs.commit!;
    if (commit.storage !== 'ostree-commit') throw new Error('no commit');
    first = {
      checksum: commit.checksum,
      repo,
      version: String(commit.metadata?.version),
      snapshotTime: commit.metadata?.snapshotTime,
      packages: outputs.packages!,
    };
  }, 120_000);

  it('composes the same commit checksum in another directory and repository', async () => {
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    const outputs = await compose(await treefileInput(TREEFILE), repo);
    expect(outputs.commit).toMatchObject({ storage: 'ostree-commit', checksum: first.checksum });
    expect(first.version).toBe(`41.${snapshot.date}.2.0`);
  }, 120_000);

  it("dates the version and the commit from the packages' newest build time, and records it", async () => {
    // The tiny OS's specs are dated by their %changelog: the newest is well after the old constant.
    expect(snapshot.time).toBeGreaterThan(1_700_000_000);
    expect(first.version).toMatch(/^41\.\d{8}\.2\.0$/);
    expect(first.version).toBe(`41.${snapshot.date}.2.0`);
    expect(first.snapshotTime).toBe(snapshot.time);
    expect(await commitDate(first.repo, first.checksum)).toBe(
      `${new Date(snapshot.time * 1000).toISOString().slice(0, 19).replace('T', ' ')} +0000`,
    );
  });

  it('takes the date from the timestamp prop when given', async () => {
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    const outputs = await compose(await treefileInput(TREEFILE), repo, { timestamp: 1_700_000_000 });
    const commit = outputs.commit as { checksum: string; metadata: Record<string, unknown> };
    expect(commit.metadata).toMatchObject({ version: '41.20231114.2.0', snapshotTime: 1_700_000_000 });
    expect(await commitDate(repo, commit.checksum)).toBe('2023-11-14 22:13:20 +0000');
    expect(commit.checksum).not.toBe(first.checksum);
  }, 120_000);

  it('gives the shared tiny OS commit (local-os/manifest.yaml, testing) its Fedora CoreOS version and stream', async () => {
    const tiny = inject('tinyCommit');
    expect(tiny.version).toBe(`41.${snapshot.date}.2.0`);
    expect((await ostree(tiny.repo, 'show', '--print-metadata-key=version', tiny.checksum)).trim()).toBe(
      `'${tiny.version}'`,
    );
    expect(
      (await ostree(tiny.repo, 'show', '--print-metadata-key=fedora-coreos.stream', tiny.checksum)).trim(),
    ).toBe("'testing'");
    expect(await ostree(tiny.repo, 'cat', tiny.checksum, '/usr/lib/os-release')).toContain(
      `OSTREE_VERSION='${tiny.version}'`,
    );
  });

  it('lays the tree out for ostree', async () => {
    const listing = await ostree(first.repo, 'ls', '-R', first.checksum);
    const kernel = /\/usr\/lib\/modules\/([^/\s]+)\/vmlinuz/.exec(listing)?.[1];
    expect(kernel).toBeDefined();
    expect(listing).toContain(`/usr/lib/modules/${kernel}/initramfs.img`);
    expect(listing).toContain('/usr/etc/os-release');
    expect(listing).toMatch(/l\S+ +0 +0 +\d+ \/home -> var\/home/);
    expect(listing).toMatch(/\/ostree -> sysroot\/ostree/);
    expect(listing).toMatch(/\/usr\/local -> \.\.\/var\/usrlocal/);
    expect(listing).toContain('/usr/lib/sysimage/rpm/rpmdb.sqlite');
    expect(listing).toContain('/usr/lib/fcos-cdk-postprocessed');
    expect(listing).not.toMatch(/ \/var\/\S/);
    expect(listing).not.toMatch(/ \/etc\/\S/);
    expect(listing).not.toContain('/usr/share/doc/');
    const tmpfiles = await ostree(
      first.repo,
      'cat',
      first.checksum,
      '/usr/lib/tmpfiles.d/fcos-cdk-autovar.conf',
    );
    expect(tmpfiles).toContain('d /var/roothome 0700 root root - -');
    expect(tmpfiles).toContain('L /var/lib/rpm - - - - ../../usr/lib/sysimage/rpm');
    const osRelease = await ostree(first.repo, 'cat', first.checksum, '/usr/lib/os-release');
    expect(osRelease).toContain(`OSTREE_VERSION='41.${snapshot.date}.2.0'`);
    expect(osRelease).toContain('VARIANT_ID=coreos');
  });

  it('records version, ref binding and add-commit-metadata in the commit', async () => {
    const metadata = await ostree(first.repo, 'show', '--print-metadata-key=version', first.checksum);
    expect(metadata.trim()).toBe(`'41.${snapshot.date}.2.0'`);
    expect(
      (await ostree(first.repo, 'show', '--print-metadata-key=fedora-coreos.stream', first.checksum)).trim(),
    ).toBe("'testing'");
    // ostree prints commit metadata in its stored (big-endian) byte order: the type is what counts here.
    expect(
      (await ostree(first.repo, 'show', '--print-metadata-key=fcos-cdk.answer', first.checksum)).trim(),
    ).toMatch(/^int64 \d+$/);
    expect((await ostree(first.repo, 'rev-parse', 'fedora/x86_64/coreos/testing')).trim()).toBe(
      first.checksum,
    );
  });

  it('takes the last version component from the respin prop, and the same version in any cache', async () => {
    // A repository that has composed other content under the same prefix first: no index of
    // earlier composes decides the version, so this compose is the fresh repository's, byte for byte.
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    const changed = await compose(await treefileInput({ ...TREEFILE, 'remove-files': ['usr/share'] }), repo, {
      digest: 'd'.repeat(64),
    });
    const same = await compose(await treefileInput(TREEFILE), repo, { digest: 'c'.repeat(64) });
    const respun = await compose(await treefileInput(TREEFILE), repo, { digest: 'c'.repeat(64), respin: 2 });
    expect(changed.commit?.metadata?.version).toBe(`41.${snapshot.date}.2.0`);
    expect(same.commit?.metadata?.version).toBe(`41.${snapshot.date}.2.0`);
    expect(same.commit).toMatchObject({ checksum: first.checksum });
    expect(respun.commit?.metadata?.version).toBe(`41.${snapshot.date}.2.2`);
    const respunChecksum = (respun.commit as { checksum: string }).checksum;
    expect(respunChecksum).not.toBe(first.checksum);
    expect((await ostree(repo, 'show', '--print-metadata-key=version', respunChecksum)).trim()).toBe(
      `'41.${snapshot.date}.2.2'`,
    );
    expect(await ostree(repo, 'cat', respunChecksum, '/usr/lib/os-release')).toContain(
      `OSTREE_VERSION='41.${snapshot.date}.2.2'`,
    );
    // Nothing is written outside the cache's stores (the old `versions/` index beside the repo).
    expect(existsSync(path.join(path.dirname(repo), 'versions'))).toBe(false);
  }, 180_000);

  it('--update-lockfiles hook: pins the composed packages in the lockfile directory the Manifest recorded', async () => {
    const runner = RUNNERS.RpmOstreeCompose;
    if (first.packages.storage !== 'file') throw new Error('no package list');
    const projectDir = await makeTempDir();
    await mkdir(path.join(projectDir, 'local-os'));
    const list = JSON.parse(await readFile(first.packages.path, 'utf8')) as { packages: { name: string }[] };
    /** The hook's context for a treefile whose Manifest recorded `lockfileDir`. */
    const hookContext = (lockfileDir: string | null): LockfileUpdateContext => ({
      nodePath: 'testing/x86_64/Compose',
      props: {
        treefile: { $input: 'treefile' },
        localRepos: [],
        driver: 'dnf',
        timestamp: 1_700_000_000,
        respin: 0,
      },
      inputs: {
        treefile: {
          type: 'treefile',
          digest: 'a'.repeat(64),
          storage: 'tree',
          metadata: { arch: 'x86_64', lockfileDir },
        },
      },
      outputs: {
        packages: {
          type: 'package-list',
          digest: 'p'.repeat(64),
          storage: 'file',
          path: (first.packages as { path: string }).path,
          metadata: first.packages.metadata ?? {},
        },
      },
      projectDir,
    });
    const written = await runner.updateLockfiles!(hookContext('local-os'));
    const file = path.join(projectDir, 'local-os/manifest-lock.x86_64.json');
    expect(written).toEqual([{ file, packages: list.packages.length }]);
    const lockfile = JSON.parse(await readFile(file, 'utf8'));
    expect(lockfile.packages['tiny-release']).toEqual({ evra: '41-1.noarch' });
    expect(Object.keys(lockfile.packages).sort()).toEqual(list.packages.map((item) => item.name).sort());
    // What the Manifest reads back: the same pins.
    const read = await readLockfiles(path.join(projectDir, 'local-os'), 'x86_64', {
      constructPath: 'Manifest',
      projectDir,
    });
    expect(read?.packages).toEqual(lockfile.packages);
    // An inline treefile has no lockfile directory: nothing is written.
    expect(await runner.updateLockfiles!(hookContext(null))).toEqual([]);
  });

  it("names a package that is in no repository, with dnf's message", async () => {
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    const input = await treefileInput({ ...TREEFILE, packages: [...TINY_PACKAGES, 'no-such-package'] });
    await expect(compose(input, repo)).rejects.toThrow(/no-such-package/);
    // Named first, with the treefile and the repositories, before dnf's own line (not its command).
    const error = await compose(input, repo, { digest: 'n'.repeat(64) }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PackageNotFoundError);
    expect(error).toMatchObject({ constructPath: 'testing/x86_64/Compose', field: 'packages' });
    expect((error as Error).message).toBe(
      `package 'no-such-package' (treefile ${TREEFILE.ref}) is in no enabled repository (local)\n` +
        // dnf 4 prints "No match for argument" on stdout; the tail kept is stderr's.
        '  dnf: Error: Unable to find a match: no-such-package',
    );
  });

  it('shows the output of a failing postprocess script', async () => {
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    const input = await treefileInput({
      ...TREEFILE,
      postprocess: ['#!/bin/sh\necho "about to fail" >&2\nexit 7\n'],
    });
    await expect(compose(input, repo)).rejects.toThrow(
      /postprocess script 1 failed: .*exited with code 7:\s+about to fail/s,
    );
  }, 60_000);

  it('rejects a repository defined nowhere', async () => {
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    const input = await treefileInput({ ...TREEFILE, repos: ['local', 'fedora-updates'] });
    await expect(compose(input, repo)).rejects.toThrow(
      /repos name 'fedora-updates', but it is neither a local repository input/,
    );
  });

  it('uses rpm-ostree when it is installed (a test double here): compose install to date the packages, then compose tree', async () => {
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    const input = await treefileInput(TREEFILE);
    await writeFile(
      path.join(input, 'lockfile.json'),
      JSON.stringify({ packages: { busybox: { evra: '1.35.0-1.x86_64' } } }),
    );
    const argvLog = path.join(await makeTempDir(), 'argv.json');
    const savedPath = process.env.PATH;
    process.env.PATH = `${path.join(REPO_ROOT, 'test/doubles')}:${savedPath}`;
    process.env.RPM_OSTREE_DOUBLE_LOG = argvLog;
    try {
      const outputs = await compose(input, repo, { digest: 'e'.repeat(64), driver: 'auto' });
      expect(outputs.commit).toMatchObject({
        storage: 'ostree-commit',
        metadata: { driver: 'rpm-ostree', version: '41.double.0' },
      });
      const [install, tree, ...more]: string[][] = (await readFile(argvLog, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(more).toEqual([]);
      // First the packages are installed into a scratch root, whose rpm database dates the compose.
      expect(install!.slice(0, 3)).toEqual(['compose', 'install', '--unified-core']);
      expect(install).toContain(`--repo=${repo}`);
      expect(install!.at(-2)).toMatch(/compose\/treefile\.json$/);
      expect(install!.at(-1)).toMatch(/\/snapshot-install$/);
      expect(existsSync(install!.at(-1)!)).toBe(false);
      expect(tree!.slice(0, 3)).toEqual(['compose', 'tree', '--unified-core']);
      expect(tree).toContain(`--repo=${repo}`);
      // The same cache directory and lockfile: compose tree installs what compose install dated.
      const cachedir = tree!.find((arg) => arg.startsWith('--cachedir='));
      expect(install).toContain(cachedir);
      expect(tree!.find((arg) => arg.startsWith('--ex-lockfile='))).toMatch(/lockfile\.json$/);
      expect(install).toContain(tree!.find((arg) => arg.startsWith('--ex-lockfile=')));
      // The version is given, not left to rpm-ostree's automatic-version-prefix over the
      // repository's history and the clock; the commit is dated SOURCE_DATE_EPOCH, the snapshot.
      expect(tree).toContain(`--add-metadata-string=version=41.${snapshot.date}.2.0`);
      expect(tree!.at(-1)).toMatch(/compose\/treefile\.json$/);
      const checksum = (outputs.commit as { checksum: string }).checksum;
      expect((await ostree(repo, 'rev-parse', TREEFILE.ref)).trim()).toBe(checksum);
      expect(outputs.commit?.metadata?.snapshotTime).toBe(snapshot.time);
      expect(await commitDate(repo, checksum)).toBe(
        `${new Date(snapshot.time * 1000).toISOString().slice(0, 19).replace('T', ' ')} +0000`,
      );
    } finally {
      process.env.PATH = savedPath;
      delete process.env.RPM_OSTREE_DOUBLE_LOG;
    }
  });

  it('expands <date:...> from the snapshot time, not the clock', () => {
    expect(expandVersionPrefix('41.<date:%Y%m%d>', 1_700_000_000)).toBe('41.20231114');
    expect(expandVersionPrefix('<date:%Y>-x', 0)).toBe('1970-x');
    // UTC: 2026-11-16 23:30 in UTC is the 16th wherever the tests run.
    expect(expandVersionPrefix('<date:%Y%m%d>', Date.UTC(2026, 10, 16, 23, 30) / 1000)).toBe('20261116');
  });

  it("formats Fedora CoreOS's X.Y.Z.A: the prefix X.Y.Z, then the respin", () => {
    const time = Date.UTC(2026, 10, 16) / 1000;
    const prefix = `41.<date:%Y%m%d>.${streamCode('stable')}`;
    expect(composeVersion({ automaticVersionPrefix: prefix, timestamp: time, respin: 0 })).toBe(
      '41.20261116.3.0',
    );
    expect(composeVersion({ automaticVersionPrefix: prefix, timestamp: time, respin: 1 })).toBe(
      '41.20261116.3.1',
    );
    // Without a prefix: <releasever>.<date>, as rpm-ostree's default.
    expect(composeVersion({ releasever: 42, timestamp: time, respin: 0 })).toBe('42.20261116.0');
  });

  it('numbers the streams as Fedora CoreOS does, and names an unknown one', () => {
    expect(STREAM_CODES).toEqual({
      next: 1,
      testing: 2,
      stable: 3,
      'next-devel': 10,
      'testing-devel': 20,
      rawhide: 91,
      branched: 92,
    });
    expect(streamCode('testing')).toBe(2);
    expect(streamCode('testing-devel')).toBe(20);
    expect(() => streamCode('toString')).toThrow(UnknownStreamError);
    const error = (() => {
      try {
        return streamCode('nightly', { constructPath: 'nightly/Manifest' });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(UnknownStreamError);
    expect(error).toMatchObject({ constructPath: 'nightly/Manifest', field: 'stream', stream: 'nightly' });
    expect((error as Error).message).toBe(
      "stream 'nightly' has no Fedora CoreOS version code: known streams are next (1), testing (2), stable (3), next-devel (10), testing-devel (20), rawhide (91), branched (92)",
    );
  });
});

describe('RpmOstreeCompose (dnf driver): check-passwd, check-groups and add-files', () => {
  /** The tiny OS's own passwd and group (tiny-release installs them as /etc/passwd and /etc/group). */
  const tinyAccounts = async () => ({
    passwd: await readFile(path.join(REPO_ROOT, 'local-os/packages/tiny-release/passwd'), 'utf8'),
    group: await readFile(path.join(REPO_ROOT, 'local-os/packages/tiny-release/group'), 'utf8'),
  });
  /** check-passwd/check-groups of type file, with the files written into the compose input `input`. */
  async function checkFiles(input: string, passwd: string, group: string) {
    await writeFile(path.join(input, 'check-passwd'), passwd);
    await writeFile(path.join(input, 'check-groups'), group);
    return {
      'check-passwd': { type: 'file', filename: 'check-passwd' },
      'check-groups': { type: 'file', filename: 'check-groups' },
    };
  }
  /** Rewrites treefile.json of `input` with `treefile`. */
  const rewrite = (input: string, treefile: Record<string, unknown>) =>
    writeFile(path.join(input, 'treefile.json'), canonicalStringify(treefile, 2));
  // As fedora-coreos-config: root stays in /etc/passwd, so it is "missing" from what is compared.
  const IGNORE_ROOT = { 'ignore-removed-users': ['root'], 'ignore-removed-groups': ['root'] };

  beforeAll(async () => {
    await import('../stages/rpm-ostree-compose/index.ts');
  });

  it('type file: the matching files pass; a missing user whose uid owns a file fails naming it, nothing committed', async () => {
    const { passwd, group } = await tinyAccounts();
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    const input = await treefileInput({});
    await rewrite(input, { ...TREEFILE, ...(await checkFiles(input, passwd, group)), ...IGNORE_ROOT });
    const log: string[] = [];
    const outputs = await compose(input, repo, { log });
    expect(outputs.commit).toMatchObject({ storage: 'ostree-commit' });
    expect(log).toContain('check-passwd: Ignored user missing from new passwd file: root');
    expect(log.join('\n')).not.toMatch(/does not act on .*check-/);

    const ghost = await treefileInput({});
    await rewrite(ghost, {
      ...TREEFILE,
      ...(await checkFiles(ghost, `${passwd}ghost:x:4242:4242:Gone:/:/sbin/nologin\n`, group)),
      ...IGNORE_ROOT,
      // The user's files are still in the tree: removing the user would orphan them.
      postprocess: [...TREEFILE.postprocess, 'mkdir -p /usr/share/ghost\nchown 4242 /usr/share/ghost\n'],
    });
    const error = await compose(ghost, repo, { digest: 'g'.repeat(64) }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PasswdCheckError);
    expect(error).toMatchObject({
      constructPath: 'testing/x86_64/Compose',
      field: 'check-passwd',
      message:
        'check-passwd (type file): 1 user failed the check:\n  User missing from new passwd file: ghost',
    });
    const first = (outputs.commit as { checksum: string }).checksum;
    expect((await ostree(repo, 'rev-parse', TREEFILE.ref)).trim()).toBe(first);
  }, 180_000);

  it("previous (rpm-ostree's default): nothing to check on a first commit; a second checks against it", async () => {
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    const log: string[] = [];
    const first = await compose(await treefileInput(TREEFILE), repo, { log });
    expect(first.commit).toMatchObject({ storage: 'ostree-commit' });
    // No previous commit: every user of the tree is new.
    expect(log).toContain('check-passwd: New passwd entries: nobody');

    const again: string[] = [];
    await compose(await treefileInput(TREEFILE), repo, { log: again, digest: 'h'.repeat(64) });
    expect(again.filter((line) => line.startsWith('check-'))).toEqual([]);

    // A uid changed against the previous commit (read with ostree cat) fails, naming the user.
    const renumbered = {
      ...TREEFILE,
      postprocess: [...TREEFILE.postprocess, "sed -i 's/^nobody:x:65534:/nobody:x:65533:/' /etc/passwd\n"],
    };
    await expect(
      compose(await treefileInput(renumbered), repo, { digest: 'i'.repeat(64) }),
    ).rejects.toMatchObject({
      name: 'PasswdCheckError',
      field: 'check-passwd',
      message:
        'check-passwd (type previous): 1 user failed the check:\n  passwd UID changed: nobody (65534 to 65533)',
    });
    // A group removed whose gid owns nothing passes, noted as rpm-ostree does.
    const removed: string[] = [];
    const dropped = {
      ...TREEFILE,
      postprocess: [...TREEFILE.postprocess, "sed -i '/^nobody:/d' /etc/group\n"],
    };
    await compose(await treefileInput(dropped), repo, { log: removed, digest: 'j'.repeat(64) });
    expect(removed).toContain('check-groups: Unused group removed from new group file: nobody');
  }, 240_000);

  it('add-files: each file at its destination with its content and recorded mode, before the postprocess scripts', async () => {
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    const input = await treefileInput({});
    await mkdir(path.join(input, 'add-files'));
    await writeFile(path.join(input, 'add-files/0'), 'added by add-files\n', { mode: 0o444 });
    await writeFile(path.join(input, 'add-files/1'), 'key=value\n', { mode: 0o444 });
    const entries = [
      { file: 'add-files/0', destination: '/usr/share/fcos-cdk/added.txt', mode: 0o640 },
      { file: 'add-files/1', destination: '/etc/fcos-cdk-added.conf', mode: 0o644 },
    ];
    await writeFile(path.join(input, 'add-files.json'), canonicalStringify(entries, 2));
    await rewrite(input, {
      ...TREEFILE,
      'add-files': entries.map((entry) => [entry.file, entry.destination]),
      postprocess: [...TREEFILE.postprocess, 'cp /usr/share/fcos-cdk/added.txt /usr/lib/fcos-cdk-seen\n'],
    });
    const outputs = await compose(input, repo);
    const checksum = (outputs.commit as { checksum: string }).checksum;
    expect(await ostree(repo, 'cat', checksum, '/usr/share/fcos-cdk/added.txt')).toBe('added by add-files\n');
    // /etc is /usr/etc in the commit.
    expect(await ostree(repo, 'cat', checksum, '/usr/etc/fcos-cdk-added.conf')).toBe('key=value\n');
    expect(await ostree(repo, 'ls', checksum, '/usr/share/fcos-cdk/added.txt')).toMatch(
      /^-00640 0 0 +19 \/usr\/share\/fcos-cdk\/added\.txt/,
    );
    expect(await ostree(repo, 'ls', checksum, '/usr/share/fcos-cdk')).toMatch(/^d00755 /);
    expect(await ostree(repo, 'cat', checksum, '/usr/lib/fcos-cdk-seen')).toBe('added by add-files\n');
  }, 120_000);
});

describe('RpmOstreeCompose with a remote repository (served over HTTP on loopback)', () => {
  /** Serves `directory` read-only over HTTP on 127.0.0.1; resolves to its base URL and a closer. */
  async function serveDirectory(directory: string): Promise<{ url: string; close: () => Promise<void> }> {
    const { createServer } = await import('node:http');
    const { readFile: read } = await import('node:fs/promises');
    const server = createServer((request, response) => {
      const file = path.join(directory, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname));
      read(file).then(
        (body) => response.end(body),
        () => {
          response.statusCode = 404;
          response.end();
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    return {
      url: `http://127.0.0.1:${address.port}/`,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  /** The runner's context for a treefile naming only the remote repository `fedora` at `baseurl`. */
  async function remoteContext(baseurl: string, ostreeRepo: string): Promise<RunnerContext> {
    const input = path.join(await makeTempDir(), 'treefile');
    await mkdir(input);
    await writeFile(
      path.join(input, 'treefile.json'),
      canonicalStringify({ ...TREEFILE, repos: ['fedora'] }, 2),
    );
    const remote = { name: 'fedora', local: false, baseurl: [baseurl] };
    await writeFile(path.join(input, 'repos.json'), canonicalStringify([remote], 2));
    const log: string[] = [];
    return {
      nodePath: 'Compose',
      props: {
        treefile: { $input: 'treefile' },
        localRepos: [],
        driver: 'dnf',
        timestamp: 1_700_000_000,
        respin: 0,
      },
      inputs: {
        treefile: {
          type: 'treefile',
          digest: 'f'.repeat(64),
          storage: 'tree',
          path: input,
          metadata: {
            arch: 'x86_64',
            remoteRepos: [{ name: 'fedora', baseurl: [baseurl], metalink: null, mirrorlist: null }],
          },
        },
      },
      declaredOutputs: {},
      projectDir: REPO_ROOT,
      signal: new AbortController().signal,
      workDir: await makeTempDir(),
      ostreeRepo,
      log: (line) => log.push(line),
      exec: (file, args, options) => runTool(file, args, { ...options, log: (line) => log.push(line) }),
    };
  }

  it('installs from the remote repository, fingerprints its repomd.xml, and names it when unreachable', async () => {
    await import('../stages/rpm-ostree-compose/index.ts');
    const runner = RUNNERS.RpmOstreeCompose;
    const served = path.join(await makeTempDir(), 'repo');
    await cp(inject('tinyRepo'), served, { recursive: true });
    const server = await serveDirectory(served);
    const repo = path.join(await makeTempDir(), 'ostree/repo');
    try {
      const context = await remoteContext(server.url, repo);
      const before = (await runner.fingerprint!(context)) as { repositories: Record<string, string> };
      expect(before.repositories.fedora).toMatch(/^sha256:[0-9a-f]{64}$/);
      const outputs = await runner.run(context);
      expect(outputs.commit).toMatchObject({ storage: 'ostree-commit' });
      await appendFile(path.join(served, 'repodata/repomd.xml'), '<!-- republished -->\n');
      const after = (await runner.fingerprint!(context)) as { repositories: Record<string, string> };
      expect(after.repositories.fedora).not.toBe(before.repositories.fedora);
    } finally {
      await server.close();
    }
    const unreachable = await remoteContext(server.url, repo);
    await expect(runner.fingerprint!(unreachable)).rejects.toThrow(
      /repository 'fedora' is unreachable \(http:\/\/127\.0\.0\.1:\d+\/repodata\/repomd\.xml: ECONNREFUSED\): check the network and its \.repo file/,
    );
  }, 120_000);
});
