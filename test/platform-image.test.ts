/**
 * The PlatformImage runner for real on a disk of the tiny OS: every platform's format read back by
 * qemu-img and tar, lossless against the platform's raw disk, the platform's kernel arguments and
 * console in the boot partition, cosa-style names and metadata, reproducible bytes and an untouched
 * input. The qemu image's boot under OVMF with an Ignition config in fw_cfg is proven by the local
 * pipeline's KolaTest of each arch (test/local-pipeline.test.ts): a boot here proved nothing more.
 */
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { sha256File } from '../lib/cache/hash.ts';
import { MIB } from '../lib/disk/disk-layout.ts';
import { filesystemSpec, readExt4File } from '../lib/tools/debugfs.ts';
import { imageInfo, type QemuImageFormat, sameContent } from '../lib/tools/qemu-img.ts';
import { PLATFORM_NAMES } from '../targets/index.ts';
import {
  type BuiltDisk,
  type BuiltFile,
  buildDisk,
  buildImage,
  platformRaw,
  testExec,
} from './helpers/disk-images.ts';
import { makeTempDir } from './helpers/temp-project.ts';

/**
 * The platforms, each with its default compression (digitalocean: gzip), plus a zstd variant. xz is
 * left to test/compress.test.ts: it takes ~25 s on an already compressed qcow2 of the tiny OS here.
 */
const BUILDS: ReadonlyArray<readonly [string, 'none' | 'gzip' | 'xz' | 'zstd' | undefined]> = [
  ...PLATFORM_NAMES.map((name) => [name, undefined] as const),
  ['qemu', 'zstd'],
];

/** The key of a build in the maps below. */
function key(platform: string, compression?: string): string {
  return compression ? `${platform}:${compression}` : platform;
}

describe('PlatformImage (tiny OS, real tools)', () => {
  let disk: BuiltDisk;
  let diskDigestBefore: string;
  const images = new Map<string, BuiltFile>();

  beforeAll(async () => {
    disk = await buildDisk();
    diskDigestBefore = disk.digest;
    for (const [platform, compression] of BUILDS) {
      images.set(key(platform, compression), await buildImage(disk, platform, compression));
    }
  }, 300_000);

  it('names each file as coreos-assembler does and records meta.json fields', () => {
    const version = inject('tinyCommit').version;
    const names = Object.fromEntries([...images].map(([name, image]) => [name, path.basename(image.path)]));
    expect(names).toEqual({
      aws: `fedora-coreos-${version}-aws.x86_64.vmdk`,
      azure: `fedora-coreos-${version}-azure.x86_64.vhd`,
      digitalocean: `fedora-coreos-${version}-digitalocean.x86_64.qcow2.gz`,
      gce: `fedora-coreos-${version}-gcp.x86_64.tar.gz`,
      metal: `fedora-coreos-${version}-metal.x86_64.raw`,
      openstack: `fedora-coreos-${version}-openstack.x86_64.qcow2`,
      qemu: `fedora-coreos-${version}-qemu.x86_64.qcow2`,
      vmware: `fedora-coreos-${version}-vmware.x86_64.ova`,
      'qemu:zstd': `fedora-coreos-${version}-qemu.x86_64.qcow2.zst`,
    });
    for (const image of images.values()) {
      expect(image.metadata).toMatchObject({
        path: path.basename(image.path),
        sha256: image.digest,
        arch: 'x86_64',
      });
    }
    expect(images.get('qemu:zstd')!.metadata).toMatchObject({
      platform: 'qemu',
      format: 'qcow2',
      compression: 'zstd',
      'uncompressed-sha256': images.get('qemu')!.digest,
      'uncompressed-size': images.get('qemu')!.metadata.size,
    });
    expect(images.get('gce')!.metadata).toMatchObject({
      platform: 'gce',
      format: 'gce-tar',
      'skip-compression': true,
    });
    expect(images.get('metal')!.metadata).not.toHaveProperty('uncompressed-sha256');
  });

  it('writes each format as qemu-img reads it: qcow2 1.1, streamOptimized vmdk, fixed 1 MiB-aligned VHD', async () => {
    for (const platform of ['qemu', 'openstack']) {
      const info = await imageInfo(testExec, images.get(platform)!.path);
      expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': disk.disk.sizeBytes });
      expect(info['format-specific']?.data).toMatchObject({ compat: '1.1' });
    }
    const vmdk = await imageInfo(testExec, images.get('aws')!.path);
    expect(vmdk).toMatchObject({ format: 'vmdk', 'virtual-size': disk.disk.sizeBytes });
    expect(vmdk['format-specific']?.data).toMatchObject({ 'create-type': 'streamOptimized' });
    const descriptor = (await readFile(images.get('aws')!.path)).subarray(512, 512 * 21).toString('latin1');
    expect(descriptor).toContain('ddb.adapterType = "lsilogic"');
    expect(descriptor).toContain(
      `RW ${disk.disk.sizeBytes / 512} SPARSE "${path.basename(images.get('aws')!.path)}"`,
    );
    const vhdPath = images.get('azure')!.path;
    const vhd = await imageInfo(testExec, vhdPath, 'vpc');
    expect(vhd).toMatchObject({ format: 'vpc', 'virtual-size': disk.disk.sizeBytes });
    expect(vhd['virtual-size'] % MIB).toBe(0);
    expect((await stat(vhdPath)).size).toBe(disk.disk.sizeBytes + 512);
    const footer = Buffer.alloc(512);
    const handle = await open(vhdPath, 'r');
    await handle.read(footer, 0, 512, disk.disk.sizeBytes);
    await handle.close();
    expect(footer.toString('latin1', 0, 8)).toBe('conectix');
    expect(footer.readUInt32BE(60)).toBe(2);
  });

  it('packs gce as a gzip (no name, no time) of a tar holding exactly disk.raw', async () => {
    const tarball = images.get('gce')!.path;
    const header = (await readFile(tarball)).subarray(0, 10);
    expect(header.readUInt32LE(4)).toBe(0);
    expect(header[3]! & 0x08).toBe(0);
    const { stdout } = await testExec('tar', ['-tvzf', tarball]);
    const members = stdout.trim().split('\n');
    expect(members).toHaveLength(1);
    // Dated by the commit's time (UTC here), like every file of the image.
    const written = new Date(inject('tinyCommit').timestamp * 1000).toISOString();
    expect(members[0]).toMatch(
      new RegExp(`^-rw-r--r-- 0/0 +1073741824 ${written.slice(0, 10)} ${written.slice(11, 16)} disk\\.raw$`),
    );
  });

  it('packs vmware as an OVA: the OVF descriptor first, then the streamOptimized vmdk it describes', async () => {
    const directory = await makeTempDir('fcos-ova-');
    await testExec('tar', ['-xf', images.get('vmware')!.path, '-C', directory]);
    const { stdout } = await testExec('tar', ['-tf', images.get('vmware')!.path]);
    const base = path.basename(images.get('vmware')!.path, '.ova');
    expect(stdout.trim().split('\n')).toEqual([`${base}.ovf`, `${base}.vmdk`]);
    const ovf = await readFile(path.join(directory, `${base}.ovf`), 'utf8');
    const vmdkSize = (await stat(path.join(directory, `${base}.vmdk`))).size;
    expect(ovf).toContain('<vssd:VirtualSystemType>vmx-17</vssd:VirtualSystemType>');
    expect(ovf).toContain('vmw:osType="fedora64Guest"');
    expect(ovf).toContain(`ovf:href="${base}.vmdk" ovf:size="${vmdkSize}"`);
    expect(ovf).toContain(`ovf:capacity="${disk.disk.sizeBytes}"`);
    expect(ovf).toContain('ovf:key="guestinfo.ignition.config.data"');
    expect(
      (await imageInfo(testExec, path.join(directory, `${base}.vmdk`)))['format-specific']?.data,
    ).toMatchObject({
      'create-type': 'streamOptimized',
    });
  });

  it('converts losslessly: each image has the content of the disk set up for its platform (qemu-img compare)', async () => {
    const directory = await makeTempDir('fcos-unpack-');
    const formats: ReadonlyArray<readonly [string, string, QemuImageFormat]> = [
      ['qemu', 'qemu', 'qcow2'],
      ['openstack', 'openstack', 'qcow2'],
      ['aws', 'aws', 'vmdk'],
      ['azure', 'azure', 'vpc'],
      ['metal', 'metal', 'raw'],
    ];
    for (const [build, platformId, format] of formats) {
      const raw = await platformRaw(disk, platformId);
      const same = await sameContent(
        testExec,
        { file: raw, format: 'raw' },
        { file: images.get(build)!.path, format },
      );
      expect(same, build).toBe(true);
    }
    await testExec('tar', ['-xzSf', images.get('gce')!.path, '-C', directory]);
    const gceRaw = await platformRaw(disk, 'gcp');
    expect(
      await sameContent(
        testExec,
        { file: gceRaw, format: 'raw' },
        { file: path.join(directory, 'disk.raw'), format: 'raw' },
      ),
    ).toBe(true);
    expect(images.get('metal')!.digest).toBe(disk.digest);
  });

  it('sets ignition.platform.id, the platform kernel arguments and GRUB console commands in the boot partition', async () => {
    const expectations: ReadonlyArray<readonly [string, readonly string[], boolean]> = [
      ['qemu', ['ignition.platform.id=qemu', 'console=tty0', 'console=ttyS0,115200n8'], true],
      ['gcp', ['ignition.platform.id=gcp', 'console=tty0', 'console=ttyS0,115200n8'], true],
      ['azure', ['ignition.platform.id=azure', 'console=tty0', 'console=ttyS0,115200n8'], false],
      ['digitalocean', ['ignition.platform.id=digitalocean'], false],
    ];
    for (const [platformId, kargs, serialGrub] of expectations) {
      const raw = await platformRaw(disk, platformId);
      const spec = filesystemSpec(raw, disk.disk.bootPartition.offset);
      const entry = await readExt4File(testExec, spec, disk.disk.bootPartition.blsEntries[0]!);
      const options = /^options (.*)$/m.exec(entry)![1]!.split(' ');
      expect(
        options.filter((karg) => karg.startsWith('ignition.platform.id=') || karg.startsWith('console=')),
      ).toEqual(kargs);
      expect(options).toContain('$ignition_firstboot');
      expect(options.some((karg) => karg.startsWith('ostree='))).toBe(true);
      const grubConfig = await readExt4File(testExec, spec, '/grub2/grub.cfg');
      expect(grubConfig.includes('serial --speed=115200\nterminal_input serial console'), platformId).toBe(
        serialGrub,
      );
      expect(grubConfig).toContain(kargs[0]!);
      await testExec('e2fsck', ['-f', '-n', spec]);
    }
    expect(images.get('qemu')!.metadata.kernelArguments).toContain('ignition.platform.id=qemu');
    expect(images.get('gce')!.metadata).toMatchObject({ ignitionPlatformId: 'gcp' });
  });

  // A bound, not a timing: every image built again takes minutes while the suite's VMs share the cores.
  it('gives identical bytes when built again, and never writes to the input disk', async () => {
    for (const [platform, compression] of BUILDS) {
      const again = await buildImage(disk, platform, compression);
      expect(again.digest, key(platform, compression)).toBe(images.get(key(platform, compression))!.digest);
    }
    expect((await sha256File(disk.path)).digest).toBe(diskDigestBefore);
  }, 420_000);
});
