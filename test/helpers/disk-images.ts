/**
 * Running the DiskImage and PlatformImage runners for real on the tiny OS commit of the shared
 * fixture (`inject('tinyCommit')`), each in a new temporary work directory, the way the executor
 * calls them (canonical props, resolved inputs, logged tools).
 */
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { inject } from 'vitest';
import { sha256File } from '../../lib/cache/hash.ts';
import type { ToolExec } from '../../lib/exec.ts';
import { runTool } from '../../lib/exec.ts';
import type { Compression } from '../../lib/platform.ts';
import type { ResolvedArtifact } from '../../lib/runner.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import { type DiskImageMetadata, diskMetadataSchema } from '../../stages/disk-image/runner.ts';
import { applyPlatform } from '../../stages/platform-image/runner.ts';
import { RUNNERS } from './runners.ts';
import { makeTempDir } from './temp-project.ts';
import { runnerContext, type TinyOsCommit } from './tiny-os.ts';

/** Props of a DiskImage as the runner gets them (after the schema's defaults). */
export interface DiskProps {
  readonly arch: 'x86_64' | 'aarch64' | 'ppc64le' | 's390x';
  readonly sizeGiB: number;
  readonly kargs: readonly string[];
  readonly rootFilesystem: 'ext4' | 'xfs';
  readonly sectorSize: 512 | 4096;
  readonly osName: string;
}

/** The schema defaults of DiskImage, with a 1 GiB disk (the smallest; the tiny OS needs ~50 MB). */
export const DEFAULT_DISK_PROPS: DiskProps = {
  arch: 'x86_64',
  sizeGiB: 1,
  kargs: ['mitigations=auto,nosmt'],
  rootFilesystem: 'ext4',
  sectorSize: 512,
  osName: 'fedora-coreos',
};

/** A runner's output file with what the executor would know of it. */
export interface BuiltFile {
  /** The file. */
  readonly path: string;
  /** Its sha256 (the cache digest). */
  readonly digest: string;
  /** The metadata the runner returned. */
  readonly metadata: Readonly<Record<string, JsonValue>>;
  /** Every line the runner logged (`$ command` lines included). */
  readonly log: readonly string[];
  /** Wall-clock seconds of the run. */
  readonly seconds: number;
}

/** A built disk: its file and parsed metadata. */
export interface BuiltDisk extends BuiltFile {
  /** The disk's metadata, parsed. */
  readonly disk: DiskImageMetadata;
}

/** Runs `kind`'s runner with `props` and `inputs` in a new work directory. */
async function runNode(
  kind: 'DiskImage' | 'PlatformImage',
  nodePath: string,
  props: Record<string, JsonValue>,
  inputs: Record<string, ResolvedArtifact>,
  log: string[],
  options: { workDir?: string | undefined; ostreeRepo?: string } = {},
) {
  const workDir = options.workDir ?? (await makeTempDir(`fcos-${kind.toLowerCase()}-`));
  const ostreeRepo = options.ostreeRepo ?? inject('tinyCommit').repo;
  return RUNNERS[kind].run(
    runnerContext(nodePath, props, inputs, workDir, ostreeRepo, (line) => log.push(line)),
  );
}

/**
 * Builds a disk of the tiny OS commit with `props` over {@link DEFAULT_DISK_PROPS}, in `workDir`
 * (a new temporary directory when omitted).
 */
export async function buildDisk(props: Partial<DiskProps> = {}, workDir?: string): Promise<BuiltDisk> {
  const commit = inject('tinyCommit');
  return buildDiskOf(
    {
      checksum: commit.checksum,
      repo: commit.repo,
      metadata: {
        ref: commit.ref,
        version: commit.version,
        arch: 'x86_64',
        kernelVersion: commit.kernelVersion,
      },
    },
    props,
    workDir,
  );
}

/**
 * Builds a disk of `commit` (in its archive repository `commit.repo`) with `props` over
 * {@link DEFAULT_DISK_PROPS}, in `workDir` (a new temporary directory when omitted).
 */
export async function buildDiskOf(
  commit: TinyOsCommit,
  props: Partial<DiskProps> = {},
  workDir?: string,
): Promise<BuiltDisk> {
  const log: string[] = [];
  const started = performance.now();
  const diskProps = { ...DEFAULT_DISK_PROPS, ...props };
  const outputs = await runNode(
    'DiskImage',
    `testing/${diskProps.arch}/Disk`,
    diskProps as unknown as Record<string, JsonValue>,
    {
      commit: {
        type: 'ostree-commit',
        digest: commit.checksum,
        storage: 'ostree-commit',
        path: commit.repo,
        metadata: commit.metadata,
      },
    },
    log,
    { workDir, ostreeRepo: commit.repo },
  );
  const seconds = (performance.now() - started) / 1000;
  const output = outputs.disk;
  if (output?.storage !== 'file') throw new Error('DiskImage returned no disk file');
  const metadata = output.metadata ?? {};
  const { digest } = await sha256File(output.path);
  return { path: output.path, digest, metadata, disk: diskMetadataSchema.parse(metadata), log, seconds };
}

/**
 * Builds the `platform` image of `disk` with `compression` (the platform's default when omitted),
 * in `workDir` (a new temporary directory when omitted).
 */
export async function buildImage(
  disk: BuiltDisk,
  platform: string,
  compression?: Compression,
  workDir?: string,
): Promise<BuiltFile> {
  const { findPlatform } = await import('../../targets/index.ts');
  const { platformImageTarget } = await import('../../stages/platform-image/index.ts');
  const log: string[] = [];
  const started = performance.now();
  const outputs = await runNode(
    'PlatformImage',
    `testing/x86_64/${platform}`,
    {
      disk: { $input: 'disk' },
      platform,
      compression: compression ?? findPlatform(platform)!.defaultCompression,
      target: platformImageTarget(findPlatform(platform)!),
    },
    {
      disk: {
        type: 'disk-image',
        digest: disk.digest,
        storage: 'file',
        path: disk.path,
        metadata: disk.metadata,
      },
    },
    log,
    { workDir },
  );
  const seconds = (performance.now() - started) / 1000;
  const output = outputs.image;
  if (output?.storage !== 'file') throw new Error('PlatformImage returned no image file');
  const { digest } = await sha256File(output.path);
  return { path: output.path, digest, metadata: output.metadata ?? {}, log, seconds };
}

/** A writable copy of `disk` with the platform's boot settings applied: the raw disk an image converts. */
export async function platformRaw(disk: BuiltDisk, platformId: string): Promise<string> {
  const directory = await makeTempDir('fcos-platform-raw-');
  const copy = path.join(directory, 'disk.raw');
  await testExec('cp', ['--sparse=always', disk.path, copy]);
  await chmod(copy, 0o644);
  await applyPlatform(testExec, copy, disk.disk, platformId, directory);
  return copy;
}

/** Runs a tool for a test (no log). */
export const testExec: ToolExec = (file, args, options) => runTool(file, args, options);

/** The tool commands (`$ ...` lines) of a runner log. */
export function toolCommands(log: readonly string[]): string[] {
  return log.filter((line) => line.startsWith('$ ')).map((line) => line.slice(2));
}
