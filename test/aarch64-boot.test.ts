/**
 * The aarch64 tiny OS end to end on this amd64 host: its commit (built once here, from the aarch64
 * foreign root), DiskImage's Fedora CoreOS aarch64 layout (no BIOS-BOOT: `reserved`, EFI-SYSTEM,
 * boot, root) read back by sfdisk, GRUB's arm64-efi binary at EFI/BOOT/BOOTAA64.EFI, two builds
 * with identical bytes, and the harness's direct kernel boot with a CD attached, as the install and
 * live tests use it, with the root's kernel and a busybox initramfs. The qemu image's boot under
 * AAVMF (kola basic and the external tests, `ignition.platform.id=qemu`, the deployment reached)
 * is the local pipeline's aarch64 KolaTest (test/local-pipeline.test.ts), not repeated here.
 * Skipped when the foreign root is missing (scripts/setup.sh makes it).
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PARTITION_TYPES } from '../lib/disk/disk-layout.ts';
import { runTool } from '../lib/exec.ts';
import { writeNewcArchive } from '../lib/tools/cpio.ts';
import { FOREIGN_ROOT_MARKER, foreignRootsDirectory } from '../lib/tools/foreign-root.ts';
import type { JsonValue } from '../lib/util/canonical-json.ts';
import { bootDisk } from '../lib/vm/qemu.ts';
import { type ArmCommit, buildArmDisk, composeArmCommit } from './helpers/aarch64-fixture.ts';
import { type BuiltDisk, DEFAULT_DISK_PROPS, testExec } from './helpers/disk-images.ts';
import { RUNNERS } from './helpers/runners.ts';
import { makeTempDir, REPO_ROOT } from './helpers/temp-project.ts';

/** Whether the aarch64 foreign root is complete (scripts/foreign-root.sh aarch64). */
const FOREIGN_ROOT_READY = existsSync(path.join(foreignRootsDirectory(), 'aarch64', FOREIGN_ROOT_MARKER));

/** The PE/COFF machine type of an arm64 EFI binary. */
const IMAGE_FILE_MACHINE_ARM64 = 0xaa64;

describe.skipIf(!FOREIGN_ROOT_READY)('aarch64 disk and boot', () => {
  let commit: ArmCommit;
  let disk: BuiltDisk;
  let again: BuiltDisk;

  beforeAll(async () => {
    const log: string[] = [];
    commit = await composeArmCommit(log);
    disk = await buildArmDisk(commit);
    again = await buildArmDisk(commit);
  }, 900_000);

  it("has Fedora CoreOS's aarch64 layout: reserved, EFI-SYSTEM, boot, root (no BIOS-BOOT)", async () => {
    const sfdisk = await runTool('sfdisk', ['--json', disk.path]);
    const table = JSON.parse(sfdisk.stdout).partitiontable;
    expect(table.label).toBe('gpt');
    expect(
      table.partitions.map((partition: { name: string; type: string; start: number; size: number }) => [
        partition.name,
        partition.type,
        partition.start,
        partition.size,
      ]),
    ).toEqual([
      ['reserved', PARTITION_TYPES.reserved, 2048, 2048],
      ['EFI-SYSTEM', PARTITION_TYPES.efiSystem, 4096, 127 * 2048],
      ['boot', PARTITION_TYPES.linuxFilesystem, 264192, 384 * 2048],
      ['root', PARTITION_TYPES.linuxFilesystem, 1050624, 2097152 - 1050624 - 2048],
    ]);
    expect(disk.disk.arch).toBe('aarch64');
    expect(disk.disk.bootloaders).toEqual(['uefi']);
    expect(disk.disk.partitions.map((partition) => partition.role)).toEqual([
      'reserved',
      'efi',
      'boot',
      'root',
    ]);
  });

  it('has an arm64 GRUB at EFI/BOOT/BOOTAA64.EFI, made with the foreign root modules', async () => {
    const efi = disk.disk.partitions.find((partition) => partition.role === 'efi')!;
    const directory = await makeTempDir('fcos-arm-esp-');
    const binary = path.join(directory, 'BOOTAA64.EFI');
    await runTool('mcopy', ['-n', '-i', `${disk.path}@@${efi.offset}`, '::/EFI/BOOT/BOOTAA64.EFI', binary]);
    const bytes = await readFile(binary);
    expect(bytes.subarray(0, 2).toString('latin1')).toBe('MZ');
    const peHeader = bytes.readUInt32LE(0x3c);
    expect(bytes.subarray(peHeader, peHeader + 4).toString('latin1')).toBe('PE\0\0');
    expect(bytes.readUInt16LE(peHeader + 4)).toBe(IMAGE_FILE_MACHINE_ARM64);
    const listing = await runTool('mdir', ['-b', '-i', `${disk.path}@@${efi.offset}`, '::/EFI/BOOT']);
    expect(listing.stdout.trim().split('\n')).toEqual(['::/EFI/BOOT/BOOTAA64.EFI']);
    const mkimage = disk.log.find((line) => line.startsWith('$ grub-mkimage'));
    expect(mkimage).toContain(
      `--directory ${path.join(foreignRootsDirectory(), 'aarch64/usr/lib/grub/arm64-efi')}`,
    );
    expect(mkimage).toContain('--format arm64-efi');
  });

  it("boots a kernel directly with a CD on virt's virtio-scsi (the install and live tests' options)", async () => {
    const root = path.join(foreignRootsDirectory(), 'aarch64');
    const kernel = (await readdir(path.join(root, 'boot'))).find((name) => name.startsWith('vmlinuz-'));
    const directory = await makeTempDir('fcos-arm-kernel-');
    const tree = path.join(directory, 'initramfs');
    await mkdir(path.join(tree, 'bin'), { recursive: true });
    await copyFile(path.join(root, 'usr/bin/busybox'), path.join(tree, 'bin/busybox'));
    // Reports the command line and the PCI devices' ids (no driver needed), then powers off.
    await writeFile(
      path.join(tree, 'init'),
      [
        '#!/bin/busybox sh',
        '/bin/busybox mkdir -p /proc /sys',
        '/bin/busybox mount -t proc proc /proc',
        '/bin/busybox mount -t sysfs sysfs /sys',
        'echo "ARM-INIT: cmdline $(/bin/busybox cat /proc/cmdline)"',
        'for device in /sys/bus/pci/devices/*; do echo "ARM-INIT: pci $(/bin/busybox cat $device/vendor):$(/bin/busybox cat $device/device)"; done',
        '/bin/busybox poweroff -f',
        '',
      ].join('\n'),
    );
    await chmod(path.join(tree, 'init'), 0o755);
    const initramfs = path.join(directory, 'initramfs.cpio');
    await writeNewcArchive(testExec, {
      directory: tree,
      names: ['bin', 'bin/busybox', 'init'],
      output: initramfs,
    });
    const iso = path.join(directory, 'cd.iso');
    await runTool('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'ARMCD', '-o', iso, tree]);
    const result = await bootDisk({
      disk: disk.path,
      arch: 'aarch64',
      firmware: 'uefi',
      cdrom: iso,
      kernel: {
        kernel: path.join(root, 'boot', kernel!),
        initramfs,
        commandLine: 'console=ttyAMA0 arm.test=1',
      },
      consoleLog: path.join(directory, 'console.log'),
      timeoutSeconds: 120,
    });
    expect(result.timedOut).toBe(false);
    expect(result.console).toMatch(/ARM-INIT: cmdline console=ttyAMA0 arm\.test=1/);
    const devices = [...result.console.matchAll(/ARM-INIT: pci (0x\w+):(0x\w+)/g)].map(
      (match) => `${match[1]}:${match[2]}`,
    );
    // The host bridge, then the transitional virtio ids (virt's devices sit on the root bus, where
    // QEMU keeps legacy virtio): 0x1001 block (the disk), 0x1004 SCSI (the CD's controller).
    expect(devices).toEqual(['0x1b36:0x0008', '0x1af4:0x1001', '0x1af4:0x1004']);
  }, 180_000);

  it('builds identical bytes twice', () => {
    expect(again.digest).toBe(disk.digest);
  });
});

describe.skipIf(!FOREIGN_ROOT_READY)("DiskImage's fingerprint with the foreign root", () => {
  /** DiskImage's fingerprint for a disk of `arch`. */
  function fingerprintOf(arch: 'x86_64' | 'aarch64') {
    const fingerprint = RUNNERS.DiskImage.fingerprint;
    if (!fingerprint) throw new Error('DiskImage has no fingerprint');
    return fingerprint({
      nodePath: `testing/${arch}/Disk`,
      props: { ...DEFAULT_DISK_PROPS, arch, commit: { $input: 'commit' } } as unknown as Record<
        string,
        JsonValue
      >,
      inputs: {},
      projectDir: REPO_ROOT,
      signal: new AbortController().signal,
      exec: testExec,
    }) as Promise<Record<string, JsonValue>>;
  }

  it("names the root's GRUB package version for aarch64 and nothing new for x86_64", async () => {
    const lock = await readFile(path.join(foreignRootsDirectory(), 'aarch64', FOREIGN_ROOT_MARKER), 'utf8');
    const version = /^grub-efi-arm64-bin (\S+) /m.exec(lock)?.[1];
    expect(version).toBeDefined();
    expect((await fingerprintOf('aarch64')).foreignGrubModules).toEqual({
      'arm64-efi': {
        origin: path.join(foreignRootsDirectory(), 'aarch64'),
        package: 'grub-efi-arm64-bin',
        version,
      },
    });
    expect(Object.keys(await fingerprintOf('x86_64')).sort()).toEqual(['platformsTable', 'tools']);
  });
});
