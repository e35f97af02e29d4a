/**
 * aarch64 without booting: the harness's QEMU command line per arch (virt, the TCG CPU model,
 * AAVMF, the SCSI CD, direct kernel boot) beside x86_64's, BIOS refused on aarch64, GRUB's arm64-efi
 * modules found in a foreign root, and synthesis accepting exactly the platforms Fedora CoreOS
 * ships for aarch64 (and a KolaTest it can boot).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FOREIGN_ROOT_MARKER } from '../lib/tools/foreign-root.ts';
import { grubModuleSource, grubModuleVersions, missingGrubPlatform } from '../lib/tools/grub.ts';
import { bootPhases } from '../lib/vm/boot-phases.ts';
import {
  AAVMF_CODE,
  bootDisk,
  MACHINES,
  OVMF_CODE,
  qemuArguments,
  UnsupportedVmError,
  vmProblem,
} from '../lib/vm/qemu.ts';
import { makeTempDir, REPO_ROOT, synthIn, writeProgram } from './helpers/temp-project.ts';

/** The value following `flag` each time it occurs in `args`. */
function valuesOf(args: readonly string[], flag: string): string[] {
  return args.flatMap((arg, index) => (arg === flag ? [args[index + 1] ?? ''] : []));
}

describe('the QEMU harness per arch', () => {
  const common = { disk: '/images/disk.qcow2', consoleLog: '/tmp/console.log', timeoutSeconds: 10 } as const;

  it('boots aarch64 as virt with the TCG CPU model, AAVMF, a SCSI CD and a direct kernel', () => {
    const firmware = ['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${AAVMF_CODE}`];
    const args = qemuArguments(
      {
        ...common,
        arch: 'aarch64',
        firmware: 'uefi',
        blockSize: 4096,
        cdrom: '/images/live.iso',
        kernel: { kernel: '/k', initramfs: '/i', commandLine: 'console=ttyAMA0' },
        network: 'user',
        ignitionConfig: '/tmp/config.ign',
      },
      firmware,
      '/tmp/console.sock',
    );
    expect(MACHINES.aarch64.binary).toBe('qemu-system-aarch64');
    expect(valuesOf(args, '-machine')).toEqual(['virt']);
    expect(valuesOf(args, '-cpu')).toEqual(['cortex-a72']);
    expect(valuesOf(args, '-accel')).toEqual(['tcg']);
    expect(args.join(' ')).toContain(firmware.join(' '));
    expect(valuesOf(args, '-device')).toEqual([
      'virtio-blk-pci,drive=disk0,bootindex=1,logical_block_size=4096,physical_block_size=4096',
      'virtio-scsi-pci,id=scsi0',
      'scsi-cd,drive=cd0,bus=scsi0.0,bootindex=0',
      'virtio-net-pci,netdev=net0',
    ]);
    expect(valuesOf(args, '-kernel')).toEqual(['/k']);
    expect(valuesOf(args, '-append')).toEqual(['console=ttyAMA0']);
    expect(valuesOf(args, '-fw_cfg')).toEqual(['name=opt/com.coreos/config,file=/tmp/config.ign']);
    expect(valuesOf(args, '-serial')).toEqual(['chardev:console']);
  });

  it('keeps x86_64 as it was: q35, Nehalem, an IDE CD on the AHCI controller', () => {
    const args = qemuArguments({ ...common, firmware: 'uefi', cdrom: '/images/live.iso' }, [], '/s');
    expect(MACHINES.x86_64.binary).toBe('qemu-system-x86_64');
    expect(MACHINES.x86_64.uefiCode).toBe(OVMF_CODE);
    expect(valuesOf(args, '-machine')).toEqual(['q35']);
    expect(valuesOf(args, '-cpu')).toEqual(['Nehalem']);
    expect(valuesOf(args, '-device')).toContain('ide-cd,drive=cd0,bootindex=0');
  });

  it('refuses BIOS on aarch64 and arches it has no machine for, before QEMU starts', async () => {
    const directory = await makeTempDir('fcos-aarch64-units-');
    const boot = bootDisk({
      ...common,
      consoleLog: path.join(directory, 'console.log'),
      arch: 'aarch64',
      firmware: 'bios',
    });
    await expect(boot).rejects.toBeInstanceOf(UnsupportedVmError);
    await expect(boot).rejects.toMatchObject({ field: 'firmware', message: /aarch64 guests have no BIOS/ });
    expect(vmProblem('ppc64le', 'uefi')).toEqual({
      field: 'arch',
      message: 'the QEMU harness boots x86_64 and aarch64 guests, not ppc64le',
    });
    expect(vmProblem('aarch64', 'uefi')).toBeUndefined();
    expect(vmProblem('x86_64', 'bios')).toBeUndefined();
  });

  it("ends GRUB's loading phase at the arm64 EFI stub's first line", () => {
    const lines = [
      [1.0, 'Welcome to GRUB!'],
      [6.5, "Booting `Fedora CoreOS'"],
      [8.25, 'EFI stub: Booting Linux Kernel...'],
      [8.75, '[    0.000000] Linux version 6.1.0-57-arm64'],
    ] as const;
    const phases = bootPhases(
      lines.map(([seconds, text], index) => ({ seconds, line: index + 1, text })),
      10,
    );
    expect(phases.find((phase) => phase.name === 'GRUB loading kernel and initramfs')).toEqual({
      name: 'GRUB loading kernel and initramfs',
      start: 6.5,
      seconds: 1.75,
    });
  });
});

describe("GRUB's arm64-efi modules from a foreign root", () => {
  /** Makes a foreign roots directory whose aarch64 root has GRUB's modules, with or without its marker. */
  async function foreignRoots(marker: string | undefined): Promise<string> {
    const roots = await makeTempDir('fcos-roots-');
    const modules = path.join(roots, 'aarch64/usr/lib/grub/arm64-efi');
    await mkdir(modules, { recursive: true });
    await writeFile(path.join(modules, 'linux.mod'), 'module');
    if (marker !== undefined) await writeFile(path.join(roots, 'aarch64', FOREIGN_ROOT_MARKER), marker);
    return roots;
  }

  it("takes a complete root's directory and the version its lock pins", async () => {
    // The host has no grub-efi-arm64-bin (arm64-only): otherwise the host's package comes first.
    expect(grubModuleSource('arm64-efi', '/nonexistent')).toBeUndefined();
    const roots = await foreignRoots(
      'busybox-static 1:1.35.0-4+b3 aaa\ngrub-efi-arm64-bin 2.06-13+deb12u2 bbb\n',
    );
    expect(grubModuleSource('arm64-efi', roots)).toEqual({
      directory: path.join(roots, 'aarch64/usr/lib/grub/arm64-efi'),
      origin: path.join(roots, 'aarch64'),
      package: 'grub-efi-arm64-bin',
      version: '2.06-13+deb12u2',
    });
    expect(grubModuleVersions(['arm64-efi', 'x86_64-efi'], roots)).toEqual({
      'arm64-efi': {
        origin: path.join(roots, 'aarch64'),
        package: 'grub-efi-arm64-bin',
        version: '2.06-13+deb12u2',
      },
      'x86_64-efi': { origin: 'host', package: 'grub-efi-amd64-bin', version: null },
    });
    expect(missingGrubPlatform('arm64-efi', roots)).toBeUndefined();
  });

  it('ignores a root without its marker (incomplete) and says how to make one', async () => {
    const roots = await foreignRoots(undefined);
    expect(grubModuleSource('arm64-efi', roots)).toBeUndefined();
    expect(missingGrubPlatform('arm64-efi', roots)).toBe(
      `GRUB's arm64-efi modules are not installed (/usr/lib/grub/arm64-efi): install grub-efi-arm64-bin, or make the aarch64 foreign root that holds its files (scripts/foreign-root.sh aarch64: ${path.join(roots, 'aarch64')})`,
    );
  });
});

describe('aarch64 synthesis', () => {
  /** A program: an aarch64 commit, its disk, one image per platform in `platforms`, and a KolaTest. */
  function program(platforms: readonly string[], kolaFirmware: 'uefi' | 'bios'): string {
    const doubles = pathToFileURL(path.join(REPO_ROOT, 'test/kinds/release-doubles.ts')).href;
    return `import { TestCommit } from '${doubles}';
const pipeline = new Pipeline({ name: 'arm' });
const commit = new TestCommit(pipeline, 'Commit', { version: '41.20251120.2.0', arch: 'aarch64', ref: 'fedora/aarch64/coreos/testing' });
const disk = new DiskImage(pipeline, 'Disk', { commit: commit.commit });
const images = ${JSON.stringify(platforms)}.map((platform) => new PlatformImage(pipeline, platform, { disk: disk.disk, platform }));
new KolaTest(pipeline, 'Kola', { image: images[0].image, firmware: '${kolaFirmware}' });
`;
  }

  it("accepts exactly Fedora CoreOS's aarch64 platforms, and UEFI for its KolaTest", async () => {
    const shipped = ['qemu', 'aws', 'azure', 'gce', 'metal', 'openstack'];
    const accepted = await synthIn(await writeProgram(program(shipped, 'uefi')));
    expect(accepted.stderr).toBe('');
    expect(accepted.code).toBe(0);

    const refused = await synthIn(
      await writeProgram(program([...shipped, 'vmware', 'digitalocean'], 'bios')),
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('(3 problems)');
    expect(refused.stderr).toMatch(
      /'vmware', field 'platform': vmware does not support aarch64 \(it supports x86_64\)/,
    );
    expect(refused.stderr).toMatch(
      /'digitalocean', field 'platform': digitalocean does not support aarch64 \(it supports x86_64\)/,
    );
    expect(refused.stderr).toMatch(/'Kola', field 'firmware': aarch64 guests have no BIOS to boot/);
  });
});
