/**
 * The aarch64 tiny OS end to end on this amd64 host: its commit (built once here, from the aarch64
 * foreign root), DiskImage's Fedora CoreOS aarch64 layout (no BIOS-BOOT: `reserved`, EFI-SYSTEM,
 * boot, root) read back by sfdisk, GRUB's arm64-efi binary at EFI/BOOT/BOOTAA64.EFI, two builds
 * with identical bytes, and one boot: KolaTest's basic on the qemu image under AAVMF (TCG) with
 * `ignition.platform.id=qemu`, reaching the deployment. Skipped when the foreign root is missing.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PARTITION_TYPES } from '../lib/disk/disk-layout.ts';
import { runTool } from '../lib/exec.ts';
import type { RunnerContext } from '../lib/runner.ts';
import { FOREIGN_ROOT_MARKER, foreignRootsDirectory } from '../lib/tools/foreign-root.ts';
import { bootPhases } from '../lib/vm/boot-phases.ts';
import { parseTimeline, timelineFileOf } from '../lib/vm/console-timeline.ts';
import { type ArmCommit, buildArmDisk, buildArmImage, composeArmCommit } from './helpers/aarch64-fixture.ts';
import type { BuiltDisk, BuiltFile } from './helpers/disk-images.ts';
import { KOLA_NODE_PROPS } from './helpers/kola-props.ts';
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
  let qcow2: BuiltFile;

  beforeAll(async () => {
    const log: string[] = [];
    commit = await composeArmCommit(log);
    disk = await buildArmDisk(commit);
    again = await buildArmDisk(commit);
    qcow2 = await buildArmImage(disk, 'qemu');
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

  it('builds identical bytes twice', () => {
    expect(again.digest).toBe(disk.digest);
  });

  it('passes kola basic under AAVMF: the qemu image boots with ignition.platform.id=qemu into its deployment', async () => {
    const workDir = await makeTempDir('fcos-arm-kola-');
    const log: string[] = [];
    const context: RunnerContext = {
      nodePath: 'testing/aarch64/Kola',
      props: { ...KOLA_NODE_PROPS, bootTimeoutSeconds: 300 },
      inputs: {
        image: {
          type: 'platform-image',
          digest: qcow2.digest,
          storage: 'file',
          path: qcow2.path,
          metadata: qcow2.metadata,
        },
      },
      declaredOutputs: {},
      projectDir: REPO_ROOT,
      signal: new AbortController().signal,
      workDir,
      ostreeRepo: '',
      log: (line) => log.push(line),
      exec: (file, args, options) => runTool(file, args, { ...options, log: (line) => log.push(line) }),
    };
    await RUNNERS.KolaTest.run(context);
    const qemu = log.find((line) => line.startsWith('$ qemu-system-'));
    expect(qemu).toMatch(/^\$ qemu-system-aarch64 -machine virt -accel tcg -cpu cortex-a72 /);
    expect(qemu).toContain('AAVMF_CODE.fd');
    const report = JSON.parse(await readFile(path.join(workDir, 'report/report.json'), 'utf8'));
    expect(report.tests.map((test: { name: string; result: string }) => [test.name, test.result])).toEqual([
      ['basic', 'pass'],
    ]);
    const consoleFile = path.join(workDir, 'report/consoles/vm1.log');
    const consoleText = await readFile(consoleFile, 'utf8');
    expect(consoleText).toMatch(/Kernel command line: .*ignition\.platform\.id=qemu/);
    expect(consoleText).toMatch(/Linux version \S+ .*aarch64|Linux version \S+-arm64/);
    expect(consoleText).toMatch(/FCOS-CDK: booted deployment=fedora-coreos\/[0-9a-f]{64}\.0 platform=qemu/);
    // The phases of this boot, for the record (the test's log), from the console's timeline.
    const timeline = parseTimeline(await readFile(timelineFileOf(consoleFile), 'utf8'));
    const total = timeline.at(-1)?.seconds ?? 0;
    const phases = bootPhases(timeline, total);
    expect(phases.map((phase) => phase.name)).toContain('GRUB loading kernel and initramfs');
    console.info(phases.map((phase) => `${phase.name}: ${phase.seconds.toFixed(1)} s`).join('\n'));
  }, 600_000);
});
