/**
 * The DiskImage runner for real on the tiny OS commit of the shared fixture: the Fedora CoreOS
 * layout (512- and 4096-byte sectors), the deployment and boot files read back without mounting,
 * reproducible bytes and clear failures. Its boots are the pipeline's: SeaBIOS from the MBR and
 * BIOS-BOOT when the PXE install test (local-pipeline) boots the installed 512-byte disk, OVMF with
 * 4096-byte blocks in install-test's iso-install.4k, and a boot without GRUB's firstboot stamp in
 * UpgradeTest's second boot.
 */
import { open } from 'node:fs/promises';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { BOOT_FILESYSTEM_UUID, MIB, ROOT_FILESYSTEM_UUID } from '../lib/disk/disk-layout.ts';
import { filesystemSpec, readExt4File } from '../lib/tools/debugfs.ts';
import { missingGrubPlatform } from '../lib/tools/grub.ts';
import { treeFitProblem } from '../stages/disk-image/runner.ts';
import { type BuiltDisk, buildDisk, testExec, toolCommands } from './helpers/disk-images.ts';

/** A partition as `sfdisk -J` prints it. */
interface SfdiskPartition {
  readonly start: number;
  readonly size: number;
  readonly type: string;
  readonly uuid: string;
  readonly name: string;
  readonly attrs?: string;
}

/** The filesystem facts `dumpe2fs -h` prints, by field name. */
async function ext4Header(disk: string, offset: number): Promise<Record<string, string>> {
  const { stdout } = await testExec('dumpe2fs', ['-h', filesystemSpec(disk, offset)]);
  return Object.fromEntries(
    stdout
      .split('\n')
      .map((line) => /^([^:]+):\s+(.*)$/.exec(line))
      .filter((match) => match !== null)
      .map((match) => [match[1]!, match[2]!]),
  );
}

describe('DiskImage (tiny OS, real tools)', () => {
  let disk: BuiltDisk;
  let disk4k: BuiltDisk;

  beforeAll(async () => {
    await import('../stages/platform-image/index.ts');
    disk = await buildDisk();
    disk4k = await buildDisk({ sectorSize: 4096 });
  }, 180_000);

  it('lays out the Fedora CoreOS partitions with the placeholder disk GUID (sfdisk -J, sgdisk)', async () => {
    const { stdout } = await testExec('sfdisk', ['-J', disk.path]);
    const table = JSON.parse(stdout).partitiontable;
    expect(table).toMatchObject({
      label: 'gpt',
      id: '00000000-0000-4000-A000-000000000001',
      sectorsize: 512,
    });
    const partitions = table.partitions as SfdiskPartition[];
    const sectors = (1024 * MIB) / 512;
    expect(partitions.map(({ start, size, type, name }) => ({ start, size, type, name }))).toEqual([
      { start: 2048, size: 2048, type: '21686148-6449-6E6F-744E-656564454649', name: 'BIOS-BOOT' },
      { start: 4096, size: 127 * 2048, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', name: 'EFI-SYSTEM' },
      { start: 129 * 2048, size: 384 * 2048, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', name: 'boot' },
      {
        start: 513 * 2048,
        size: sectors - 514 * 2048,
        type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
        name: 'root',
      },
    ]);
    expect(partitions[0]?.attrs).toBe('LegacyBIOSBootable');
    expect(disk.disk.partitions.map(({ offset, size }) => [offset / 512, size / 512])).toEqual(
      partitions.map(({ start, size }) => [start, size]),
    );
    expect(disk.disk.bootPartition.offset).toBe(129 * MIB);
    const verify = await testExec('sgdisk', ['-v', disk.path]);
    expect(verify.stdout).toContain('No problems found');
    const listing = (await testExec('sgdisk', ['-p', disk.path])).stdout;
    expect(listing).toMatch(/1\s+2048\s+4095\s+1024\.0 KiB\s+EF02\s+BIOS-BOOT/);
    expect(listing).toMatch(/4\s+1050624\s+2095103\s+510\.0 MiB\s+8300\s+root/);
  });

  it('writes a GPT with 4096-byte sectors for metal4k, read back by fdisk -b 4096', async () => {
    const { stdout, stderr } = await testExec('fdisk', [
      '-b',
      '4096',
      '-l',
      '-o',
      'Device,Start,Sectors,Type-UUID,Name',
      disk4k.path,
    ]);
    expect(stderr).not.toMatch(/corrupt|invalid|mismatch/i);
    expect(stdout).toContain('Sector size (logical/physical): 4096 bytes');
    expect(stdout).toContain('Disk identifier: 00000000-0000-4000-A000-000000000001');
    const rows = stdout
      .split('\n')
      .filter((line) => line.startsWith(disk4k.path))
      .map((line) => line.split(/\s+/).slice(1));
    expect(rows).toEqual([
      ['256', '256', '21686148-6449-6E6F-744E-656564454649', 'BIOS-BOOT'],
      ['512', String(127 * 256), 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'EFI-SYSTEM'],
      [String(129 * 256), String(384 * 256), '0FC63DAF-8483-4772-8E79-3D69D8477DE4', 'boot'],
      [String(513 * 256), String(510 * 256), '0FC63DAF-8483-4772-8E79-3D69D8477DE4', 'root'],
    ]);
    expect(disk4k.disk).toMatchObject({ sectorSize: 4096, bootloaders: ['uefi'] });
  });

  it('deploys the commit: a BLS entry with ostree= and the platform id, grub.cfg from it, the first-boot stamp', async () => {
    const commit = inject('tinyCommit');
    const spec = filesystemSpec(disk.path, disk.disk.bootPartition.offset);
    expect(disk.disk.bootPartition.blsEntries).toEqual(['/loader.1/entries/ostree-1-fedora-coreos.conf']);
    const entry = await readExt4File(testExec, spec, '/loader/entries/ostree-1-fedora-coreos.conf');
    const options = /^options (.*)$/m.exec(entry)?.[1]?.split(' ') ?? [];
    expect(options.slice(0, 4)).toEqual([
      'rw',
      '$ignition_firstboot',
      'mitigations=auto,nosmt',
      'ignition.platform.id=metal',
    ]);
    expect(options[4]).toMatch(/^ostree=\/ostree\/boot\.1\/fedora-coreos\/[0-9a-f]{64}\/0$/);
    expect(entry).toMatch(
      new RegExp(`^linux /ostree/fedora-coreos-[0-9a-f]{64}/vmlinuz-${commit.kernelVersion}$`, 'm'),
    );
    expect(entry).toContain(`title Fedora CoreOS ${commit.version} (ostree:0)`);
    const grubConfig = await readExt4File(testExec, spec, '/grub2/grub.cfg');
    expect(grubConfig).toContain('# CONSOLE-SETTINGS-START\n# CONSOLE-SETTINGS-END');
    expect(grubConfig).toContain('if [ -f /ignition.firstboot ]; then');
    expect(grubConfig).toContain(
      `rw $ignition_firstboot mitigations=auto,nosmt ignition.platform.id=metal ${options[4]}`,
    );
    expect(await readExt4File(testExec, spec, '/ignition.firstboot')).toBe('');
    const platforms = JSON.parse(await readExt4File(testExec, spec, '/coreos/platforms.json'));
    expect(platforms.qemu.kernel_arguments).toEqual(['console=tty0', 'console=ttyS0,115200n8']);
    const rootSpec = filesystemSpec(disk.path, disk.disk.partitions[3]!.offset);
    const aleph = JSON.parse(await readExt4File(testExec, rootSpec, '/.coreos-aleph-version.json'));
    expect(aleph).toEqual({
      build: commit.version,
      imgid: `fedora-coreos-${commit.version}-metal.x86_64.raw`,
      'ostree-commit': commit.checksum,
      ref: commit.ref,
    });
    const osRelease = await readExt4File(
      testExec,
      rootSpec,
      `/ostree/deploy/fedora-coreos/deploy/${commit.checksum}.0/usr/lib/os-release`,
    );
    expect(osRelease).toContain('VARIANT_ID=coreos');
    expect(disk.disk).toMatchObject({
      commit: commit.checksum,
      version: commit.version,
      kernelVersion: commit.kernelVersion,
    });
  });

  it('makes the filesystems with the Fedora CoreOS labels and placeholder UUIDs, clean for e2fsck', async () => {
    const [, efi, boot, root] = disk.disk.partitions;
    const bootHeader = await ext4Header(disk.path, boot!.offset);
    expect(bootHeader).toMatchObject({
      'Filesystem volume name': 'boot',
      'Filesystem UUID': BOOT_FILESYSTEM_UUID,
    });
    const rootHeader = await ext4Header(disk.path, root!.offset);
    expect(rootHeader).toMatchObject({
      'Filesystem volume name': 'root',
      'Filesystem UUID': ROOT_FILESYSTEM_UUID,
    });
    // The commit's time (dumpe2fs prints it like ctime(3), in UTC here).
    const written = new Date(inject('tinyCommit').timestamp * 1000);
    const [weekday, day, month, year] = written.toUTCString().replace(',', '').split(' ');
    const time = written.toISOString().slice(11, 19);
    expect(rootHeader['Last write time']).toBe(
      `${weekday} ${month} ${day!.padStart(2, ' ')} ${time} ${year}`,
    );
    for (const partition of [boot!, root!]) {
      await testExec('e2fsck', ['-f', '-n', filesystemSpec(disk.path, partition.offset)]);
    }
    const esp = `${disk.path}@@${efi!.offset}`;
    const info = (await testExec('minfo', ['-i', esp, '::'], { env: { TZ: 'UTC' } })).stdout;
    expect(info).toMatch(/serial number: 7B7795E7/i);
    expect(info).toMatch(/disk label="EFI-SYSTEM/);
    const listing = (await testExec('mdir', ['-b', '-i', esp, '::/EFI/BOOT'])).stdout;
    expect(listing.trim()).toBe('::/EFI/BOOT/BOOTX64.EFI');
  });

  it('puts GRUB in the MBR and BIOS-BOOT of the 512-byte disk only', async () => {
    const head = Buffer.alloc(2 * MIB + 512);
    const handle = await open(disk.path, 'r');
    await handle.read(head, 0, head.length, 0);
    await handle.close();
    expect(head.readUInt16LE(510)).toBe(0xaa55);
    expect(head.readBigUInt64LE(0x5c)).toBe(2048n);
    expect(head.readBigUInt64LE(MIB + 0x1f4)).toBe(2049n);
    expect(head.subarray(MIB, MIB + 512).some((byte) => byte !== 0)).toBe(true);
    expect(disk.disk.bootloaders).toEqual(['bios', 'uefi']);
    const commands = toolCommands(disk4k.log);
    expect(commands.some((command) => command.includes('--format i386-pc'))).toBe(false);
    expect(commands.some((command) => command.includes('mkfs.vfat -C --invariant -S 4096'))).toBe(true);
  });

  it('builds the same bytes again from the same commit and props, with no mount or loop device', async () => {
    const [again, again4k] = [await buildDisk(), await buildDisk({ sectorSize: 4096 })];
    expect(again.digest).toBe(disk.digest);
    expect(again4k.digest).toBe(disk4k.digest);
    expect(again.metadata).toEqual(disk.metadata);
    const tools = new Set(toolCommands(again.log).map((command) => command.split(' ')[0]));
    expect([...tools].sort()).toEqual(
      ['chattr', 'dd', 'debugfs', 'grub-mkimage', 'mcopy', 'mkfs.ext4', 'mkfs.vfat', 'mmd', 'ostree'].sort(),
    );
  });

  it('refuses an XFS root, an arch without the layout, and a tree larger than the disk, naming the field', async () => {
    await expect(buildDisk({ rootFilesystem: 'xfs' })).rejects.toMatchObject({
      field: 'rootFilesystem',
      constructPath: 'testing/x86_64/Disk',
    });
    await expect(buildDisk({ arch: 'ppc64le' })).rejects.toThrow(
      /implemented for x86_64 and aarch64, not ppc64le/,
    );
    // Without arm64-efi modules (package or foreign root) that is what fails; with them, the x86_64 commit.
    await expect(buildDisk({ arch: 'aarch64' })).rejects.toMatchObject({
      field: 'arch',
      message: missingGrubPlatform('arm64-efi')
        ? expect.stringContaining('install grub-efi-arm64-bin')
        : 'the disk is for aarch64 but its commit is for x86_64',
    });
    expect(treeFitProblem('root', { dataBytes: 40 * MIB, inodes: 500 }, 510 * MIB, 1)).toBeUndefined();
    expect(treeFitProblem('root', { dataBytes: 700 * MIB, inodes: 5000 }, 510 * MIB, 1)).toMatch(
      /^the root filesystem needs about 700 MiB for 5000 files, but the 510 MiB root partition of a 1 GiB disk holds about \d+ MiB: raise sizeGiB to at least 2$/,
    );
  });
});
