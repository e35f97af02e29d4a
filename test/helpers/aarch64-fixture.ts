/**
 * The aarch64 tiny OS for the aarch64 tests, built for real once per test file on this amd64 host:
 * LocalPackageRepo for aarch64 (its Debian files from the aarch64 foreign root), the treefile
 * flattened for aarch64, the dnf compose, then DiskImage as the executor calls
 * them. The x86_64 fixtures of test/global-setup.ts are not used: every input here is aarch64.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../../lib/cache/hash.ts';
import { streamCode } from '../../lib/compose/version.ts';
import { runTool } from '../../lib/exec.ts';
import type { ResolvedArtifact, RunnerContext, RunnerOutput } from '../../lib/runner.ts';
import { flattenTreefile } from '../../lib/treefile/flatten.ts';
import { canonicalStringify, type JsonValue } from '../../lib/util/canonical-json.ts';
import { diskMetadataSchema } from '../../stages/disk-image/runner.ts';
import { type BuiltDisk, DEFAULT_DISK_PROPS } from './disk-images.ts';
import { RUNNERS } from './runners.ts';
import { makeTempDir, REPO_ROOT } from './temp-project.ts';

/** The aarch64 commit of the tiny OS. */
export interface ArmCommit {
  /** The archive repository holding it. */
  readonly repo: string;
  /** Commit checksum. */
  readonly checksum: string;
  /** Its metadata as the compose returned it (arch, version, kernelVersion ...), with its ref. */
  readonly metadata: Readonly<Record<string, JsonValue>>;
}

/** The runner context of node `nodePath` in `workDir`, its log lines collected in `log`. */
function contextOf(
  nodePath: string,
  props: Record<string, JsonValue>,
  inputs: Record<string, ResolvedArtifact>,
  workDir: string,
  ostreeRepo: string,
  log: string[],
  declaredOutputs: RunnerContext['declaredOutputs'] = {},
): RunnerContext {
  return {
    nodePath,
    props,
    inputs,
    declaredOutputs,
    projectDir: REPO_ROOT,
    signal: new AbortController().signal,
    workDir,
    ostreeRepo,
    log: (line) => log.push(line),
    exec: (file, args, options) => runTool(file, args, { ...options, log: (line) => log.push(line) }),
  };
}

/** The file output `name` of a runner's outputs, or an error. */
function fileOutput(outputs: Record<string, RunnerOutput>, name: string): RunnerOutput & { storage: 'file' } {
  const output = outputs[name];
  if (output?.storage !== 'file') throw new Error(`the runner returned no ${name} file`);
  return output;
}

/** Builds the aarch64 package repository and composes the aarch64 commit from it. */
export async function composeArmCommit(log: string[]): Promise<ArmCommit> {
  const directory = await makeTempDir('fcos-arm-commit-');
  const repoOutputs = await RUNNERS.LocalPackageRepo.run(
    contextOf(
      'Packages-aarch64',
      { specs: 'local-os/packages', name: 'local', arch: 'aarch64' },
      {},
      path.join(directory, 'packages'),
      '',
      log,
      { repo: { type: 'rpm-repo', attributes: { name: 'local', arch: 'aarch64' } } },
    ),
  );
  const repo = repoOutputs.repo;
  if (repo?.storage !== 'tree') throw new Error('the aarch64 repository was not built');
  const flat = await flattenTreefile({
    constructPath: 'testing/Manifest',
    projectDir: REPO_ROOT,
    source: { file: path.join(REPO_ROOT, 'local-os/manifest.yaml') },
    arch: 'aarch64',
    variables: { stream: 'testing', stream_code: streamCode('testing') },
  });
  const treefile = path.join(directory, 'treefile');
  await mkdir(treefile);
  await writeFile(path.join(treefile, 'treefile.json'), canonicalStringify(flat.treefile as JsonValue));
  await writeFile(path.join(treefile, 'repos.json'), canonicalStringify([{ name: 'local', local: true }]));
  const ostreeRepo = path.join(directory, 'ostree/repo');
  const composeDirectory = path.join(directory, 'compose');
  await mkdir(composeDirectory);
  const outputs = await RUNNERS.RpmOstreeCompose.run(
    contextOf(
      'testing/aarch64/Compose',
      {
        treefile: { $input: 'treefile' },
        localRepos: [{ $input: 'localRepos.0' }],
        driver: 'dnf',
        respin: 0,
      },
      {
        treefile: {
          type: 'treefile',
          digest: 'a'.repeat(64),
          storage: 'tree',
          path: treefile,
          metadata: { arch: 'aarch64' },
        },
        'localRepos.0': {
          type: 'rpm-repo',
          digest: 'b'.repeat(64),
          storage: 'tree',
          path: repo.path,
          metadata: repo.metadata ?? { name: 'local' },
        },
      },
      composeDirectory,
      ostreeRepo,
      log,
    ),
  );
  const commit = outputs.commit;
  if (commit?.storage !== 'ostree-commit') throw new Error('the aarch64 commit was not composed');
  return {
    repo: ostreeRepo,
    checksum: commit.checksum,
    metadata: { ...(commit.metadata ?? {}), ref: String(flat.treefile.ref) },
  };
}

/** Builds the aarch64 DiskImage of `commit` (1 GiB, the schema's other defaults). */
export async function buildArmDisk(commit: ArmCommit): Promise<BuiltDisk> {
  const log: string[] = [];
  const started = performance.now();
  const workDir = await makeTempDir('fcos-arm-disk-');
  const outputs = await RUNNERS.DiskImage.run(
    contextOf(
      'testing/aarch64/Disk',
      { ...DEFAULT_DISK_PROPS, arch: 'aarch64' } as unknown as Record<string, JsonValue>,
      {
        commit: {
          type: 'ostree-commit',
          digest: commit.checksum,
          storage: 'ostree-commit',
          path: commit.repo,
          metadata: commit.metadata,
        },
      },
      workDir,
      commit.repo,
      log,
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const output = fileOutput(outputs, 'disk');
  const metadata = output.metadata ?? {};
  const { digest } = await sha256File(output.path);
  return { path: output.path, digest, metadata, disk: diskMetadataSchema.parse(metadata), log, seconds };
}
