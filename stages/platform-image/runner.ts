/**
 * The PlatformImage runner: copies the disk, edits its BLS entry and grub.cfg for the platform
 * without mounting, converts it to the platform's format and compresses it. Everything it needs of
 * the platform is in the node's props (`target`, recorded at synthesis): no platform registry here.
 * Before writing anything it checks that the work directory's filesystem (the cache's) has room
 * for the peak, and a tool failing there for want of space is reported as such (free-space.ts).
 */
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../../lib/cache/hash.ts';
import {
  type BlsEntry,
  formatBlsEntry,
  kernelArguments,
  parseBlsEntry,
  platformKernelArguments,
  withKernelArguments,
} from '../../lib/disk/bls.ts';
import { CONVERTERS } from '../../lib/disk/formats/converters.ts';
import { renderGrubConfig } from '../../lib/disk/grub-config.ts';
import { imageToolsFingerprint, platformSettings } from '../../lib/disk/platform-boot.ts';
import { FcosError } from '../../lib/errors.ts';
import type { ToolExec } from '../../lib/exec.ts';
import { defineRunner, type NodeProps, type RunnerContext, type RunnerOutput } from '../../lib/runner.ts';
import { compressFile } from '../../lib/tools/compress.ts';
import {
  filesystemSpec,
  readExt4File,
  replaceFileCommands,
  runDebugfsBatch,
} from '../../lib/tools/debugfs.ts';
import { ensureFreeSpace, type SpaceNeed, translatingNoSpace } from '../../lib/util/free-space.ts';
import { type DiskImageMetadata, diskMetadataSchema } from '../disk-image/runner.ts';
import { type PlatformImageConfig, type PlatformImageTarget, platformImageKind } from './index.ts';

/** The PlatformImage cannot be made from its disk (metadata missing, an entry without `options` ...). */
export class PlatformImageError extends FcosError {}

/** Props of the node as its runner receives them. */
type PlatformImageRunnerProps = NodeProps<PlatformImageConfig>;

/** Debian packages whose versions decide the bytes of the images. */
const IMAGE_TOOL_PACKAGES = ['e2fsprogs', 'qemu-utils', 'tar', 'gzip', 'xz-utils', 'zstd'];

/**
 * The image's file name as coreos-assembler names it: `<os>-<version>-<platform>.<arch>.<ext>`,
 * the platform as Ignition knows it, `metal4k` for a 4K-sector metal disk.
 */
export function imageFileName(
  target: Pick<PlatformImageTarget, 'ignitionPlatformId' | 'extension'>,
  disk: Pick<DiskImageMetadata, 'osName' | 'version' | 'arch' | 'sectorSize'>,
): string {
  const platform = `${target.ignitionPlatformId}${disk.sectorSize === 4096 ? '4k' : ''}`;
  return `${disk.osName}-${disk.version}-${platform}.${disk.arch}.${target.extension}`;
}

/** Reads the disk input's metadata, naming the producer when it is not a DiskImage's. */
function diskMetadata(context: RunnerContext<PlatformImageRunnerProps>): DiskImageMetadata {
  const parsed = diskMetadataSchema.safeParse(context.inputs.disk!.metadata);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new PlatformImageError(
    `the disk input has no DiskImage metadata (${issue?.path.join('.')}: ${issue?.message}); it must come from a DiskImage`,
    { constructPath: context.nodePath, field: 'disk' },
  );
}

/**
 * Rewrites the boot partition of `disk` for the platform: each BLS entry gets
 * `ignition.platform.id=<platform>` and the platform's kernel arguments, grub.cfg is generated
 * again from them with the platform's console commands. Only files whose text changes are
 * rewritten (a metal image stays byte-identical to its disk). Returns the new kernel arguments
 * and whether anything was rewritten.
 */
export async function applyPlatform(
  exec: ToolExec,
  disk: string,
  metadata: DiskImageMetadata,
  platformId: string,
  workDir: string,
): Promise<{ readonly kernelArguments: string[]; readonly changed: boolean }> {
  const settings = platformSettings(metadata.arch, platformId);
  const spec = filesystemSpec(disk, metadata.bootPartition.offset);
  const commands: string[] = [];
  // Replaces the file at `target` with `text` unless it holds that already.
  const replace = async (target: string, current: string, text: string, local: string) => {
    if (text === current) return;
    await writeFile(local, text);
    await chmod(local, 0o644); // debugfs `write` copies the mode: keep the umask out of the image
    commands.push(...replaceFileCommands(local, target, metadata.timestamp));
  };
  const entries: BlsEntry[] = [];
  let kargs: string[] = [];
  for (const [index, entryPath] of metadata.bootPartition.blsEntries.entries()) {
    const current = await readExt4File(exec, spec, entryPath);
    const entry = parseBlsEntry(current);
    kargs = platformKernelArguments(kernelArguments(entry), platformId, settings.kernelArguments);
    const updated = withKernelArguments(entry, kargs);
    entries.push(updated);
    await replace(entryPath, current, formatBlsEntry(updated), path.join(workDir, `entry-${index}.conf`));
  }
  const grubConfig = metadata.bootPartition.grubConfig;
  await replace(
    grubConfig,
    await readExt4File(exec, spec, grubConfig),
    renderGrubConfig({ entries, consoleCommands: settings.grubCommands }),
    path.join(workDir, 'grub.cfg'),
  );
  await runDebugfsBatch(exec, spec, commands, {
    commandFile: path.join(workDir, 'platform.debugfs'),
    timestamp: metadata.timestamp,
  });
  return { kernelArguments: kargs, changed: commands.length > 0 };
}

/**
 * What the image needs on the work directory's filesystem, at most: the disk's allocated bytes
 * twice. The sparse copy of the disk allocates what the disk does (nothing where it reflinks), and
 * each later file is at most as big: the converted image next to the copy, then (the copy gone)
 * the compressed image next to the converted one; a tarball (gce, ova) next to what it packs.
 */
async function spaceNeed(
  context: RunnerContext<PlatformImageRunnerProps>,
  metadata: DiskImageMetadata,
): Promise<SpaceNeed> {
  const allocated = (await stat(context.inputs.disk!.path)).blocks * 512;
  const dataMiB = Math.ceil(allocated / (1024 * 1024));
  return {
    directory: context.workDir,
    neededBytes: 2 * allocated,
    what: `the ${context.props.platform} image of a ${metadata.sizeBytes / 1024 ** 3} GiB disk (a copy of its ${dataMiB} MiB of data, then the converted and compressed image)`,
    constructPath: context.nodePath,
    field: 'disk',
  };
}

/** Makes the platform image once the work directory's filesystem has room for it. */
async function buildPlatformImage(
  context: RunnerContext<PlatformImageRunnerProps>,
): Promise<Record<string, RunnerOutput>> {
  const metadata = diskMetadata(context);
  const space = await spaceNeed(context, metadata);
  await ensureFreeSpace(space);
  return translatingNoSpace(space, () => writePlatformImage(context, metadata));
}

/** Writes the platform image: copy, platform settings, conversion, compression, meta.json fields. */
async function writePlatformImage(
  context: RunnerContext<PlatformImageRunnerProps>,
  metadata: DiskImageMetadata,
): Promise<Record<string, RunnerOutput>> {
  const { exec, workDir, props } = context;
  const input = context.inputs.disk!;
  const { target } = props;
  const platformId = target.ignitionPlatformId;
  const scratch = path.join(workDir, 'scratch');
  const output = path.join(workDir, 'image');
  await mkdir(scratch);
  await mkdir(output);
  // The input is a read-only cache blob: work on a sparse copy (a reflink where the filesystem can).
  const rawDisk = path.join(scratch, 'disk.raw');
  await exec('cp', ['--sparse=always', '--reflink=auto', input.path, rawDisk]);
  await chmod(rawDisk, 0o644);
  const { kernelArguments: kargs, changed } = await applyPlatform(
    exec,
    rawDisk,
    metadata,
    platformId,
    scratch,
  );
  const fileName = imageFileName(target, metadata);
  const uncompressed = path.join(output, fileName);
  await CONVERTERS[target.format]({
    exec,
    rawDisk,
    output: uncompressed,
    workDir: scratch,
    arch: metadata.arch,
    diskSize: metadata.sizeBytes,
    osName: metadata.osName,
    version: metadata.version,
    timestamp: metadata.timestamp,
    seed: `${input.digest}:${props.platform}`,
    ...(target.ova ? { ova: target.ova } : {}),
  });
  // The copy is not needed any more (raw and gce moved it): its space goes to the compression.
  await rm(rawDisk, { force: true });
  // A raw image of an unchanged disk is the disk: its digest is known (hashing 10 GiB takes seconds).
  const known =
    target.format === 'raw' && !changed ? { digest: input.digest, size: metadata.sizeBytes } : undefined;
  // Compressing hashes the content on its way to the compressor; uncompressed, it is hashed here
  // once (the cache then takes that digest when it stores the image).
  const compressed = await compressFile(exec, uncompressed, props.compression);
  const shipped = compressed.path;
  const plain = known ?? compressed.uncompressed ?? (await sha256File(uncompressed));
  const packed = props.compression === 'none' ? plain : await sha256File(shipped);
  context.log(`${path.basename(shipped)}: ${packed.size} bytes, sha256 ${packed.digest}`);
  const fields = {
    path: path.basename(shipped),
    sha256: packed.digest,
    size: packed.size,
    ...(props.compression === 'none'
      ? {}
      : { 'uncompressed-sha256': plain.digest, 'uncompressed-size': plain.size }),
    ...(target.compressions.length === 1 && target.compressions[0] === 'none'
      ? { 'skip-compression': true }
      : {}),
  };
  return {
    image: {
      storage: 'file',
      path: shipped,
      metadata: {
        ...fields,
        platform: props.platform,
        ignitionPlatformId: platformId,
        format: target.format,
        compression: props.compression,
        arch: metadata.arch,
        sectorSize: metadata.sectorSize,
        osName: metadata.osName,
        version: metadata.version,
        commit: metadata.commit,
        kernelArguments: kargs,
      },
    },
  };
}

export default defineRunner(platformImageKind, {
  timeoutSeconds: 3600,
  /** Versions of the conversion tools and the platforms table. */
  fingerprint: (context) => imageToolsFingerprint(context.exec, IMAGE_TOOL_PACKAGES),
  run: buildPlatformImage,
});
