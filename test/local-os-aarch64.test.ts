/**
 * The local tiny OS for aarch64 on this x86_64 host, through the real executor: LocalPackageRepo
 * with arch aarch64 (the arm64 Debian files of /var/lib/fcos-cdk/roots/aarch64, which
 * scripts/setup.sh makes), a Manifest with arches ['aarch64'] and its RpmOstreeCompose
 * (dnf --forcearch). Checked: the RPMs' arches and ELF machines, the commit's kernel (an arm64 EFI
 * Image), its initramfs's busybox, ignition and ostree with every library they need; a missing
 * foreign root and a foreign-arch postprocess are typed errors naming the construct and field.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runTool } from '../lib/exec.ts';
import type { RunnerContext } from '../lib/runner.ts';
import { canExecuteArch, FOREIGN_ROOT_MARKER, foreignRootsDirectory } from '../lib/tools/foreign-root.ts';
import type { LocalPackageRepoConfig } from '../stages/local-package-repo/index.ts';
import localPackageRepoRunner, { MissingHostInputError } from '../stages/local-package-repo/runner.ts';
import { checkForeignArch, ForeignArchError } from '../stages/rpm-ostree-compose/dnf-driver.ts';
import { makeTempDir, makeTempProject, REPO_ROOT, runIn, synthIn } from './helpers/temp-project.ts';

/** The aarch64 compose of the local tiny OS. */
const PROGRAM = `
import { LocalPackageRepo, Manifest, Pipeline, RpmOstreeCompose, streamCode } from 'fcos-cdk';
const pipeline = new Pipeline({ name: 'aarch64' });
const repo = new LocalPackageRepo(pipeline, 'Packages', { specs: 'local-os/packages', arch: 'aarch64' });
const manifest = new Manifest(pipeline, 'Manifest', { file: 'local-os/manifest.yaml', arches: ['aarch64'], localRepos: [repo.repo], variables: { stream: 'testing', stream_code: streamCode('testing') } });
new RpmOstreeCompose(pipeline, 'Compose', { treefile: manifest.treefileFor('aarch64') });
`;

/** readelf -h's Machine line of `file`, or undefined if it is not an ELF file. */
async function elfMachine(file: string): Promise<string | undefined> {
  const header = Buffer.alloc(4);
  const handle = await open(file, 'r');
  try {
    await handle.read(header, 0, 4, 0);
  } finally {
    await handle.close();
  }
  if (header.toString('latin1') !== '\x7fELF') return undefined;
  const { stdout } = await runTool('readelf', ['-h', file]);
  return /^\s*Machine:\s+(.+)$/m.exec(stdout)?.[1]?.trim();
}

/** Every regular file under `directory`, recursively (absolute paths). */
async function regularFiles(directory: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) files.push(path.join(entry.parentPath, entry.name));
  }
  return files.sort();
}

/** The libraries ELF file `file` of `root` needs (elf-libraries.sh), failing if one is missing. */
async function neededLibraries(root: string, file: string): Promise<string[]> {
  const script = path.join(REPO_ROOT, 'local-os/packages/elf-libraries.sh');
  const { stdout } = await runTool('sh', [script, root, 'aarch64-linux-gnu', file]);
  return stdout
    .trim()
    .split('\n')
    .map((line) => line.split(' ')[0]!);
}

let project: string;
let repoDirectory: string;
let checkout: string;
let kernelVersion: string;

beforeAll(async () => {
  const marker = path.join(foreignRootsDirectory(), 'aarch64', FOREIGN_ROOT_MARKER);
  if (!existsSync(marker)) throw new Error(`no aarch64 foreign root (${marker}): run scripts/setup.sh`);
  project = await makeTempProject('fcos-aarch64-');
  await cp(path.join(REPO_ROOT, 'local-os'), path.join(project, 'local-os'), { recursive: true });
  await writeFile(path.join(project, 'app.ts'), PROGRAM);
  expect((await synthIn(project)).code).toBe(0);
  const run = await runIn(project);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const outputs = JSON.parse(await readFile(path.join(project, 'fcos.out/outputs.json'), 'utf8'));
  expect(outputs.Packages.repo.metadata).toMatchObject({ arch: 'aarch64' });
  repoDirectory = path.join(project, 'fcos.out', outputs.Packages.repo.path);
  expect(outputs.Compose.commit.metadata).toMatchObject({
    ref: 'fedora/aarch64/coreos/testing',
    arch: 'aarch64',
  });
  kernelVersion = outputs.Compose.commit.metadata.kernelVersion;
  checkout = path.join(await makeTempDir('fcos-aarch64-checkout-'), 'tree');
  await runTool('ostree', [
    `--repo=${path.join(project, 'cache/ostree/repo')}`,
    'checkout',
    '--user-mode',
    outputs.Compose.commit.digest,
    checkout,
  ]);
}, 600_000);

describe('the aarch64 LocalPackageRepo', () => {
  it('builds aarch64 and noarch RPMs whose binaries are AArch64 ELF files', async () => {
    const packages = path.join(repoDirectory, 'Packages');
    const names = (await readdir(packages)).sort();
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) expect(name).toMatch(/\.(aarch64|noarch)\.rpm$/);
    const archSpecific = names.filter((name) => name.endsWith('.aarch64.rpm'));
    expect(archSpecific.map((name) => name.replace(/-[^-]+-[^-]+$/, ''))).toEqual([
      'bubblewrap',
      'busybox',
      'curl',
      'ignition',
      'jq',
      'ostree',
      'shadow-utils',
      'tiny-kernel',
      'zstd',
    ]);
    const unpacked = await makeTempDir('fcos-aarch64-rpms-');
    for (const name of archSpecific) {
      await runTool('sh', [
        '-c',
        'rpm2cpio "$1" | (cd "$2" && cpio -idm --quiet)',
        'sh',
        path.join(packages, name),
        unpacked,
      ]);
    }
    const machines = new Map<string, number>();
    for (const file of await regularFiles(unpacked)) {
      const machine = await elfMachine(file);
      if (machine) machines.set(machine, (machines.get(machine) ?? 0) + 1);
    }
    // Executables, libraries and kernel modules: all AArch64, dozens of them.
    expect([...machines.keys()]).toEqual(['AArch64']);
    expect(machines.get('AArch64')).toBeGreaterThan(100);
  });

  it('is a MissingHostInputError naming the construct and field arch when the foreign root is missing', async () => {
    const empty = await makeTempDir('fcos-no-roots-');
    const props: LocalPackageRepoConfig = { specs: 'local-os/packages', name: 'local', arch: 'aarch64' };
    const context: RunnerContext<LocalPackageRepoConfig> = {
      nodePath: 'aarch64/Packages',
      props,
      inputs: {},
      declaredOutputs: { repo: { type: 'rpm-repo', attributes: { name: 'local', arch: 'aarch64' } } },
      projectDir: REPO_ROOT,
      signal: new AbortController().signal,
      workDir: await makeTempDir(),
      ostreeRepo: '',
      log: () => {},
      exec: (file, args, options) => runTool(file, args, options),
    };
    const previous = process.env.FCOS_FOREIGN_ROOTS_DIR;
    process.env.FCOS_FOREIGN_ROOTS_DIR = empty;
    // A root without its marker is incomplete (an interrupted foreign-root.sh): missing as well.
    await mkdir(path.join(empty, 'aarch64/usr/lib/modules'), { recursive: true });
    try {
      for (const step of [localPackageRepoRunner.fingerprint!, localPackageRepoRunner.run]) {
        const error = await step(context).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(MissingHostInputError);
        expect(error).toMatchObject({ constructPath: 'aarch64/Packages', field: 'arch' });
        expect((error as Error).message).toContain(path.join(empty, 'aarch64'));
        expect((error as Error).message).toContain('scripts/setup.sh');
      }
    } finally {
      if (previous === undefined) delete process.env.FCOS_FOREIGN_ROOTS_DIR;
      else process.env.FCOS_FOREIGN_ROOTS_DIR = previous;
    }
  });
});

describe('the aarch64 compose', () => {
  it('has /usr/lib/modules/KVER/vmlinuz, an arm64 EFI Image', async () => {
    expect(kernelVersion).toMatch(/-arm64$/);
    const vmlinuz = await readFile(path.join(checkout, 'usr/lib/modules', kernelVersion, 'vmlinuz'));
    // The arm64 Image header: "ARM\x64" at 56; its EFI stub makes it a PE file too ("MZ", "PE\0\0").
    expect(vmlinuz.subarray(56, 60).toString('latin1')).toBe('ARM\x64');
    expect(vmlinuz.subarray(0, 2).toString('latin1')).toBe('MZ');
    const peOffset = vmlinuz.readUInt32LE(0x3c);
    expect(vmlinuz.subarray(peOffset, peOffset + 4).toString('latin1')).toBe('PE\0\0');
    // PE machine 0xaa64: ARM64.
    expect(vmlinuz.readUInt16LE(peOffset + 4)).toBe(0xaa64);
  });

  it('has an initramfs whose busybox, ignition and useradd are AArch64 ELF files with their libraries', async () => {
    const unpacked = await makeTempDir('fcos-aarch64-initramfs-');
    const initramfs = path.join(checkout, 'usr/lib/modules', kernelVersion, 'initramfs.img');
    await runTool('sh', [
      '-c',
      'gzip -dc "$1" | (cd "$2" && cpio -idm --quiet 2>/dev/null)',
      'sh',
      initramfs,
      unpacked,
    ]);
    expect(await elfMachine(path.join(unpacked, 'bin/busybox'))).toBe('AArch64');
    for (const binary of ['usr/bin/ignition', 'usr/sbin/useradd']) {
      expect(await elfMachine(path.join(unpacked, binary))).toBe('AArch64');
      const libraries = await neededLibraries(unpacked, `/${binary}`);
      expect(libraries).toContain('/lib/ld-linux-aarch64.so.1');
      for (const library of libraries) expect(await elfMachine(path.join(unpacked, library))).toBe('AArch64');
    }
    expect(existsSync(path.join(unpacked, 'lib/modules', kernelVersion, 'modules.dep'))).toBe(true);
  });

  it('has ignition and ostree as AArch64 ELF files with every library they need', async () => {
    for (const binary of [
      '/usr/lib/dracut/modules.d/30ignition/ignition',
      '/usr/bin/ostree',
      '/usr/bin/curl',
      '/usr/bin/zstd',
    ]) {
      expect(await elfMachine(path.join(checkout, binary))).toBe('AArch64');
      // elf-libraries.sh fails if a library is missing from the tree.
      const libraries = await neededLibraries(checkout, binary);
      expect(libraries.length).toBeGreaterThan(1);
      for (const library of libraries) {
        expect(await elfMachine(path.join(checkout, library))).toBe('AArch64');
      }
    }
  });
});

describe('a foreign-arch treefile', () => {
  it('with postprocess scripts is a ForeignArchError unless the host executes the arch (binfmt)', async () => {
    const binfmt = await makeTempDir('fcos-binfmt-');
    const treefile = { basearch: 'aarch64', postprocess: ['true'] };
    expect(() => checkForeignArch(treefile, 1, 'aarch64/Compose', binfmt)).toThrow(ForeignArchError);
    const error = (() => {
      try {
        checkForeignArch(treefile, 1, 'aarch64/Compose', binfmt);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toMatchObject({ constructPath: 'aarch64/Compose', field: 'postprocess' });
    expect((error as Error).message).toContain('update-binfmts --enable qemu-aarch64');
    // No postprocess: the install needs no binfmt, with --forcearch.
    expect(checkForeignArch(treefile, 0, 'aarch64/Compose', binfmt)).toBe('aarch64');
    // An enabled qemu-aarch64 entry lets the scripts run.
    await writeFile(
      path.join(binfmt, 'qemu-aarch64'),
      'enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64\n',
    );
    expect(canExecuteArch('aarch64', binfmt)).toBe(true);
    expect(checkForeignArch(treefile, 1, 'aarch64/Compose', binfmt)).toBe('aarch64');
    await writeFile(path.join(binfmt, 'qemu-aarch64'), 'disabled\n');
    expect(() => checkForeignArch(treefile, 1, 'aarch64/Compose', binfmt)).toThrow(ForeignArchError);
    // The host's own arch needs no --forcearch.
    expect(
      checkForeignArch({ basearch: 'x86_64', postprocess: ['true'] }, 1, 'Compose', binfmt),
    ).toBeUndefined();
  });
});
