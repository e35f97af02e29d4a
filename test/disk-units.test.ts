/**
 * The pure parts of the disk and image builders: GPT encoding, the Fedora CoreOS layout, BLS and
 * kernel-argument edits, grub.cfg, the platforms table, the VHD footer, the VMDK descriptor, the
 * OVF, file names; and the QEMU wrapper's time limit.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatBlsEntry,
  parseBlsEntry,
  platformKernelArguments,
  withKernelArguments,
} from '../lib/disk/bls.ts';
import { fedoraCoreOsLayout, MIB } from '../lib/disk/disk-layout.ts';
import { renderOvf } from '../lib/disk/formats/ovf.ts';
import { footerChecksum, normalizeVhdFooter } from '../lib/disk/formats/vhd.ts';
import { normalizeDescriptor } from '../lib/disk/formats/vmdk.ts';
import { crc32, encodeGpt, encodeGuid } from '../lib/disk/gpt.ts';
import { renderGrubConfig } from '../lib/disk/grub-config.ts';
import { platformSettings } from '../lib/disk/platform-boot.ts';
import { quoteArgument } from '../lib/tools/debugfs.ts';
import { bootDisk } from '../lib/vm/qemu.ts';
import { imageFileName } from '../stages/platform-image/runner.ts';
import { findPlatform } from '../targets/index.ts';
import { makeTempDir } from './helpers/temp-project.ts';

const ENTRY = [
  'title Fedora CoreOS 41.20261116.2.0 (ostree:0)',
  'version 1',
  'options rw $ignition_firstboot mitigations=auto,nosmt ignition.platform.id=metal ostree=/ostree/boot.1/fedora-coreos/abc/0',
  'linux /ostree/fedora-coreos-abc/vmlinuz-6.1.0',
  'initrd /ostree/fedora-coreos-abc/initramfs-6.1.0.img',
  '',
].join('\n');

describe('GPT encoding', () => {
  it('computes the IEEE CRC32 and writes GUIDs in mixed endianness', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    const target = Buffer.alloc(16);
    encodeGuid('C12A7328-F81F-11D2-BA4B-00A0C93EC93B', target, 0);
    expect(target.toString('hex')).toBe('28732ac11ff8d211ba4b00a0c93ec93b');
  });

  it('puts the backup table at the end and entries after the header, for 512 and 4096-byte sectors', () => {
    for (const sectorSize of [512, 4096] as const) {
      const layout = fedoraCoreOsLayout('x86_64', 1024 * MIB, sectorSize);
      const { head, tail, tailOffset } = encodeGpt(layout);
      expect(head.readUInt16LE(510)).toBe(0xaa55);
      expect(head.readUInt8(450)).toBe(0xee);
      expect(head.toString('latin1', sectorSize, sectorSize + 8)).toBe('EFI PART');
      expect(head.readBigUInt64LE(sectorSize + 72)).toBe(2n);
      expect(tailOffset + tail.length).toBe(1024 * MIB);
      const backup = tail.subarray(tail.length - sectorSize);
      expect(backup.readBigUInt64LE(24)).toBe(BigInt((1024 * MIB) / sectorSize - 1));
      expect(backup.readBigUInt64LE(72)).toBe(BigInt(tailOffset / sectorSize));
      const header = Buffer.from(head.subarray(sectorSize, sectorSize + 92));
      const stored = header.readUInt32LE(16);
      header.writeUInt32LE(0, 16);
      expect(crc32(header)).toBe(stored);
    }
  });

  it('refuses overlapping or misaligned partitions', () => {
    const layout = fedoraCoreOsLayout('x86_64', 1024 * MIB, 4096);
    const [first, ...rest] = layout.partitions;
    expect(() =>
      encodeGpt({ ...layout, partitions: [{ ...first!, offset: 1024 * 1024 + 512 }, ...rest] }),
    ).toThrow(/not a whole number of 4096-byte sectors/);
    expect(() => encodeGpt({ ...layout, partitions: [{ ...first!, size: 2 * MIB }, ...rest] })).toThrow(
      /overlaps/,
    );
  });
});

describe('Fedora CoreOS layout', () => {
  it('gives aarch64 a reserved partition 1 instead of BIOS-BOOT, keeping the numbers', () => {
    const layout = fedoraCoreOsLayout('aarch64', 10 * 1024 * MIB, 512);
    expect(
      layout.partitions.map(({ number, name, offset, size }) => [number, name, offset / MIB, size / MIB]),
    ).toEqual([
      [1, 'reserved', 1, 1],
      [2, 'EFI-SYSTEM', 2, 127],
      [3, 'boot', 129, 384],
      [4, 'root', 513, 10 * 1024 - 514],
    ]);
    expect(layout.partitions[0]!.typeGuid).toBe('8DA63339-0007-60C0-C436-083AC8230908');
  });

  it('refuses the arches it has no bootloader setup for', () => {
    expect(() => fedoraCoreOsLayout('s390x', 1024 * MIB, 512)).toThrow(/x86_64 and aarch64, not s390x/);
  });
});

describe('BLS entries and grub.cfg', () => {
  it('replaces the platform id in place and appends the platform kernel arguments once', () => {
    const entry = parseBlsEntry(ENTRY);
    const kargs = platformKernelArguments(
      (entry.fields.find(([key]) => key === 'options')?.[1] ?? '').split(' '),
      'qemu',
      ['console=tty0', 'console=ttyS0,115200n8', 'rw'],
    );
    expect(kargs).toEqual([
      'rw',
      '$ignition_firstboot',
      'mitigations=auto,nosmt',
      'ignition.platform.id=qemu',
      'ostree=/ostree/boot.1/fedora-coreos/abc/0',
      'console=tty0',
      'console=ttyS0,115200n8',
    ]);
    const text = formatBlsEntry(withKernelArguments(entry, kargs));
    expect(text).toBe(
      ENTRY.replace(
        'ignition.platform.id=metal ostree=/ostree/boot.1/fedora-coreos/abc/0',
        `ignition.platform.id=qemu ostree=/ostree/boot.1/fedora-coreos/abc/0 console=tty0 console=ttyS0,115200n8`,
      ),
    );
  });

  it('renders console commands between the markers and a menuentry per BLS entry', () => {
    const text = renderGrubConfig({
      entries: [parseBlsEntry(ENTRY)],
      consoleCommands: ['serial --speed=115200'],
    });
    expect(text).toContain('# CONSOLE-SETTINGS-START\nserial --speed=115200\n# CONSOLE-SETTINGS-END');
    expect(text).toContain("menuentry 'Fedora CoreOS 41.20261116.2.0 (ostree:0)' --id 'bls-0' {");
    expect(text).toContain(
      '  linux /ostree/fedora-coreos-abc/vmlinuz-6.1.0 rw $ignition_firstboot mitigations=auto,nosmt',
    );
    expect(text).toContain('  initrd /ostree/fedora-coreos-abc/initramfs-6.1.0.img\n}');
  });

  it('quotes debugfs arguments with spaces and quotes', () => {
    expect(quoteArgument('/a/b.conf')).toBe('/a/b.conf');
    expect(quoteArgument('/a b/c"d')).toBe('"/a b/c""d"');
    expect(quoteArgument('<12>')).toBe('"<12>"');
  });
});

describe('platforms table and names', () => {
  it('reads the per-arch table by Ignition platform id (gce is gcp), empty for unlisted platforms', () => {
    expect(platformSettings('x86_64', 'gcp').kernelArguments).toEqual([
      'console=tty0',
      'console=ttyS0,115200n8',
    ]);
    expect(platformSettings('aarch64', 'aws').grubCommands).toEqual([
      'serial --speed=115200 efi0',
      'terminal_input serial_efi0',
      'terminal_output serial_efi0',
    ]);
    expect(platformSettings('x86_64', 'metal')).toEqual({ grubCommands: [], kernelArguments: [] });
  });

  it('names images as coreos-assembler: the Ignition platform id, metal4k for 4K sectors', () => {
    const disk = { osName: 'fedora-coreos', version: '41.1', arch: 'x86_64', sectorSize: 512 } as const;
    expect(imageFileName(findPlatform('gce')!, disk)).toBe('fedora-coreos-41.1-gcp.x86_64.tar.gz');
    expect(imageFileName(findPlatform('metal')!, { ...disk, sectorSize: 4096 })).toBe(
      'fedora-coreos-41.1-metal4k.x86_64.raw',
    );
  });
});

describe('format fix-ups', () => {
  it('gives a VHD footer a fixed time and UUID with a valid checksum', async () => {
    const file = path.join(await makeTempDir(), 'disk.vhd');
    const footer = Buffer.alloc(512);
    footer.write('conectix', 0, 'latin1');
    footer.writeUInt32BE(123456, 24);
    await writeFile(file, Buffer.concat([Buffer.alloc(1024), footer]));
    await normalizeVhdFooter(file, 1_700_000_000, 'seed');
    const first = (await readFile(file)).subarray(1024);
    expect(first.readUInt32BE(24)).toBe(1_700_000_000 - 946_684_800);
    expect(first.readUInt32BE(64)).toBe(footerChecksum(first));
    expect(first[68 + 6]! >> 4).toBe(4);
    await normalizeVhdFooter(file, 1_700_000_000, 'seed');
    expect((await readFile(file)).subarray(1024).equals(first)).toBe(true);
  });

  it("replaces a VMDK descriptor's CID and extent file name", () => {
    const text =
      '# Disk DescriptorFile\nversion=1\nCID=6fcc3762\nparentCID=ffffffff\nRW 2097152 SPARSE "tmp.vmdk"\n';
    expect(normalizeDescriptor(text, '0123abcd', 'final.vmdk')).toBe(
      '# Disk DescriptorFile\nversion=1\nCID=0123abcd\nparentCID=ffffffff\nRW 2097152 SPARSE "final.vmdk"\n',
    );
  });

  it('escapes names in the OVF', () => {
    const ovf = renderOvf({
      name: 'a<b>',
      version: '1',
      diskFile: 'd.vmdk',
      diskFileSize: 10,
      capacity: 20,
      osType: 'fedora64Guest',
      hardwareVersion: 17,
    });
    expect(ovf).toContain('<Name>a&lt;b&gt;</Name>');
    expect(ovf).toContain('<vssd:VirtualSystemType>vmx-17</vssd:VirtualSystemType>');
  });
});

describe('bootDisk', () => {
  it('kills a VM that does not power off at the time limit and returns what the console had', async () => {
    const directory = await makeTempDir('fcos-qemu-');
    const disk = path.join(directory, 'blank.raw');
    await writeFile(disk, Buffer.alloc(1024 * 1024));
    const started = performance.now();
    const result = await bootDisk({
      disk,
      firmware: 'bios',
      consoleLog: path.join(directory, 'console.log'),
      timeoutSeconds: 3,
    });
    expect(result.timedOut).toBe(true);
    expect((performance.now() - started) / 1000).toBeLessThan(10);
  }, 20_000);
});
