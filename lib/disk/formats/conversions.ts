/**
 * The raw disk turned into each platform format, reproducibly: one function per format, chosen by
 * format on the run side (converters.ts); several platforms share a format.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Arch } from '../../artifacts.ts';
import { FcosError } from '../../errors.ts';
import type { ToolExec } from '../../exec.ts';
import type { OvaSettings } from '../../platform.ts';
import { convertImage } from '../../tools/qemu-img.ts';
import { createTar } from '../../tools/tar.ts';
import { renderOvf } from './ovf.ts';
import { normalizeVhdFooter } from './vhd.ts';
import { normalizeVmdkDescriptor } from './vmdk.ts';

/** What a converter gets from the PlatformImage runner. */
export interface ConvertRequest {
  /** Runs a tool (logged, cancellable). */
  readonly exec: ToolExec;
  /** The raw disk, already set up for the platform (kernel arguments, console); a converter may move or delete it. */
  readonly rawDisk: string;
  /** The file to write: the image, uncompressed, with its final name (`<os>-<version>-<platform>.<arch>.<ext>`). */
  readonly output: string;
  /** An empty scratch directory. */
  readonly workDir: string;
  /** Architecture of the disk. */
  readonly arch: Arch;
  /** Size of the raw disk in bytes. */
  readonly diskSize: number;
  /** OS name (`fedora-coreos`), for descriptors that name the product (OVF). */
  readonly osName: string;
  /** The build's version (`41.20231114.0`). */
  readonly version: string;
  /** Seconds since the epoch to stamp where a format records a time (the commit's time). */
  readonly timestamp: number;
  /** A string unique to this disk and platform, to derive the ids a format wants random (VHD UUID, VMDK CID). */
  readonly seed: string;
  /**
   * The platform's OVA settings (the ova format needs them).
   * @default undefined
   */
  readonly ova?: OvaSettings;
}

/** A conversion cannot be made from what it was given (an OVA without its settings). */
export class ConversionError extends FcosError {}

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
  // The disk is in the tarball now: its space goes to gzip (the peak stays at two copies).
  await rm(path.join(staging, 'disk.raw'));
  await request.exec('gzip', ['-n', '-6', tarball]);
  await rename(`${tarball}.gz`, request.output);
}

/** An OVA: the OVF descriptor, then the streamOptimized VMDK, in a ustar archive (vmware). */
export async function toOva(request: ConvertRequest): Promise<void> {
  const settings = request.ova;
  if (!settings) {
    throw new ConversionError(
      "an OVA needs the platform's OVA settings (osType, hardwareVersion): run fcos-synth again",
      {
        field: 'target.ova',
      },
    );
  }
  const staging = path.join(request.workDir, 'ova');
  await mkdir(staging);
  const base = path.basename(request.output).replace(/\.ova$/, '');
  const diskFile = `${base}.vmdk`;
  await toStreamOptimizedVmdk({ ...request, output: path.join(staging, diskFile) });
  // The raw disk is in the VMDK now: its space goes to the archive (the peak stays at two copies).
  await rm(request.rawDisk);
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
