/**
 * The raw disk turned into each platform format, reproducibly: one function per format, called by
 * the `convert` of the platform modules in targets/ (several platforms share a format).
 */
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConvertRequest } from '../../platform.ts';
import { convertImage } from '../../tools/qemu-img.ts';
import { createTar } from '../../tools/tar.ts';
import { renderOvf } from './ovf.ts';
import { normalizeVhdFooter } from './vhd.ts';
import { normalizeVmdkDescriptor } from './vmdk.ts';

/** The raw disk as it is (metal): moved to the output name. */
export async function toRaw(request: ConvertRequest): Promise<void> {
  await rename(request.rawDisk, request.output);
}

/** A compressed qcow2, compat 1.1 (qemu, openstack, digitalocean). */
export async function toQcow2(request: ConvertRequest): Promise<void> {
  await convertImage(request.exec, {
    input: request.rawDisk,
    output: request.output,
    format: 'qcow2',
    compress: true,
    options: ['compat=1.1'],
  });
}

/**
 * A streamOptimized VMDK on an LSI Logic adapter, hardware version 6 (coreos-assembler's `compat6`),
 * with a CID from the request's seed and the output's own name in its descriptor (aws, vmware).
 */
export async function toStreamOptimizedVmdk(request: ConvertRequest): Promise<void> {
  await convertImage(request.exec, {
    input: request.rawDisk,
    output: request.output,
    format: 'vmdk',
    options: ['adapter_type=lsilogic', 'subformat=streamOptimized', 'compat6'],
  });
  await normalizeVmdkDescriptor(request.output, request.seed, path.basename(request.output));
}

/**
 * A fixed VHD whose virtual size is exactly the disk's (`force_size`; the disk is whole MiB, as
 * Azure wants), its footer's time, UUID and checksum made reproducible (azure).
 */
export async function toFixedVhd(request: ConvertRequest): Promise<void> {
  await convertImage(request.exec, {
    input: request.rawDisk,
    output: request.output,
    format: 'vpc',
    options: ['subformat=fixed', 'force_size'],
  });
  await normalizeVhdFooter(request.output, request.timestamp, request.seed);
}

/** `disk.raw` alone in an oldgnu sparse tarball, gzip'd without name or time (gce). */
export async function toGceTarball(request: ConvertRequest): Promise<void> {
  const staging = path.join(request.workDir, 'gce');
  await mkdir(staging);
  await rename(request.rawDisk, path.join(staging, 'disk.raw'));
  const tarball = path.join(request.workDir, 'disk.tar');
  await createTar(request.exec, {
    output: tarball,
    directory: staging,
    members: ['disk.raw'],
    format: 'oldgnu',
    sparse: true,
    mtime: request.timestamp,
  });
  await request.exec('gzip', ['-n', '-6', tarball]);
  await rename(`${tarball}.gz`, request.output);
}

/** VMware settings of an OVA (fedora-coreos-config's image-base.yaml). */
export interface OvaSettings {
  /** Guest OS type (`vmware-os-type`). */
  readonly osType: string;
  /** Virtual hardware version (`vmware-hw-version`). */
  readonly hardwareVersion: number;
}

/** An OVA: the OVF descriptor, then the streamOptimized VMDK, in a ustar archive (vmware). */
export async function toOva(request: ConvertRequest, settings: OvaSettings): Promise<void> {
  const staging = path.join(request.workDir, 'ova');
  await mkdir(staging);
  const base = path.basename(request.output).replace(/\.ova$/, '');
  const diskFile = `${base}.vmdk`;
  await toStreamOptimizedVmdk({ ...request, output: path.join(staging, diskFile) });
  const descriptor = `${base}.ovf`;
  const name = `${request.osName}-${request.version}`;
  await writeFile(
    path.join(staging, descriptor),
    renderOvf({
      name,
      version: request.version,
      diskFile,
      diskFileSize: (await stat(path.join(staging, diskFile))).size,
      capacity: request.diskSize,
      osType: settings.osType,
      hardwareVersion: settings.hardwareVersion,
    }),
  );
  await createTar(request.exec, {
    output: request.output,
    directory: staging,
    members: [descriptor, diskFile],
    format: 'ustar',
    sparse: false,
    mtime: request.timestamp,
  });
}
