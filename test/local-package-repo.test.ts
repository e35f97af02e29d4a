/**
 * The LocalPackageRepo runner for real: the tiny OS's RPMs built twice in different directories
 * (identical bytes), their names and contents, the fingerprint, and an offline dnf install of them
 * from which tiny-dracut builds an initramfs.
 */
import { createHash } from 'node:crypto';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { ToolExec } from '../lib/exec.ts';
import { runTool } from '../lib/exec.ts';
import type { RunnerContext, RunnerOutput } from '../lib/runner.ts';
import { installPackages } from '../lib/tools/dnf.ts';
import { listPackageFiles, readPackageIdentities } from '../lib/tools/rpm.ts';
import { buildInitramfs } from '../lib/tools/tiny-dracut.ts';
import type { LocalPackageRepoConfig } from '../stages/local-package-repo/index.ts';
import localPackageRepoRunner, { findHostKernel } from '../stages/local-package-repo/runner.ts';
import { makeTempDir, REPO_ROOT } from './helpers/temp-project.ts';

const PROPS: LocalPackageRepoConfig = {
  specs: 'local-os/packages',
  name: 'local',
  sourceDateEpoch: 1_700_000_000,
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
): RunnerContext<LocalPackageRepoConfig> {
  return {
    nodePath: 'Packages',
    props: PROPS,
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
    sourceDateEpoch: PROPS.sourceDateEpoch,
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
    expect(Object.keys(digestsOfFirst).filter((name) => name.endsWith('.rpm'))).toHaveLength(7);
    expect(digestsOfSecond).toEqual(digestsOfFirst);
    expect(second.repo?.metadata).toEqual(first.repo?.metadata);
  });

  it('builds the packages local.yaml installs, and records them as NEVRAs', async () => {
    const repo = treePath(first.repo);
    const rpmFiles = (await readdir(path.join(repo, 'Packages'))).map((name) =>
      path.join(repo, 'Packages', name),
    );
    const identities = await readPackageIdentities(testExec(log), rpmFiles);
    const names = identities.map((identity) => identity.name).sort();
    expect(names).toEqual([
      'busybox',
      'ignition',
      'shadow-utils',
      'tiny-dracut',
      'tiny-init',
      'tiny-kernel',
      'tiny-release',
    ]);
    const treefile = parseYaml(await readFile(path.join(REPO_ROOT, 'local-os/manifest.yaml'), 'utf8')) as {
      packages: string[];
    };
    expect([...treefile.packages].sort()).toEqual(names);
    const metadata = first.repo?.metadata;
    expect(metadata?.name).toBe('local');
    expect(metadata?.packages).toContain('tiny-release-41-1.noarch');
    expect(metadata?.packages).toHaveLength(7);
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
