/**
 * The aarch64 tiny OS for the aarch64 tests, built for real once per test file on this amd64 host
 * (test/helpers/tiny-os.ts, its Debian files from the aarch64 foreign root), then DiskImage as the
 * executor calls it (test/helpers/disk-images.ts). The x86_64 fixtures of test/global-setup.ts are
 * not used: every input here is aarch64.
 */
import { type BuiltDisk, buildDiskOf } from './disk-images.ts';
import { makeTempDir } from './temp-project.ts';
import { buildTinyOs, type TinyOsCommit } from './tiny-os.ts';

/** The aarch64 commit of the tiny OS. */
export type ArmCommit = TinyOsCommit;

/** Builds the aarch64 package repository and composes the aarch64 commit from it. */
export async function composeArmCommit(log: string[]): Promise<ArmCommit> {
  const directory = await makeTempDir('fcos-arm-commit-');
  return (await buildTinyOs('aarch64', directory, (line) => log.push(line))).commit;
}

/** Builds the aarch64 DiskImage of `commit` (1 GiB, the schema's other defaults). */
export function buildArmDisk(commit: ArmCommit): Promise<BuiltDisk> {
  return buildDiskOf(commit, { arch: 'aarch64' });
}
