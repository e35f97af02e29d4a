/**
 * The LiveImage runner: deploys the commit into a directory (as DiskImage does), packs that sysroot
 * into a squashfs inside the rootfs image, appends the squashfs's sha256 to the OS's own initramfs
 * (the live initramfs refuses any other rootfs), and lays out the live ISO as Fedora CoreOS's:
 * images/pxeboot/ (the trio), images/ignition.img (the embed area), coreos/igninfo.json,
 * coreos/metal.json with images/metal/ (the offline images, as their data extents), GRUB for BIOS (El Torito) and UEFI
 * (a FAT image), then xorriso. Every byte depends only on the inputs: the commit's time is every
 * file's, and the tools are told so (SOURCE_DATE_EPOCH, --reproducible, fixed FAT ids).
 */
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Arch, archSchema } from '../../lib/artifacts.ts';
import { sha256File } from '../../lib/cache/hash.ts';
import { type PackedExtents, packDataExtents } from '../../lib/disk/data-extents.ts';
import { imageToolsFingerprint } from '../../lib/disk/platform-boot.ts';
import { FcosError } from '../../lib/errors.ts';
import type { ToolExec } from '../../lib/exec.ts';
import {
  defineRunner,
  type NodeProps,
  type ResolvedArtifact,
  type RunnerContext,
  type RunnerOutput,
} from '../../lib/runner.ts';
import { writeNewcArchive } from '../../lib/tools/cpio.ts';
import { efiBootPath, efiPlatform, makeGrubImage, withForeignGrubModules } from '../../lib/tools/grub.ts';
import { makeVfat } from '../../lib/tools/mkfs.ts';
import { copyIntoFat } from '../../lib/tools/mtools.ts';
import { deploySysroot } from '../../lib/tools/ostree-sysroot.ts';
import { makeSquashfs } from '../../lib/tools/squashfs.ts';
import { makeHybridIso } from '../../lib/tools/xorriso.ts';
import { canonicalStringify, type JsonValue } from '../../lib/util/canonical-json.ts';
import { type CommitFacts, commitFacts } from '../disk-image/runner.ts';
import { type LiveImageConfig, liveImageKind } from './index.ts';
import type { LiveImageMetadata } from './metadata.ts';

/** The live image cannot be made from its inputs (no kernel in the commit, a metal image of another commit ...). */
export class LiveImageError extends FcosError {}

/** Props of the node as its runner receives them. */
type LiveImageRunnerProps = NodeProps<LiveImageConfig>;

/** Debian packages whose versions decide the bytes of the live image. */
const LIVE_TOOL_PACKAGES = [
  'ostree',
  'squashfs-tools',
  'xorriso',
  'cpio',
  'gzip',
  'dosfstools',
  'mtools',
  'grub-common',
  'grub-pc-bin',
  'grub-efi-amd64-bin',
  'grub-efi-arm64-bin',
  // The libraries doing the work: mksquashfs's zstd, xorriso's ISO 9660 and El Torito writer.
  'libzstd1',
  'libisofs6',
  'libisoburn1',
];

/** Size of the Ignition embed area, images/ignition.img (coreos-installer's `iso ignition embed` fills it). */
export const IGNITION_EMBED_AREA_BYTES = 256 * 1024;
/** Size of the FAT image holding the EFI binary (El Torito's UEFI boot image). */
const EFI_BOOT_IMAGE_BYTES = 4 * 1024 * 1024;
/** FAT volume id of that image: fixed, so the ISO's bytes do not depend on the clock. */
const EFI_BOOT_VOLUME_ID = '4c495645';
/** The longest ISO 9660 volume id. */
const VOLUME_ID_MAX = 32;

/** Paths inside the ISO (Fedora CoreOS's, which the live initramfs and coreos-installer read). */
const ISO_PATHS = {
  kernel: 'images/pxeboot/vmlinuz',
  initramfs: 'images/pxeboot/initrd.img',
  rootfs: 'images/pxeboot/rootfs.img',
  ignition: 'images/ignition.img',
  ignitionInfo: 'coreos/igninfo.json',
  metalInfo: 'coreos/metal.json',
  metalDirectory: 'images/metal',
  biosBoot: 'images/eltorito.img',
  efiBoot: 'images/efiboot.img',
  bootCatalog: 'images/boot.cat',
  grubConfig: 'boot/grub/grub.cfg',
} as const;

/** The volume id: `<os>-<version>` as Fedora CoreOS names its ISOs, cut to ISO 9660's 32 characters. */
export function liveVolumeId(osName: string, version: string): string {
  return `${osName}-${version}`.slice(0, VOLUME_ID_MAX);
}

/** File names of the four artifacts, as coreos-assembler names them. */
export function liveFileNames(osName: string, version: string, arch: Arch): LiveImageMetadata['files'] {
  const prefix = `${osName}-${version}`;
  return {
    'live-iso': `${prefix}-live-iso.${arch}.iso`,
    'live-kernel': `${prefix}-live-kernel.${arch}`,
    'live-initramfs': `${prefix}-live-initramfs.${arch}.img`,
    'live-rootfs': `${prefix}-live-rootfs.${arch}.img`,
  };
}

/** The deployed sysroot (its /boot emptied, as the root partition of a disk) and the kernel files. */
interface LiveTree {
  readonly sysroot: string;
  readonly kernel: string;
  readonly initramfs: string;
}

/** Deploys the commit into `workDir/sysroot` and finds its kernel and initramfs. */
async function deployLiveTree(
  context: RunnerContext<LiveImageRunnerProps>,
  commit: CommitFacts,
  kernelArguments: readonly string[],
): Promise<LiveTree> {
  const { exec, workDir, props, nodePath } = context;
  const sysroot = path.join(workDir, 'sysroot');
  // Modes set outright: the squashfs keeps them, and they must not depend on the builder's umask.
  await mkdir(sysroot);
  await chmod(sysroot, 0o755);
  const deployment = await deploySysroot(exec, {
    sysroot,
    sourceRepo: commit.repo,
    checksum: commit.checksum,
    ref: commit.ref,
    osName: props.osName,
    kernelArguments,
  });
  // The boot partition's tree is not part of a live root: the initramfs finds the deployment
  // through /ostree/boot.N, which is on the root.
  await rm(path.join(sysroot, 'boot'), { recursive: true, force: true });
  await mkdir(path.join(sysroot, 'boot'));
  await chmod(path.join(sysroot, 'boot'), 0o755);
  const modules = path.join(sysroot, deployment.deploymentPath, 'usr/lib/modules');
  const versions = await readdir(modules).catch(() => [] as string[]);
  if (versions.length !== 1)
    throw new LiveImageError(
      `the commit has ${versions.length} kernels in /usr/lib/modules (${versions.join(', ') || 'none'}); a live image needs exactly one`,
      { constructPath: nodePath, field: 'commit' },
    );
  const kernelDirectory = path.join(modules, versions[0]!);
  return {
    sysroot,
    kernel: path.join(kernelDirectory, 'vmlinuz'),
    initramfs: path.join(kernelDirectory, 'initramfs.img'),
  };
}

/** Writes the rootfs image (a newc cpio holding root.squashfs of the sysroot); returns the squashfs's sha256. */
async function writeRootfs(
  exec: ToolExec,
  sysroot: string,
  scratch: string,
  output: string,
  timestamp: number,
): Promise<string> {
  const squashfs = path.join(scratch, 'root.squashfs');
  await makeSquashfs(exec, { source: sysroot, output: squashfs, timestamp });
  await chmod(squashfs, 0o644);
  await utimes(squashfs, timestamp, timestamp);
  await writeNewcArchive(exec, { directory: scratch, names: ['root.squashfs'], output });
  const digest = (await sha256File(squashfs)).digest;
  await rm(squashfs);
  return digest;
}

/**
 * Writes the live initramfs: the OS's initramfs with a gzip'd cpio appended holding
 * /etc/coreos-live-want-rootfs (the squashfs's sha256), which the kernel unpacks over it.
 */
async function writeLiveInitramfs(
  exec: ToolExec,
  osInitramfs: string,
  squashfsDigest: string,
  scratch: string,
  output: string,
  timestamp: number,
): Promise<void> {
  const tree = path.join(scratch, 'want-rootfs');
  await mkdir(path.join(tree, 'etc'), { recursive: true });
  const want = path.join(tree, 'etc/coreos-live-want-rootfs');
  await writeFile(want, `${squashfsDigest}\n`);
  await chmod(want, 0o644);
  await chmod(path.join(tree, 'etc'), 0o755);
  for (const file of [want, path.join(tree, 'etc')]) await utimes(file, timestamp, timestamp);
  const archive = path.join(scratch, 'want-rootfs.cpio');
  await writeNewcArchive(exec, {
    directory: tree,
    names: ['etc', 'etc/coreos-live-want-rootfs'],
    output: archive,
  });
  const compressed = `${archive}.gz`;
  await exec('gzip', ['-n', '-9', '-c', archive], { stdoutFile: compressed });
  await writeFile(output, Buffer.concat([await readFile(osInitramfs), await readFile(compressed)]));
}

/** One metal image to put into the ISO. */
interface MetalInput {
  readonly image: ResolvedArtifact;
  readonly sectorSize: 512 | 4096;
}

/** The metal images of the props, checked to be of the commit; each with its sector size. */
function metalInputs(context: RunnerContext<LiveImageRunnerProps>, commit: string): MetalInput[] {
  const inputs: MetalInput[] = [];
  for (const [field, sectorSize] of [
    ['metal', 512],
    ['metal4k', 4096],
  ] as const) {
    const image = context.inputs[field];
    if (image === undefined) continue;
    if (image.metadata.commit !== commit)
      throw new LiveImageError(
        `the ${field} image is of commit ${String(image.metadata.commit)}, not of ${commit}`,
        {
          constructPath: context.nodePath,
          field,
        },
      );
    inputs.push({ image, sectorSize });
  }
  return inputs;
}

/**
 * Puts the metal images under images/metal/ and returns coreos/metal.json's entries. A raw image
 * goes as the bytes of its data extents with their list (coreos-installer zeroes the image's range
 * and writes only those: decompressing a whole image under QEMU's emulation takes minutes); a
 * compressed one goes as it is.
 */
async function addMetalImages(
  inputs: readonly MetalInput[],
  isoTree: string,
): Promise<LiveImageMetadata['metalImages']> {
  const directory = path.join(isoTree, ISO_PATHS.metalDirectory);
  await mkdir(directory, { recursive: true });
  const entries: LiveImageMetadata['metalImages'] = [];
  for (const { image, sectorSize } of inputs) {
    // The image's own file name (the input's path is its cache blob's).
    const name = typeof image.metadata.path === 'string' ? image.metadata.path : path.basename(image.path);
    const compressed = image.metadata.compression !== undefined && image.metadata.compression !== 'none';
    const file = `${ISO_PATHS.metalDirectory}/${compressed ? name : `${name}.extents`}`;
    const target = path.join(isoTree, file);
    let packed: PackedExtents | undefined;
    if (compressed) await copyFile(image.path, target);
    else packed = await packDataExtents(image.path, target);
    await chmod(target, 0o644);
    const sha256 = (await sha256File(target)).digest;
    entries.push({
      file,
      sha256,
      sectorSize,
      ...(packed
        ? { size: packed.size, extents: packed.extents.map(([offset, length]) => [offset, length]) }
        : {}),
    });
  }
  return entries;
}

/** GRUB's menu on the ISO: serial and screen consoles, one entry booting the live system. */
function liveGrubConfig(kernelArguments: readonly string[], osName: string, version: string): string {
  return [
    'serial --speed=115200',
    'terminal_input serial console',
    'terminal_output serial console',
    'set timeout=1',
    '',
    `menuentry '${osName} ${version} (Live)' --id live {`,
    `  linux /${ISO_PATHS.kernel} ${kernelArguments.join(' ')}`,
    `  initrd /${ISO_PATHS.initramfs} /${ISO_PATHS.ignition}`,
    '}',
    '',
  ].join('\n');
}

/** Makes GRUB's boot images of the ISO: the BIOS El Torito core (x86_64) and the UEFI FAT image. */
async function addBootImages(
  context: RunnerContext<LiveImageRunnerProps>,
  arch: Arch,
  isoTree: string,
  volumeId: string,
  timestamp: number,
): Promise<{ bios: boolean }> {
  const { exec, workDir } = context;
  const bios = arch === 'x86_64';
  if (bios) {
    await makeGrubImage(exec, {
      platform: 'i386-pc-eltorito',
      output: path.join(isoTree, ISO_PATHS.biosBoot),
      workDir,
      liveVolumeId: volumeId,
    });
  }
  const efiBinary = path.join(workDir, 'grub.efi');
  await makeGrubImage(exec, {
    platform: efiPlatform(arch),
    output: efiBinary,
    workDir,
    liveVolumeId: volumeId,
  });
  const efiImage = path.join(isoTree, ISO_PATHS.efiBoot);
  await makeVfat(exec, {
    file: efiImage,
    size: EFI_BOOT_IMAGE_BYTES,
    label: 'EFI-SYSTEM',
    volumeId: EFI_BOOT_VOLUME_ID,
    sectorSize: 512,
  });
  const destination = efiBootPath(arch);
  await copyIntoFat(exec, {
    image: efiImage,
    directories: ['/EFI', path.posix.dirname(destination)],
    files: [{ source: efiBinary, destination }],
    timestamp,
  });
  // The binary on the ISO's own filesystem too, where firmware that reads ISO 9660 looks.
  await mkdir(path.join(isoTree, path.posix.dirname(destination.slice(1))), { recursive: true });
  await copyFile(efiBinary, path.join(isoTree, destination.slice(1)));
  return { bios };
}

/** Sets every file and directory under `tree` to `timestamp` and a umask-free mode (xorriso keeps both). */
async function normalizeTree(tree: string, timestamp: number): Promise<void> {
  const entries = await readdir(tree, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    const file = path.join(entry.parentPath, entry.name);
    await chmod(file, entry.isDirectory() ? 0o755 : 0o644);
    await utimes(file, timestamp, timestamp);
  }
  await chmod(tree, 0o755);
  await utimes(tree, timestamp, timestamp);
}

/** Builds the live image: sysroot, rootfs, initramfs, ISO tree, ISO; returns the `live` output. */
async function buildLiveImage(
  context: RunnerContext<LiveImageRunnerProps>,
): Promise<Record<string, RunnerOutput>> {
  const { exec, workDir, props } = context;
  const commit = await commitFacts(exec, context.inputs.commit!);
  const arch = archSchema.parse(context.inputs.commit!.metadata.arch);
  const metals = metalInputs(context, commit.checksum);
  const volumeId = liveVolumeId(props.osName, commit.version);
  const kernelArguments = ['ignition.firstboot', 'ignition.platform.id=metal', ...props.kargs];
  const tree = await deployLiveTree(context, commit, kernelArguments);
  const isoTree = path.join(workDir, 'iso');
  const scratch = path.join(workDir, 'scratch');
  await mkdir(path.join(isoTree, 'images/pxeboot'), { recursive: true });
  await mkdir(path.join(isoTree, 'coreos'), { recursive: true });
  await mkdir(path.join(isoTree, 'boot/grub'), { recursive: true });
  await mkdir(scratch);

  const squashfsDigest = await writeRootfs(
    exec,
    tree.sysroot,
    scratch,
    path.join(isoTree, ISO_PATHS.rootfs),
    commit.timestamp,
  );
  await writeLiveInitramfs(
    exec,
    tree.initramfs,
    squashfsDigest,
    scratch,
    path.join(isoTree, ISO_PATHS.initramfs),
    commit.timestamp,
  );
  await copyFile(tree.kernel, path.join(isoTree, ISO_PATHS.kernel));
  // The deployed tree is in the squashfs now; its space goes to the ISO.
  await rm(tree.sysroot, { recursive: true, force: true });
  await writeFile(path.join(isoTree, ISO_PATHS.ignition), Buffer.alloc(IGNITION_EMBED_AREA_BYTES));
  await writeFile(
    path.join(isoTree, ISO_PATHS.ignitionInfo),
    `${canonicalStringify({ file: ISO_PATHS.ignition })}\n`,
  );
  const metalImages = await addMetalImages(metals, isoTree);
  await writeFile(
    path.join(isoTree, ISO_PATHS.metalInfo),
    `${canonicalStringify({ images: metalImages }, 2)}\n`,
  );
  await writeFile(
    path.join(isoTree, ISO_PATHS.grubConfig),
    liveGrubConfig([`coreos.liveiso=${volumeId}`, ...kernelArguments], props.osName, commit.version),
  );
  const { bios } = await addBootImages(context, arch, isoTree, volumeId, commit.timestamp);
  await normalizeTree(isoTree, commit.timestamp);

  const output = path.join(workDir, 'live');
  await mkdir(output);
  const files = liveFileNames(props.osName, commit.version, arch);
  await makeHybridIso(exec, {
    tree: isoTree,
    output: path.join(output, files['live-iso']),
    volumeId,
    biosBootImage: bios ? ISO_PATHS.biosBoot : undefined,
    efiBootImage: ISO_PATHS.efiBoot,
    bootCatalog: ISO_PATHS.bootCatalog,
    timestamp: commit.timestamp,
  });
  // The PXE trio is the ISO's: moved out of its tree once xorriso has read it.
  await rename(path.join(isoTree, ISO_PATHS.kernel), path.join(output, files['live-kernel']));
  await rename(path.join(isoTree, ISO_PATHS.initramfs), path.join(output, files['live-initramfs']));
  await rename(path.join(isoTree, ISO_PATHS.rootfs), path.join(output, files['live-rootfs']));
  await normalizeTree(output, commit.timestamp);
  await rm(isoTree, { recursive: true, force: true });
  context.log(`live image ${volumeId}: ${Object.values(files).join(', ')}`);
  const metadata: LiveImageMetadata = {
    arch,
    osName: props.osName,
    version: commit.version,
    commit: commit.checksum,
    volumeId,
    kernelArguments,
    files,
    metalImages,
  };
  return { live: { storage: 'tree', path: output, metadata } };
}

export default defineRunner(liveImageKind, {
  timeoutSeconds: 3600,
  /** Versions of the tools whose output is in the image. */
  /** The tools' versions, and where an arch's EFI GRUB modules come from (as DiskImage's). */
  async fingerprint(context) {
    const fingerprint = (await imageToolsFingerprint(context.exec, LIVE_TOOL_PACKAGES)) as Record<
      string,
      JsonValue
    >;
    const arch = archSchema.safeParse(context.inputs.commit?.metadata.arch);
    return arch.success ? withForeignGrubModules(fingerprint, arch.data) : fingerprint;
  },
  run: buildLiveImage,
});
