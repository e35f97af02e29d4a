/**
 * The DiskImage runner: deploys the commit into a plain directory, builds each filesystem inside
 * the sparse disk file without a mount, writes the GPT and installs GRUB for BIOS and UEFI.
 */
import { chmod, mkdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { type Arch, archSchema } from '../../lib/artifacts.ts';
import { type BlsEntry, parseBlsEntry, requiredBlsField } from '../../lib/disk/bls.ts';
import {
  BOOT_FILESYSTEM_UUID,
  type DiskLayout,
  DiskLayoutError,
  EFI_VOLUME_ID,
  fedoraCoreOsLayout,
  type LayoutPartition,
  MIB,
  partitionWithRole,
  ROOT_FILESYSTEM_UUID,
} from '../../lib/disk/disk-layout.ts';
import { ext4Capacity, scanTree, symlinkTimeCommands, type TreeScan } from '../../lib/disk/ext4-tree.ts';
import { writeGpt } from '../../lib/disk/gpt.ts';
import { GRUB_CONFIG_PATH, renderGrubConfig } from '../../lib/disk/grub-config.ts';
import { archSection, imageToolsFingerprint } from '../../lib/disk/platform-boot.ts';
import { FcosError } from '../../lib/errors.ts';
import { ToolError, type ToolExec } from '../../lib/exec.ts';
import {
  defineRunner,
  type FingerprintContext,
  type NodeProps,
  type ResolvedArtifact,
  type RunnerContext,
  type RunnerOutput,
} from '../../lib/runner.ts';
import { copyIntoDisk } from '../../lib/tools/dd.ts';
import { filesystemSpec, quoteArgument, runDebugfsBatch } from '../../lib/tools/debugfs.ts';
import {
  efiBootPath,
  efiPlatform,
  installBiosBoot,
  makeGrubImage,
  missingGrubPlatform,
  withForeignGrubModules,
} from '../../lib/tools/grub.ts';
import { makeExt4, makeVfat } from '../../lib/tools/mkfs.ts';
import { copyIntoFat } from '../../lib/tools/mtools.ts';
import { commitTimestamp, deploySysroot } from '../../lib/tools/ostree-sysroot.ts';
import { canonicalStringify, type JsonValue } from '../../lib/util/canonical-json.ts';
import { ensureFreeSpace, type SpaceNeed, translatingNoSpace } from '../../lib/util/free-space.ts';
import { type DiskImageConfig, diskImageKind } from './index.ts';

/** The DiskImage cannot be built from its props and commit (too small, unsupported arch or filesystem). */
export class DiskImageError extends FcosError {}

/** Kernel arguments every image starts with (coreos-assembler's osbuild manifests: `rw`, `$ignition_firstboot`). */
export const BASE_KERNEL_ARGUMENTS = ['rw', '$ignition_firstboot'] as const;
/** The platform of the raw disk: PlatformImage replaces it. */
export const DISK_PLATFORM = 'metal';
/** The stamp on the boot partition whose presence makes GRUB add `ignition.firstboot`. */
export const FIRSTBOOT_STAMP = '/ignition.firstboot';

/** One partition as recorded in the disk's metadata. */
const partitionMetadataSchema = z.object({
  number: z.number().int(),
  name: z.string(),
  role: z.enum(['bios-boot', 'reserved', 'efi', 'boot', 'root']),
  typeGuid: z.string(),
  guid: z.string(),
  offset: z.number().int(),
  size: z.number().int(),
});

/** The metadata of the `disk` output, as PlatformImage reads it. */
export const diskMetadataSchema = z.object({
  arch: archSchema,
  sectorSize: z.union([z.literal(512), z.literal(4096)]),
  sizeBytes: z.number().int(),
  osName: z.string(),
  commit: z.string(),
  version: z.string(),
  kernelVersion: z.string(),
  timestamp: z.number().int(),
  platform: z.string(),
  kernelArguments: z.array(z.string()),
  bootloaders: z.array(z.enum(['bios', 'uefi'])),
  diskGuid: z.string(),
  partitions: z.array(partitionMetadataSchema),
  bootPartition: z.object({
    offset: z.number().int(),
    size: z.number().int(),
    blsEntries: z.array(z.string()).min(1),
    grubConfig: z.string(),
  }),
});

/** Metadata of a DiskImage's `disk` output. */
export type DiskImageMetadata = z.output<typeof diskMetadataSchema>;

/** Props of the node as its runner receives them. */
type DiskImageRunnerProps = NodeProps<DiskImageConfig>;

/** Inode flags of an immutable directory in extents format (EXT4_EXTENTS_FL | EXT4_IMMUTABLE_FL). */
const IMMUTABLE_EXTENT_FLAGS = '0x80010';

/** One gibibyte. */
const GIB = 1024 * MIB;

/** Debian packages whose versions decide the bytes of the image. */
const DISK_TOOL_PACKAGES = [
  'ostree',
  'libostree-1-1',
  'e2fsprogs',
  'dosfstools',
  'mtools',
  'grub-common',
  'grub-pc-bin',
  'grub-efi-amd64-bin',
  'grub-efi-arm64-bin',
];

/** What a commit input says about itself, with what the metadata lacks read from the repo. */
export interface CommitFacts {
  readonly checksum: string;
  readonly repo: string;
  readonly ref: string | undefined;
  readonly version: string;
  readonly timestamp: number;
}

/** Reads a commit input's checksum, ref, version and time (shared with LiveImage, which deploys it too). */
export async function commitFacts(exec: ToolExec, commit: ResolvedArtifact): Promise<CommitFacts> {
  const metadata = commit.metadata;
  const timestamp = await commitTimestamp(exec, commit.path, commit.digest);
  return {
    checksum: commit.digest,
    repo: commit.path,
    ref: typeof metadata.ref === 'string' && metadata.ref !== '' ? metadata.ref : undefined,
    version:
      typeof metadata.version === 'string' && metadata.version !== ''
        ? metadata.version
        : commit.digest.slice(0, 12),
    timestamp,
  };
}

/**
 * Why a tree of `scan`'s size does not fit the `what` partition of `partitionSize` bytes on a
 * `sizeGiB` disk, with what to do; undefined when it fits.
 */
export function treeFitProblem(
  what: 'root' | 'boot',
  scan: Pick<TreeScan, 'dataBytes' | 'inodes'>,
  partitionSize: number,
  sizeGiB: number,
): string | undefined {
  const capacity = ext4Capacity(partitionSize);
  if (scan.dataBytes <= capacity && scan.inodes <= partitionSize / 16384) return undefined;
  const advice =
    what === 'root'
      ? `raise sizeGiB to at least ${Math.ceil((partitionSize - capacity + scan.dataBytes + 514 * MIB) / GIB)}`
      : 'the boot partition has the fixed Fedora CoreOS size of 384 MiB, too small for this kernel and initramfs';
  return `the ${what} filesystem needs about ${Math.ceil(scan.dataBytes / MIB)} MiB for ${scan.inodes} files, but the ${Math.floor(partitionSize / MIB)} MiB ${what} partition of a ${sizeGiB} GiB disk holds about ${Math.floor(capacity / MIB)} MiB: ${advice}`;
}

/** Throws a DiskImageError if the tree does not fit its partition. */
function ensureFits(
  what: 'root' | 'boot',
  scan: TreeScan,
  partitionSize: number,
  context: RunnerContext<DiskImageRunnerProps>,
): void {
  const problem = treeFitProblem(what, scan, partitionSize, context.props.sizeGiB);
  if (problem)
    throw new DiskImageError(problem, {
      constructPath: context.nodePath,
      field: what === 'root' ? 'sizeGiB' : 'commit',
    });
}

/** Makes an ext4 filesystem from `tree` inside `disk` at the partition, with fixed times. */
async function fillExt4Partition(
  context: RunnerContext<DiskImageRunnerProps>,
  options: {
    disk: string;
    partition: LayoutPartition;
    tree: string;
    uuid: string;
    scan: TreeScan;
    timestamp: number;
    extraCommands?: readonly string[];
  },
): Promise<void> {
  const { partition } = options;
  try {
    await makeExt4(context.exec, {
      file: options.disk,
      offset: partition.offset,
      size: partition.size,
      label: partition.name,
      uuid: options.uuid,
      sourceDir: options.tree,
      timestamp: options.timestamp,
    });
  } catch (error) {
    if (error instanceof ToolError && /allocate|No space|Could not/i.test(error.outputTail)) {
      throw new DiskImageError(
        `the ${partition.name} partition (${partition.size / MIB} MiB) is too small for the deployed tree: raise sizeGiB (mkfs.ext4: ${error.outputTail.split('\n').pop()})`,
        { constructPath: context.nodePath, field: 'sizeGiB', cause: error },
      );
    }
    throw error;
  }
  const spec = filesystemSpec(options.disk, partition.offset);
  const symlinkCommands = await symlinkTimeCommands(
    context.exec,
    spec,
    options.scan,
    options.timestamp,
    path.join(context.workDir, `symlinks-${partition.name}.debugfs`),
  );
  await runDebugfsBatch(
    context.exec,
    spec,
    [...options.scan.timeCommands, ...symlinkCommands, ...(options.extraCommands ?? [])],
    {
      commandFile: path.join(context.workDir, `times-${partition.name}.debugfs`),
      timestamp: options.timestamp,
    },
  );
}

/** Writes `content` to `file` with exactly `mode` (whatever the umask: the image must not depend on it). */
async function writeFileWithMode(file: string, content: string, mode: number): Promise<void> {
  await writeFile(file, content);
  await chmod(file, mode);
}

/** Makes the directory `directory` with exactly `mode`. */
async function makeDirectoryWithMode(directory: string, mode: number): Promise<void> {
  await mkdir(directory, { recursive: true });
  await chmod(directory, mode);
}

/** Writes the files the boot partition gets besides ostree's: grub.cfg, the first-boot stamp, platforms.json. */
async function addBootFiles(bootTree: string, entries: readonly BlsEntry[], arch: Arch): Promise<void> {
  await makeDirectoryWithMode(path.join(bootTree, path.dirname(GRUB_CONFIG_PATH)), 0o700);
  await writeFileWithMode(
    path.join(bootTree, GRUB_CONFIG_PATH),
    renderGrubConfig({ entries, consoleCommands: [] }),
    0o644,
  );
  await writeFileWithMode(path.join(bootTree, FIRSTBOOT_STAMP), '', 0o644);
  const section = archSection(arch);
  if (section !== undefined) {
    await makeDirectoryWithMode(path.join(bootTree, 'coreos'), 0o755);
    await writeFileWithMode(
      path.join(bootTree, 'coreos/platforms.json'),
      `${canonicalStringify(section, 2)}\n`,
      0o644,
    );
  }
}

/** Fills EFI-SYSTEM: a FAT image with GRUB at the removable-media path, copied into the disk. */
async function fillEfiPartition(
  context: RunnerContext<DiskImageRunnerProps>,
  disk: string,
  partition: LayoutPartition,
  timestamp: number,
): Promise<void> {
  const { exec, workDir, props } = context;
  const grubImage = path.join(workDir, 'grub.efi');
  await makeGrubImage(exec, { platform: efiPlatform(props.arch), output: grubImage, workDir });
  const image = path.join(workDir, 'efi-system.img');
  await makeVfat(exec, {
    file: image,
    size: partition.size,
    label: partition.name,
    volumeId: EFI_VOLUME_ID,
    sectorSize: props.sectorSize,
  });
  const destination = efiBootPath(props.arch);
  await copyIntoFat(exec, {
    image,
    directories: ['/EFI', path.posix.dirname(destination)],
    files: [{ source: grubImage, destination }],
    timestamp,
  });
  await copyIntoDisk(exec, image, disk, partition.offset);
  await rm(image);
}

/** Throws a DiskImageError unless the props describe a disk this runner builds on this host. */
function checkBuildable(
  props: DiskImageRunnerProps,
  nodePath: string,
): { layout: DiskLayout; bios: boolean } {
  if (props.rootFilesystem !== 'ext4')
    throw new DiskImageError(
      'an XFS root is not built: mkfs.xfs -p protofile loses hardlinks, sticky bits and xattrs and is not reproducible; use ext4',
      { constructPath: nodePath, field: 'rootFilesystem' },
    );
  let layout: DiskLayout;
  try {
    layout = fedoraCoreOsLayout(props.arch, props.sizeGiB * GIB, props.sectorSize);
  } catch (error) {
    if (error instanceof DiskLayoutError)
      throw new DiskImageError(error.message, { constructPath: nodePath, field: error.field ?? 'arch' });
    throw error;
  }
  // BIOS boot as Fedora CoreOS: x86_64 only, and not on 4K disks (BIOS reads 512-byte sectors).
  const bios = props.arch === 'x86_64' && props.sectorSize === 512;
  for (const platform of [efiPlatform(props.arch), ...(bios ? ['i386-pc' as const] : [])]) {
    const missing = missingGrubPlatform(platform);
    if (missing)
      throw new DiskImageError(`a ${props.arch} disk cannot be made bootable here: ${missing}`, {
        constructPath: nodePath,
        field: 'arch',
      });
  }
  return { layout, bios };
}

/** The deployed trees: the physical root, and its /boot moved aside as the boot partition's tree. */
interface DeployedTrees {
  readonly sysroot: string;
  readonly bootTree: string;
  readonly deploymentPath: string;
  readonly blsEntries: readonly string[];
  readonly kernelVersion: string;
  readonly imageName: string;
}

/** Deploys the commit, splits off /boot, and adds the boot files and the aleph file. */
async function deployTrees(
  context: RunnerContext<DiskImageRunnerProps>,
  commit: CommitFacts,
  kernelArguments: readonly string[],
): Promise<DeployedTrees> {
  const { exec, workDir, props } = context;
  const sysroot = path.join(workDir, 'sysroot');
  await mkdir(sysroot);
  const deployment = await deploySysroot(exec, {
    sysroot,
    sourceRepo: commit.repo,
    checksum: commit.checksum,
    ref: commit.ref,
    osName: props.osName,
    kernelArguments,
  });
  const bootTree = path.join(workDir, 'boot');
  await rename(path.join(sysroot, 'boot'), bootTree);
  await makeDirectoryWithMode(path.join(sysroot, 'boot'), 0o755);
  const entries = await Promise.all(
    deployment.blsEntries.map(async (entry) =>
      parseBlsEntry(await readFile(path.join(bootTree, entry), 'utf8')),
    ),
  );
  await addBootFiles(bootTree, entries, props.arch);
  const imageName = `${props.osName}-${commit.version}-${DISK_PLATFORM}.${props.arch}.raw`;
  const aleph = {
    build: commit.version,
    imgid: imageName,
    'ostree-commit': commit.checksum,
    ref: commit.ref ?? '',
  };
  await writeFileWithMode(
    path.join(sysroot, '.coreos-aleph-version.json'),
    `${canonicalStringify(aleph, 2)}\n`,
    0o644,
  );
  return {
    sysroot,
    bootTree,
    deploymentPath: deployment.deploymentPath,
    blsEntries: deployment.blsEntries.map((entry) => `/${entry}`),
    kernelVersion: /vmlinuz-(\S+)$/.exec(requiredBlsField(entries[0]!, 'linux'))?.[1] ?? '',
    imageName,
  };
}

/**
 * Builds the disk once the filesystem of the work directory (the cache's) has room for it: a
 * sparse disk.raw allocates at most the disk's size, and that is the bound checked. Alongside it
 * are the deployed tree and one partition image at a time, about three times the tree at the
 * peak: under the disk's size unless the tree fills more than a third of the disk, and then a tool
 * failing for want of space is reported the same way.
 */
async function buildDisk(
  context: RunnerContext<DiskImageRunnerProps>,
): Promise<Record<string, RunnerOutput>> {
  const { workDir, props, nodePath } = context;
  const { layout, bios } = checkBuildable(props, nodePath);
  // Synthesis checks this too; a disk of another arch's tree would be built without complaint.
  const commitArch = context.inputs.commit?.metadata.arch;
  if (typeof commitArch === 'string' && commitArch !== props.arch)
    throw new DiskImageError(`the disk is for ${props.arch} but its commit is for ${commitArch}`, {
      constructPath: nodePath,
      field: 'arch',
    });
  const space: SpaceNeed = {
    directory: workDir,
    neededBytes: layout.diskSize,
    what: `a ${props.sizeGiB} GiB disk`,
    constructPath: nodePath,
    field: 'sizeGiB',
  };
  await ensureFreeSpace(space);
  return translatingNoSpace(space, () => writeDisk(context, layout, bios));
}

/** Writes the disk: deploy, filesystems, partition table, bootloaders; returns the `disk` output. */
async function writeDisk(
  context: RunnerContext<DiskImageRunnerProps>,
  layout: DiskLayout,
  bios: boolean,
): Promise<Record<string, RunnerOutput>> {
  const { exec, workDir, props } = context;
  const commit = await commitFacts(exec, context.inputs.commit!);
  const kernelArguments = [...BASE_KERNEL_ARGUMENTS, ...props.kargs, `ignition.platform.id=${DISK_PLATFORM}`];
  const trees = await deployTrees(context, commit, kernelArguments);
  const root = partitionWithRole(layout, 'root');
  const boot = partitionWithRole(layout, 'boot');
  const rootScan = await scanTree(trees.sysroot, commit.timestamp);
  const bootScan = await scanTree(trees.bootTree, commit.timestamp);
  ensureFits('root', rootScan, root.size, context);
  ensureFits('boot', bootScan, boot.size, context);

  const disk = path.join(workDir, 'disk.raw');
  await writeFile(disk, '');
  await truncate(disk, layout.diskSize);
  await fillExt4Partition(context, {
    disk,
    partition: root,
    tree: trees.sysroot,
    uuid: ROOT_FILESYSTEM_UUID,
    scan: rootScan,
    timestamp: commit.timestamp,
    // As in Fedora CoreOS: the physical root and the deployment are immutable (mke2fs does not copy the flag).
    extraCommands: ['/', `/${trees.deploymentPath}`].map(
      (target) => `sif ${quoteArgument(target)} flags ${IMMUTABLE_EXTENT_FLAGS}`,
    ),
  });
  await fillExt4Partition(context, {
    disk,
    partition: boot,
    tree: trees.bootTree,
    uuid: BOOT_FILESYSTEM_UUID,
    scan: bootScan,
    timestamp: commit.timestamp,
  });
  await fillEfiPartition(context, disk, partitionWithRole(layout, 'efi'), commit.timestamp);
  await writeGpt(disk, layout);
  if (bios) {
    const biosBoot = partitionWithRole(layout, 'bios-boot');
    const coreImage = path.join(workDir, 'core.img');
    await makeGrubImage(exec, { platform: 'i386-pc', output: coreImage, workDir });
    await installBiosBoot({
      disk,
      coreImage,
      partitionOffset: biosBoot.offset,
      partitionSize: biosBoot.size,
    });
  }
  const bootloaders: ('bios' | 'uefi')[] = bios ? ['bios', 'uefi'] : ['uefi'];
  const partitions = layout.partitions.map(
    (partition) =>
      `${partition.number} ${partition.name} @${partition.offset / MIB} MiB +${partition.size / MIB} MiB`,
  );
  context.log(`disk ${trees.imageName}: ${partitions.join(', ')}; bootloaders ${bootloaders.join(', ')}`);

  const metadata: DiskImageMetadata = {
    arch: props.arch,
    sectorSize: props.sectorSize,
    sizeBytes: layout.diskSize,
    osName: props.osName,
    commit: commit.checksum,
    version: commit.version,
    kernelVersion: trees.kernelVersion,
    timestamp: commit.timestamp,
    platform: DISK_PLATFORM,
    kernelArguments,
    bootloaders,
    diskGuid: layout.diskGuid,
    partitions: layout.partitions.map(({ number, name, role, typeGuid, guid, offset, size }) => ({
      number,
      name,
      role,
      typeGuid,
      guid,
      offset,
      size,
    })),
    bootPartition: {
      offset: boot.offset,
      size: boot.size,
      blsEntries: [...trees.blsEntries],
      grubConfig: GRUB_CONFIG_PATH,
    },
  };
  const ref: Record<string, string> = commit.ref ? { ref: commit.ref } : {};
  return { disk: { storage: 'file', path: disk, metadata: { ...metadata, ...ref } } };
}

/**
 * The fingerprint: versions of the tools that write the image, the platforms table DiskImage
 * copies and, when the EFI GRUB's modules come from a foreign root (arm64-efi on an amd64 host),
 * that root and the package version its lock pins (a host's package is among the tools already,
 * so an x86_64 disk's fingerprint is what it was before foreign roots).
 */
async function diskFingerprint(context: FingerprintContext<DiskImageRunnerProps>): Promise<JsonValue> {
  const fingerprint = (await imageToolsFingerprint(context.exec, DISK_TOOL_PACKAGES)) as Record<
    string,
    JsonValue
  >;
  return withForeignGrubModules(fingerprint, context.props.arch);
}

export default defineRunner(diskImageKind, {
  timeoutSeconds: 1800,
  fingerprint: diskFingerprint,
  run: buildDisk,
});
