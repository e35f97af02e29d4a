/**
 * The LocalPackageRepo runner for real: the tiny OS's RPMs built twice in different directories
 * (identical bytes), dated by their specs' %changelog as rpm's own source_date_epoch_from_changelog
 * dates them, their names and contents, the fingerprint, an offline dnf install of them from
 * which tiny-dracut builds an initramfs, and the update agent's programs (ostree with gpg, curl,
 * jq) run inside a root of their own RPMs, where ostree pulls a signed commit with gpg verification.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { ToolExec } from '../lib/exec.ts';
import { runTool } from '../lib/exec.ts';
import type { RunnerContext, RunnerOutput } from '../lib/runner.ts';
import {
  ensureThrowawayKey,
  exportPublicKey,
  stopAgent,
  throwawayKeyFingerprint,
} from '../lib/signing/index.ts';
import { installPackages } from '../lib/tools/dnf.ts';
import { installedVersions, upstreamVersion } from '../lib/tools/dpkg.ts';
import { listPackageFiles, readPackageIdentities } from '../lib/tools/rpm.ts';
import { REPRODUCIBLE_DEFINES } from '../lib/tools/rpmbuild.ts';
import { ChangelogDateError, newestChangelogTime, parseChangelogDate } from '../lib/tools/spec-changelog.ts';
import { buildInitramfs } from '../lib/tools/tiny-dracut.ts';
import type { LocalPackageRepoConfig } from '../stages/local-package-repo/index.ts';
import localPackageRepoRunner, {
  findHostKernel,
  LocalPackageRepoError,
} from '../stages/local-package-repo/runner.ts';
import { makeTempDir, REPO_ROOT } from './helpers/temp-project.ts';

/** The packages local-os/packages builds, by name: each NAME.spec builds package NAME. */
async function specNames(): Promise<string[]> {
  return (await readdir(path.join(REPO_ROOT, 'local-os/packages')))
    .filter((name) => name.endsWith('.spec'))
    .map((name) => name.slice(0, -'.spec'.length))
    .sort();
}

/** The pipeline's props: no sourceDateEpoch, each spec dated by its %changelog. */
const PROPS: LocalPackageRepoConfig = {
  specs: 'local-os/packages',
  name: 'local',
  arch: 'x86_64',
};

/** Tool runner of the tests: lines go to `log`. */
function testExec(log: string[]): ToolExec {
  return (file, args, options) => runTool(file, args, { ...options, log: (line) => log.push(line) });
}

/** A RunnerContext for the runner, as the executor would build it. */
function runnerContext(
  workDir: string,
  projectDir: string,
  log: string[],
  props: LocalPackageRepoConfig = PROPS,
): RunnerContext<LocalPackageRepoConfig> {
  return {
    nodePath: 'Packages',
    props,
    inputs: {},
    declaredOutputs: { repo: { type: 'rpm-repo', attributes: { name: PROPS.name } } },
    projectDir,
    signal: new AbortController().signal,
    workDir,
    ostreeRepo: '',
    log: (line) => log.push(line),
    exec: testExec(log),
  };
}

/** sha256 of a file, hex. */
async function sha256File(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/** sha256 of every file of a repository (Packages/*.rpm and repodata/*), by relative path. */
async function repositoryDigests(repo: string): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const directory of ['Packages', 'repodata']) {
    for (const name of (await readdir(path.join(repo, directory))).sort()) {
      digests[`${directory}/${name}`] = await sha256File(path.join(repo, directory, name));
    }
  }
  return digests;
}

/** The tree output's path, failing the test if the output is not a tree. */
function treePath(output: RunnerOutput | undefined): string {
  if (output?.storage !== 'tree') throw new Error(`expected a tree output, got ${JSON.stringify(output)}`);
  return output.path;
}

const log: string[] = [];
let first: Readonly<Record<string, RunnerOutput>>;
let second: Readonly<Record<string, RunnerOutput>>;
let kernelVersion: string;
let installRoot: string;
let initramfsEntries: string[];

beforeAll(async () => {
  kernelVersion = (await findHostKernel()).version;
  [first, second] = await Promise.all([
    localPackageRepoRunner.run(runnerContext(await makeTempDir('fcos-repo-a-'), REPO_ROOT, log)),
    localPackageRepoRunner.run(runnerContext(await makeTempDir('fcos-repo-b-'), REPO_ROOT, log)),
  ]);
  const scratch = await makeTempDir('fcos-tiny-root-');
  installRoot = path.join(scratch, 'root');
  const treefile = parseYaml(await readFile(path.join(REPO_ROOT, 'local-os/manifest.yaml'), 'utf8')) as {
    packages: string[];
    releasever: number;
  };
  await installPackages(testExec(log), {
    installRoot,
    stateDir: path.join(scratch, 'dnf'),
    repositories: [{ name: 'local', directory: treePath(first.repo) }],
    packages: treefile.packages,
    releaseVersion: String(treefile.releasever),
    sourceDateEpoch: 0,
  });
  const initramfs = path.join(scratch, 'initramfs.img');
  await buildInitramfs(testExec(log), { root: installRoot, kernelVersion, output: initramfs });
  const archive = path.join(scratch, 'initramfs.cpio');
  await runTool('gzip', ['-dc', '--', initramfs], { stdoutFile: archive });
  const listing = await runTool('cpio', ['-it', '--quiet', '-F', archive], { quietStdout: true });
  initramfsEntries = listing.stdout.split('\n').filter((line) => line !== '');
});

describe('LocalPackageRepo runner', () => {
  it('builds identical RPMs and repodata in two different directories', async () => {
    const digestsOfFirst = await repositoryDigests(treePath(first.repo));
    const digestsOfSecond = await repositoryDigests(treePath(second.repo));
    expect(Object.keys(digestsOfFirst)).toContain('repodata/repomd.xml');
    expect(Object.keys(digestsOfFirst).filter((name) => name.endsWith('.rpm'))).toHaveLength(
      (await specNames()).length,
    );
    expect(digestsOfSecond).toEqual(digestsOfFirst);
    expect(second.repo?.metadata).toEqual(first.repo?.metadata);
  });

  it("writes rpmbuild's scriptlets (rpm-tmp.*) into the work directory, not /var/tmp", () => {
    // `Executing(%install): /bin/sh -e FILE`: FILE is the scriptlet rpmbuild wrote (and leaves behind when killed).
    const scriptlets = log
      .map((line) => /^Executing\(%\w+\): \/bin\/sh -e (\S+)$/.exec(line.trim())?.[1])
      .filter((file) => file !== undefined);
    expect(scriptlets.length).toBeGreaterThan(0);
    for (const file of scriptlets) {
      expect(file).toMatch(/\/fcos-repo-[ab]-[^/]+\/rpmbuild\/[^/]+\/tmp\/rpm-tmp\.[^/]+$/);
      expect(file.startsWith('/var/tmp/')).toBe(false);
    }
  });

  it('builds every spec, the packages local.yaml installs among them, and records them as NEVRAs', async () => {
    const repo = treePath(first.repo);
    const rpmFiles = (await readdir(path.join(repo, 'Packages'))).map((name) =>
      path.join(repo, 'Packages', name),
    );
    const identities = await readPackageIdentities(testExec(log), rpmFiles);
    const names = identities.map((identity) => identity.name).sort();
    expect(names).toEqual(await specNames());
    expect(names).toEqual(expect.arrayContaining(['ostree', 'curl', 'jq', 'busybox', 'tiny-release']));
    const treefile = parseYaml(await readFile(path.join(REPO_ROOT, 'local-os/manifest.yaml'), 'utf8')) as {
      packages: string[];
    };
    expect(treefile.packages.filter((name) => !names.includes(name))).toEqual([]);
    const metadata = first.repo?.metadata;
    expect(metadata?.name).toBe('local');
    expect(metadata?.packages).toContain('tiny-release-41-1.noarch');
    expect(metadata?.packages).toHaveLength(names.length);
    const ostreeVersion = (await installedVersions(testExec(log), ['ostree'])).get('ostree') ?? '';
    expect(metadata?.packages).toContain(`ostree-${upstreamVersion(ostreeVersion)}-1.x86_64`);
  });

  it('puts the host kernel at /usr/lib/modules/KVER/vmlinuz with its modules and index', async () => {
    const repo = treePath(first.repo);
    const kernelRpm = (await readdir(path.join(repo, 'Packages'))).find((name) =>
      name.startsWith('tiny-kernel-'),
    );
    expect(kernelRpm).toBeDefined();
    const files = await listPackageFiles(testExec(log), path.join(repo, 'Packages', kernelRpm ?? ''));
    const modules = `/usr/lib/modules/${kernelVersion}`;
    expect(files).toContain(`${modules}/vmlinuz`);
    expect(files).toContain(`${modules}/modules.dep`);
    expect(files).toContain(`${modules}/kernel/drivers/firmware/qemu_fw_cfg.ko`);
    expect(files).toContain(`${modules}/kernel/fs/ext4/ext4.ko`);
  });

  it("dates each RPM by its spec's newest %changelog entry, as rpm's source_date_epoch_from_changelog does", async () => {
    const repo = treePath(first.repo);
    const packages = path.join(repo, 'Packages');
    const files = (await readdir(packages)).sort();
    const buildTimes = await runTool('rpm', [
      '-qp',
      '--qf',
      '%{NAME}\\t%{BUILDTIME}\\n',
      ...files.map((name) => path.join(packages, name)),
    ]);
    const byName = new Map(
      buildTimes.stdout
        .trim()
        .split('\n')
        .map((line) => line.split('\t') as [string, string]),
    );
    for (const [name, buildTime] of byName) {
      const spec = await readFile(path.join(REPO_ROOT, 'local-os/packages', `${name}.spec`), 'utf8');
      expect(Number(buildTime), name).toBe(newestChangelogTime(spec));
    }
    // The tiny OS is as new as tiny-dracut, its newest spec; the repository's revision says so.
    expect(new Set(byName.values()).size).toBeGreaterThan(1);
    const newest = Math.max(...[...byName.values()].map(Number));
    expect(await readFile(path.join(repo, 'repodata/repomd.xml'), 'utf8')).toContain(
      `<revision>${newest}</revision>`,
    );
    // rpmbuild itself, with rpm's macro and no SOURCE_DATE_EPOCH: the same build time for tiny-init.
    const scratch = await makeTempDir('fcos-rpm-sde-');
    await mkdir(path.join(scratch, 'home'));
    const defines = {
      _topdir: path.join(scratch, 'top'),
      _sourcedir: path.join(REPO_ROOT, 'local-os/packages/tiny-init'),
      _rpmdir: path.join(scratch, 'rpms'),
      _build_name_fmt: '%{NAME}.rpm',
      ...REPRODUCIBLE_DEFINES,
      source_date_epoch_from_changelog: '1',
    };
    const output = await runTool(
      'env',
      [
        '-u',
        'SOURCE_DATE_EPOCH',
        'rpmbuild',
        '-bb',
        ...Object.entries(defines).flatMap(([name, value]) => ['--define', `${name} ${value}`]),
        path.join(REPO_ROOT, 'local-os/packages/tiny-init.spec'),
      ],
      { env: { HOME: path.join(scratch, 'home'), TZ: 'America/New_York' } },
    );
    expect(output.stdout + output.stderr).toContain(`setting SOURCE_DATE_EPOCH=${byName.get('tiny-init')}`);
    const rpmOwn = await runTool('rpm', [
      '-qp',
      '--qf',
      '%{BUILDTIME}',
      path.join(scratch, 'rpms/tiny-init.rpm'),
    ]);
    expect(rpmOwn.stdout).toBe(byName.get('tiny-init'));
  });

  it('names a spec without a %changelog, unless sourceDateEpoch is given', async () => {
    const project = await makeTempDir('fcos-undated-');
    const specs = path.join(project, 'local-os/packages');
    await cp(path.join(REPO_ROOT, 'local-os/packages/tiny-init'), path.join(specs, 'tiny-init'), {
      recursive: true,
    });
    const dated = await readFile(path.join(REPO_ROOT, 'local-os/packages/tiny-init.spec'), 'utf8');
    await writeFile(path.join(specs, 'tiny-init.spec'), dated.slice(0, dated.indexOf('%changelog')));
    const props = { ...PROPS, packages: ['tiny-init'] };
    const error = await localPackageRepoRunner
      .run(runnerContext(await makeTempDir(), project, log, props))
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LocalPackageRepoError);
    expect(error).toMatchObject({
      constructPath: 'Packages',
      field: 'sourceDateEpoch',
      message:
        'tiny-init.spec has no %changelog entry to date its build from: add one (the date of its content), or set sourceDateEpoch',
    });
    // An explicit sourceDateEpoch dates every package without a changelog.
    const outputs = await localPackageRepoRunner.run(
      runnerContext(await makeTempDir(), project, log, { ...props, sourceDateEpoch: 1_700_000_000 }),
    );
    const packages = path.join(treePath(outputs.repo), 'Packages');
    const rpm = path.join(
      packages,
      (await readdir(packages)).find((name) => name.startsWith('tiny-init-')) ?? '',
    );
    expect((await runTool('rpm', ['-qp', '--qf', '%{BUILDTIME}', rpm])).stdout).toBe('1700000000');
    // A date rpm would read otherwise (or not at all) is named with the spec.
    await writeFile(
      path.join(specs, 'tiny-init.spec'),
      `${dated.slice(0, dated.indexOf('%changelog'))}%changelog\n* Mon Nov 02 12:00:00 CET 2026 x\n- y\n`,
    );
    await expect(
      localPackageRepoRunner.run(runnerContext(await makeTempDir(), project, log, props)),
    ).rejects.toMatchObject({
      name: 'LocalPackageRepoError',
      field: 'sourceDateEpoch',
      message: expect.stringMatching(/^tiny-init\.spec: %changelog entry .* give the time in UTC, not 'CET'/),
    });
  });

  it('has a fingerprint that is stable and changes when a spec file changes', async () => {
    const project = await makeTempDir('fcos-specs-');
    await cp(path.join(REPO_ROOT, 'local-os/packages'), path.join(project, 'local-os/packages'), {
      recursive: true,
    });
    const context = runnerContext(await makeTempDir(), project, log);
    const fingerprint = localPackageRepoRunner.fingerprint;
    if (!fingerprint) throw new Error('LocalPackageRepo has no fingerprint');
    const before = await fingerprint(context);
    expect(await fingerprint(context)).toEqual(before);
    expect(JSON.stringify(before)).toContain(kernelVersion);
    const spec = path.join(project, 'local-os/packages/tiny-init.spec');
    await writeFile(spec, `${await readFile(spec, 'utf8')}\n# changed\n`);
    expect(await fingerprint(context)).not.toEqual(before);
  });
});

describe('the tiny OS installed offline with dnf', () => {
  it('holds the init, the kernel, and nothing of dnf', async () => {
    const listing = await readdir(installRoot, { recursive: true });
    expect(listing).toContain(`usr/lib/modules/${kernelVersion}/vmlinuz`);
    expect(listing).toContain('usr/lib/tiny-init/init');
    expect(listing).toContain('usr/sbin/init');
    expect(listing).toContain('usr/lib/sysimage/rpm/rpmdb.sqlite');
    expect(listing.filter((name) => name.startsWith('tmp/') || name.startsWith('etc/dnf'))).toEqual([]);
    expect(listing.filter((name) => /rpmdb\.sqlite-(shm|wal)$/.test(name))).toEqual([]);
  });

  it('gives tiny-dracut what it needs to build an initramfs with Ignition and fw_cfg', () => {
    expect(initramfsEntries).toContain('init');
    expect(initramfsEntries).toContain('bin/busybox');
    expect(initramfsEntries).toContain('bin/switch_root');
    expect(initramfsEntries).toContain('usr/bin/ignition');
    expect(initramfsEntries).toContain('usr/sbin/setfiles');
    expect(initramfsEntries).toContain('lib64/ld-linux-x86-64.so.2');
    expect(initramfsEntries).toContain(`lib/modules/${kernelVersion}/modules.dep`);
    expect(initramfsEntries.some((entry) => /\/qemu_fw_cfg\.ko(\.\w+)?$/.test(entry))).toBe(true);
  });

  it('gives the initramfs the shadow tools Ignition creates users and groups with', () => {
    for (const tool of ['useradd', 'usermod', 'groupadd']) {
      expect(initramfsEntries).toContain(`usr/sbin/${tool}`);
    }
    expect(initramfsEntries).toContain('etc/login.defs');
    expect(initramfsEntries).toContain('bin/chroot');
    expect(initramfsEntries).toContain('bin/id');
    expect(initramfsEntries.some((entry) => entry.endsWith('/libaudit.so.1'))).toBe(true);
  });
});

/** Runs `command` in `root` as the tiny OS would: chrooted, with /proc mounted (in a mount namespace of its own). */
function inRoot(root: string, command: readonly string[], okExitCodes: readonly number[] = [0]) {
  // unshare mounts /proc inside `root` (ostree reads the boot id and /proc/self/fd) in a private
  // mount namespace, so nothing stays mounted on the host; timeout bounds a hung program.
  return runTool(
    'timeout',
    [
      '--kill-after=5',
      '60',
      'unshare',
      '--mount',
      '--pid',
      '--fork',
      '--mount-proc=/proc',
      `--root=${root}`,
      ...command,
    ],
    { okExitCodes, log: (line) => log.push(line) },
  );
}

/** A throwaway GnuPG key of its own in a new directory: its home and fingerprint. */
async function throwawayKey(): Promise<{ gnupgHome: string; fingerprint: string }> {
  const cache = await makeTempDir('fcos-key-');
  const gnupgHome = await ensureThrowawayKey(testExec(log), cache);
  const fingerprint = await throwawayKeyFingerprint(cache);
  if (!fingerprint) throw new Error(`no fingerprint recorded for the key in ${cache}`);
  return { gnupgHome, fingerprint };
}

describe("the update agent's programs in a root of their RPMs", () => {
  let agentRoot: string;
  let packageFiles: Map<string, string>;

  beforeAll(async () => {
    const packages = path.join(treePath(first.repo), 'Packages');
    const rpmFiles = (await readdir(packages)).map((name) => path.join(packages, name));
    const identities = await readPackageIdentities(testExec(log), rpmFiles);
    packageFiles = new Map(identities.map((identity, index) => [identity.name, rpmFiles[index]!]));
    agentRoot = path.join(await makeTempDir('fcos-agent-root-'), 'root');
    // tiny-release gives /lib, /lib64 and /tmp; busybox the shell. No dependencies are declared.
    const wanted = ['tiny-release', 'busybox', 'ostree', 'curl', 'jq', 'zstd'].map(
      (name) => packageFiles.get(name) ?? name,
    );
    await runTool('rpm', ['--root', agentRoot, '--install', '--nodeps', ...wanted], {
      log: (line) => log.push(line),
    });
    // The guest's devtmpfs has /dev/null; gpgme opens it for the gpg it starts.
    await runTool('mknod', ['-m', '0666', path.join(agentRoot, 'dev/null'), 'c', '1', '3']);
  });

  it('runs ostree, gpg, gpgv, gpgconf, curl, jq and zstd with only the libraries the packages bring', async () => {
    expect((await inRoot(agentRoot, ['/usr/bin/ostree', '--version'])).stdout).toMatch(
      /^libostree:\n Version: '\d{4}\.\d+'\n[\s\S]*- gpgme/m,
    );
    expect((await inRoot(agentRoot, ['/usr/bin/jq', '-n', '{"a": [1, 2]} | .a[1] + 40'])).stdout.trim()).toBe(
      '42',
    );
    expect((await inRoot(agentRoot, ['/usr/bin/curl', '--version'])).stdout).toMatch(
      /^curl \d+\.\d+\.\d+ .*\bhttp\b/s,
    );
    expect((await inRoot(agentRoot, ['/usr/bin/gpg', '--version'])).stdout).toMatch(/^gpg \(GnuPG\) 2\./);
    expect((await inRoot(agentRoot, ['/usr/bin/gpgv', '--version'])).stdout).toMatch(/^gpgv \(GnuPG\) 2\./);
    // gpgme finds gpg through gpgconf's bindir.
    expect((await inRoot(agentRoot, ['/usr/bin/gpgconf', '--list-dirs', 'bindir'])).stdout.trim()).toBe(
      '/usr/bin',
    );
    // curl fetches a file:// URL, as it fetches the graph over HTTP: its protocol code runs.
    await writeFile(
      path.join(agentRoot, 'tmp/graph.json'),
      '{"nodes": [{"version": "41.1"}], "edges": []}\n',
    );
    const fetched = await inRoot(agentRoot, [
      '/usr/bin/curl',
      '--silent',
      '--fail',
      'file:///tmp/graph.json',
    ]);
    expect(JSON.parse(fetched.stdout)).toEqual({ nodes: [{ version: '41.1' }], edges: [] });
    // zstd decodes what it encoded (coreos-installer's zstd images).
    await writeFile(path.join(agentRoot, 'tmp/image'), 'disk bytes\n'.repeat(1000));
    await inRoot(agentRoot, ['/usr/bin/zstd', '-q', '/tmp/image', '-o', '/tmp/image.zst']);
    expect((await inRoot(agentRoot, ['/usr/bin/zstd', '-q', '-d', '-c', '/tmp/image.zst'])).stdout).toBe(
      'disk bytes\n'.repeat(1000),
    );
    // Nothing of the host leaked in: the root has no /etc/ld.so.cache to find the host's libraries with.
    expect(await readdir(path.join(agentRoot, 'etc'))).not.toContain('ld.so.cache');
  });

  it('pulls a signed commit with gpg-verify=true, and refuses it when the key is another', async () => {
    const scratch = await makeTempDir('fcos-signed-repo-');
    const signer = await throwawayKey();
    const stranger = await throwawayKey();
    const source = path.join(scratch, 'repo');
    const tree = path.join(scratch, 'tree');
    await mkdir(path.join(tree, 'usr/bin'), { recursive: true });
    await writeFile(path.join(tree, 'usr/bin/hello'), 'hello\n');
    await runTool('ostree', ['init', `--repo=${source}`, '--mode=archive']);
    try {
      await runTool('ostree', [
        'commit',
        `--repo=${source}`,
        '--branch=fedora/x86_64/coreos/testing',
        `--tree=dir=${tree}`,
        `--gpg-sign=${signer.fingerprint}`,
        `--gpg-homedir=${signer.gnupgHome}`,
      ]);
    } finally {
      await stopAgent(signer.gnupgHome);
    }
    await runTool('ostree', ['summary', `--repo=${source}`, '--update']);
    const checksum = (
      await runTool('ostree', ['rev-parse', `--repo=${source}`, 'fedora/x86_64/coreos/testing'])
    ).stdout.trim();
    // The repository and both public keys are copied into the root, where the guest's ostree sees them.
    await cp(source, path.join(agentRoot, 'tmp/source'), { recursive: true });
    await writeFile(path.join(agentRoot, 'tmp/signer.asc'), await exportPublicKey(testExec(log), signer));
    await writeFile(path.join(agentRoot, 'tmp/stranger.asc'), await exportPublicKey(testExec(log), stranger));
    const url = pathToFileURL('/tmp/source').href;
    const ostree = (...args: string[]) => ['/usr/bin/ostree', '--repo=/tmp/local', ...args];
    await inRoot(agentRoot, ostree('init', '--mode=bare-user'));
    const remotes = { fedora: '/tmp/signer.asc', impostor: '/tmp/stranger.asc' };
    for (const [remote, key] of Object.entries(remotes)) {
      await inRoot(
        agentRoot,
        ostree('remote', 'add', '--set=gpg-verify=true', `--set=gpgkeypath=${key}`, remote, url),
      );
    }

    // The other key first: nothing of the commit is in the local repository yet.
    const refused = await inRoot(agentRoot, ostree('pull', 'impostor', 'fedora/x86_64/coreos/testing'), [1]);
    expect(refused.stderr).toContain(`Commit ${checksum}`);
    expect(refused.stderr).toContain("Can't check signature: public key not found");
    await inRoot(agentRoot, ostree('rev-parse', 'impostor:fedora/x86_64/coreos/testing'), [1]);

    await inRoot(agentRoot, ostree('pull', 'fedora', 'fedora/x86_64/coreos/testing'));
    expect(
      (await inRoot(agentRoot, ostree('rev-parse', 'fedora:fedora/x86_64/coreos/testing'))).stdout.trim(),
    ).toBe(checksum);
    const shown = await inRoot(agentRoot, ostree('show', '--gpg-verify-remote=fedora', checksum));
    expect(shown.stdout).toContain('Good signature');
    expect(shown.stdout).toContain(signer.fingerprint.slice(-16));
  });
});

describe('%changelog dates', () => {
  it('reads the newest (first) entry: a day is its 00:00 UTC, a time in UTC that instant', () => {
    const spec = [
      'Name: x',
      '%files',
      '/x',
      '',
      '%changelog',
      '',
      '* Mon Nov 16 2026 Someone <someone@example.com> - 1.0-2',
      '- newer',
      '',
      '* Mon Sep 14 2026 Someone <someone@example.com> - 1.0-1',
      '- older',
    ].join('\n');
    expect(newestChangelogTime(spec)).toBe(Date.UTC(2026, 10, 16) / 1000);
    expect(parseChangelogDate('Tue Mar  4 2025 Someone')).toBe(Date.UTC(2025, 2, 4) / 1000);
    expect(parseChangelogDate('Tue Mar 04 18:30:00 UTC 2025 Someone - 1')).toBe(
      Date.UTC(2025, 2, 4, 18, 30) / 1000,
    );
    expect(parseChangelogDate('Tue Mar 04 18:30:00 GMT 2025 Someone - 1')).toBe(
      Date.UTC(2025, 2, 4, 18, 30) / 1000,
    );
  });

  it('finds no date in a spec without a %changelog or without an entry in it', () => {
    expect(newestChangelogTime('Name: x\n%files\n/x\n')).toBeUndefined();
    expect(newestChangelogTime('Name: x\n%changelog\n\n')).toBeUndefined();
    // `%changelog` only as a whole line starts the section.
    expect(newestChangelogTime('# see %changelog below\nName: x\n')).toBeUndefined();
  });

  it('refuses a date rpm reads otherwise, or not at all', () => {
    for (const entry of ['Tue Mar 32 2025 x', 'Tue Mar 04 25 x', 'Tue March 04 2025 x', 'Feb 29 2025 x']) {
      expect(() => parseChangelogDate(entry), entry).toThrow(ChangelogDateError);
    }
    expect(() => parseChangelogDate('Tue Mar 04 18:30:00 CET 2025 x')).toThrow(
      /give the time in UTC, not 'CET'/,
    );
    expect(() => parseChangelogDate('Tue Mar 04 25:30:00 UTC 2025 x')).toThrow(ChangelogDateError);
  });
});
