/**
 * Bare metal (issue #13) through the real executor: the shared tiny OS commit, its 512-byte and
 * 4Kn disks and metal images, a LiveImage of them, and the InstallTest scenarios the default
 * pipeline does not run (it runs iso-offline-install and pxe-online-install): iso-live-login (the
 * ISO as a CD under UEFI and BIOS), iso-as-disk (the ISO as a USB stick under UEFI and BIOS) and
 * iso-install.4k (install to a 4096-byte-sector disk, then boot it). Built once for the file; every
 * VM boot has its own time limit. Also: the live files are laid out and named as Fedora CoreOS's,
 * a second build gives the same bytes, and a LiveImage given the wrong images is refused at
 * synthesis naming the field.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runTool } from '../lib/exec.ts';
import { recomposedDiskProgram } from './helpers/recomposed-disk-program.ts';
import { REPO_ROOT, synthIn, writeProgram } from './helpers/temp-project.ts';

/** The whole cold run's limit: disks, images, the live image and seven boots. */
const RUN_TIMEOUT_MS = 1_800_000;
/** The scenarios this file runs, by node. */
const SCENARIOS = {
  'iso-live-login': 'LiveLogin',
  'iso-as-disk': 'AsDisk',
  'iso-install.4k': 'Install4k',
} as const;

/** The program: the shared commit, both disks and metal images, the live image, the scenarios. */
function installProgram(): string {
  return `${recomposedDiskProgram('install-test', inject('tinyCommit'))}
const { LiveImage, InstallTest } = stages;
const disk4k = new DiskImage(pipeline, 'Disk4k', { commit: compose.commit, sizeGiB: 1, sectorSize: 4096 });
const metal = new PlatformImage(pipeline, 'metal', { disk: disk.disk, platform: 'metal' });
const metal4k = new PlatformImage(pipeline, 'metal4k', { disk: disk4k.disk, platform: 'metal' });
const live = new LiveImage(pipeline, 'Live', { commit: compose.commit, metal: metal.image, metal4k: metal4k.image });
${Object.entries(SCENARIOS)
  .map(
    ([scenario, node]) =>
      `new InstallTest(pipeline, '${node}', { live: live.live, scenario: '${scenario}' });`,
  )
  .join('\n')}
`;
}

/** Runs bin `name` (fcos-run) in `directory`, as a user's shell would. */
async function bin(
  directory: string,
  name: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await execa('node', [path.join(REPO_ROOT, 'bin', `${name}.js`), ...args], {
    cwd: directory,
    reject: false,
    // SIGTERM first: fcos-run cancels its nodes and kills every tool's process group (QEMU's).
    timeout: RUN_TIMEOUT_MS - 60_000,
    killSignal: 'SIGTERM',
  });
  return { code: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** sha256 of a file. */
async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

/** The sha256 of every file of a directory, by name. */
async function digests(directory: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const name of (await readdir(directory)).sort())
    result[name] = await sha256(path.join(directory, name));
  return result;
}

describe('bare metal: the live ISO and PXE artifacts, and kola testiso scenarios under QEMU', () => {
  let directory: string;
  let run: Awaited<ReturnType<typeof bin>>;
  const liveDirectory = () => path.join(directory, 'fcos.out/artifacts/Live/live');
  /** A scenario's boots.json. */
  const bootsOf = async (node: string) => {
    const document = JSON.parse(
      await readFile(path.join(directory, `fcos.out/artifacts/${node}/report/boots.json`), 'utf8'),
    );
    const seconds: number[] = document.boots.map((boot: { seconds: number }) => boot.seconds);
    console.log(`${node}: ${seconds.length} boots, ${seconds.join(' s, ')} s`);
    return document as {
      passed: boolean;
      boots: Array<{ name: string; console: string; problems: string[] }>;
    };
  };
  const consoleOf = (node: string, file: string) =>
    readFile(path.join(directory, `fcos.out/artifacts/${node}/report`, file), 'utf8');

  beforeAll(async () => {
    directory = await writeProgram(installProgram());
    // In-process: the program imports a test-only kind by file URL, which the bin's bundler leaves alone.
    const synth = await synthIn(directory);
    expect(synth.code, synth.stderr).toBe(0);
    run = await bin(directory, 'fcos-run', '--plain');
  }, RUN_TIMEOUT_MS);

  it('builds the live image and runs every scenario, each passing', () => {
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    for (const node of Object.values(SCENARIOS)) {
      expect(run.stdout).toContain(`tests: fcos.out/artifacts/${node}/report (1 passed, 0 skipped, 0 flaky)`);
    }
  });

  it("lays out Fedora CoreOS's files: the PXE trio and a hybrid ISO bootable by BIOS and UEFI", async () => {
    const names = (await readdir(liveDirectory())).sort();
    const version = inject('tinyCommit').version;
    expect(names).toEqual([
      `fedora-coreos-${version}-live-initramfs.x86_64.img`,
      `fedora-coreos-${version}-live-iso.x86_64.iso`,
      `fedora-coreos-${version}-live-kernel.x86_64`,
      `fedora-coreos-${version}-live-rootfs.x86_64.img`,
    ]);
    const iso = path.join(liveDirectory(), names[1]!);
    // El Torito: a BIOS entry (GRUB's eltorito core) and a UEFI entry (the FAT image).
    const eltorito = await runTool('xorriso', ['-indev', iso, '-report_el_torito', 'plain']);
    expect(eltorito.stdout).toMatch(/El Torito boot img :\s+1\s+BIOS\s+y\s+none/);
    expect(eltorito.stdout).toMatch(/El Torito boot img :\s+2\s+UEFI\s+y\s+none/);
    // Hybrid: the file has a partition table (MBR with a protective GPT), so it boots as a disk too.
    const table = await runTool('sfdisk', ['--dump', iso]);
    expect(table.stdout).toMatch(/label: (dos|gpt)/);
    // The rootfs image is a cpio holding the squashfs the initramfs wants.
    const listing = await runTool('cpio', ['-t', '--quiet', '-F', path.join(liveDirectory(), names[3]!)]);
    expect(listing.stdout.trim()).toBe('root.squashfs');
    const isoFiles = await runTool('xorriso', ['-indev', iso, '-find', '/', '-type', 'f']);
    for (const file of [
      '/images/pxeboot/vmlinuz',
      '/images/pxeboot/initrd.img',
      '/images/pxeboot/rootfs.img',
      '/images/ignition.img',
      '/coreos/igninfo.json',
      '/coreos/metal.json',
    ]) {
      expect(isoFiles.stdout).toContain(`'${file}'`);
    }
  });

  it('iso-live-login: the ISO boots as a CD under UEFI and under BIOS, Ignition ran its embedded config', async () => {
    const boots = await bootsOf(SCENARIOS['iso-live-login']);
    expect(boots.passed).toBe(true);
    expect(boots.boots.map((boot) => boot.name)).toEqual(['live-cd-uefi', 'live-cd-bios']);
    for (const boot of boots.boots) {
      const text = await consoleOf(SCENARIOS['iso-live-login'], boot.console);
      expect(text).toContain('FCOS-CDK: initramfs ignition user config from /config.ign');
      expect(text).toMatch(/FCOS-CDK: booted deployment=\S+ platform=metal/);
      expect(text).toContain('FCOS-CDK: test basic pass');
    }
  });

  it('iso-as-disk: the same ISO boots as a USB stick under UEFI and under BIOS', async () => {
    const boots = await bootsOf(SCENARIOS['iso-as-disk']);
    expect(boots.passed).toBe(true);
    expect(boots.boots.map((boot) => boot.name)).toEqual(['live-disk-uefi', 'live-disk-bios']);
    const text = await consoleOf(SCENARIOS['iso-as-disk'], boots.boots[1]!.console);
    expect(text).toMatch(/FCOS-CDK: initramfs live ISO \/dev\/vda\d* mounted/);
  });

  it('iso-install.4k: a 4096-byte-sector disk gets the 4Kn image, and boots from it', async () => {
    const boots = await bootsOf(SCENARIOS['iso-install.4k']);
    expect(boots.passed).toBe(true);
    const live = await consoleOf(SCENARIOS['iso-install.4k'], boots.boots[0]!.console);
    expect(live).toMatch(/from the live ISO \(4096-byte sectors, \d+ extents\)/);
    expect(live).toContain('Install complete.');
    const installed = await consoleOf(SCENARIOS['iso-install.4k'], boots.boots[1]!.console);
    expect(installed).toContain('FCOS-CDK: initramfs ignition user config from /run/user.ign');
    expect(installed).toMatch(/FCOS-CDK: booted deployment=\S+ platform=metal/);
    expect(installed).toContain('FCOS-CDK: test basic pass');
  });

  it('a second build of the live image gives the same bytes', async () => {
    const first = await digests(liveDirectory());
    const again = await bin(directory, 'fcos-run', '--plain', '--only', 'Live', '--force', 'Live');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/1 built/);
    expect(await digests(liveDirectory())).toEqual(first);
  }, 600_000);
});

describe('LiveImage props', () => {
  it('refuses at synthesis a non-metal image and a 512-byte image as metal4k, naming the fields', async () => {
    const directory = await writeProgram(`${recomposedDiskProgram('live-props', inject('tinyCommit'))}
const { LiveImage } = stages;
const qemu = new PlatformImage(pipeline, 'qemu', { disk: disk.disk, platform: 'qemu' });
const metal = new PlatformImage(pipeline, 'metal', { disk: disk.disk, platform: 'metal' });
new LiveImage(pipeline, 'Live', { commit: compose.commit, metal: qemu.image, metal4k: metal.image });
`);
    const synth = await synthIn(directory);
    expect(synth.code).toBe(1);
    expect(synth.stderr).toContain('Live');
    expect(synth.stderr).toMatch(/metal\b.*expected a metal image, got the qemu image/);
    expect(synth.stderr).toMatch(/metal4k\b.*expected 4096-byte sectors, got a 512-byte image/);
  });
});
