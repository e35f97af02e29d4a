/**
 * The aarch64 tiny OS for the aarch64 tests, built for real once per test file on this amd64 host
 * (test/helpers/tiny-os.ts, its Debian files from the aarch64 foreign root), then DiskImage as the
 * executor calls it. The x86_64 fixtures of test/global-setup.ts are not used: every input here is
 * aarch64.
 */
import { sha256File } from '../../lib/cache/hash.ts';
import type { RunnerOutput } from '../../lib/runner.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import { diskMetadataSchema } from '../../stages/disk-image/runner.ts';
import { type BuiltDisk, DEFAULT_DISK_PROPS } from './disk-images.ts';
import { RUNNERS } from './runners.ts';
import { makeTempDir } from './temp-project.ts';
import { buildTinyOs, runnerContext, type TinyOsCommit } from './tiny-os.ts';

/** The aarch64 commit of the tiny OS. */
export type ArmCommit = TinyOsCommit;

/** The file output `name` of a runner's outputs, or an error. */
function fileOutput(outputs: Record<string, RunnerOutput>, name: string): RunnerOutput & { storage: 'file' } {
  const output = outputs[name];
  if (output?.storage !== 'file') throw new Error(`the runner returned no ${name} file`);
  return output;
}

/** Builds the aarch64 package repository and composes the aarch64 commit from it. */
export async function composeArmCommit(log: string[]): Promise<ArmCommit> {
  const directory = await makeTempDir('fcos-arm-commit-');
  return (await buildTinyOs('aarch64', directory, (line) => log.push(line))).commit;
}

/** Builds the aarch64 DiskImage of `commit` (1 GiB, the schema's other defaults). */
export async function buildArmDisk(commit: ArmCommit): Promise<BuiltDisk> {
  const log: string[] = [];
  const started = performance.now();
  const workDir = await makeTempDir('fcos-arm-disk-');
  const outputs = await RUNNERS.DiskImage.run(
    runnerContext(
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
      (line) => log.push(line),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const output = fileOutput(outputs, 'disk');
  const metadata = output.metadata ?? {};
  const { digest } = await sha256File(output.path);
  return { path: output.path, digest, metadata, disk: diskMetadataSchema.parse(metadata), log, seconds };
}
