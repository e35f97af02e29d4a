/**
 * Free space of the filesystem a directory is on: a check before a node writes something big, and
 * the translation of a tool's "No space left on device" (which qemu-img, dd or mkfs report in
 * their own words, or not at all) into one {@link NoSpaceError} naming the mount point and sizes.
 * Not at all, measured: qemu-img 7.2 writing a streamOptimized VMDK onto a full ext4 fails with
 * `error while writing at byte N: Invalid argument`; so a failure that leaves the filesystem with
 * less than {@link NEARLY_FULL_BYTES} free counts as a full disk too, the tool's words kept.
 */
import { stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { NoSpaceError } from '../errors.ts';
import { CancelledError, ToolError } from '../exec.ts';

const MIB = 1024 * 1024;

/**
 * Free space under which a failed write is taken for a full filesystem whatever the tool said: a
 * write fails when its chunk (qemu-img writes up to a few MiB at once) no longer fits, so a full
 * filesystem is left with less than a chunk free.
 */
export const NEARLY_FULL_BYTES = 16 * MIB;

/** What a space check is about, for its message and error. */
export interface SpaceNeed {
  /** A directory on the filesystem that will be written (the node's work directory). */
  readonly directory: string;
  /** Bytes that will be written there, at most. */
  readonly neededBytes: number;
  /** What needs them, as a person reads it (`a 10 GiB disk`). */
  readonly what: string;
  /** Construct path of the node. */
  readonly constructPath?: string;
  /** The prop that sets the size (`sizeGiB`). */
  readonly field?: string;
}

/** Bytes as whole MiB, rounded up (a need) or down (what is free). */
function mib(bytes: number, round: (value: number) => number): string {
  return `${round(bytes / MIB)} MiB`;
}

/**
 * The mount point of the filesystem holding `target`: the highest ancestor on the same device.
 * (A bind mount of a directory of the same filesystem is not told apart: its device is the same.)
 */
export async function mountPointOf(target: string): Promise<string> {
  let current = path.resolve(target);
  const device = (await stat(current)).dev;
  while (current !== path.dirname(current)) {
    const parent = path.dirname(current);
    if ((await stat(parent)).dev !== device) break;
    current = parent;
  }
  return current;
}

/** Bytes an unprivileged writer can still allocate on the filesystem holding `directory`. */
export async function availableBytes(directory: string): Promise<number> {
  const stats = await statfs(directory);
  return stats.bavail * stats.bsize;
}

/**
 * The error for `need` on its filesystem, with the space free now; `toolWords` (a tool's own
 * message, when it did not say what failed) is quoted at the end.
 */
export async function noSpaceError(
  need: SpaceNeed,
  cause?: unknown,
  toolWords?: string,
): Promise<NoSpaceError> {
  const mountPoint = await mountPointOf(need.directory);
  const available = await availableBytes(need.directory);
  return new NoSpaceError(
    `no space left on ${mountPoint} (the filesystem of ${need.directory}): ${need.what} needs up to ${mib(need.neededBytes, Math.ceil)}, ${mib(available, Math.floor)} free; free some space or put the cache elsewhere${toolWords ? ` (the tool said: ${toolWords})` : ''}`,
    { mountPoint, neededBytes: need.neededBytes, availableBytes: available },
    {
      ...(need.constructPath === undefined ? {} : { constructPath: need.constructPath }),
      ...(need.field === undefined ? {} : { field: need.field }),
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

/** Throws a {@link NoSpaceError} unless the filesystem of `need.directory` has `need.neededBytes` free. */
export async function ensureFreeSpace(need: SpaceNeed): Promise<void> {
  if ((await availableBytes(need.directory)) < need.neededBytes) throw await noSpaceError(need);
}

/**
 * Whether `error`, or an error it wraps (`cause`: a runner's own error about a failed tool), is a
 * write that failed for want of space: ENOSPC, or a tool saying so.
 */
export function isNoSpaceFailure(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; depth++) {
    if ((current as NodeJS.ErrnoException).code === 'ENOSPC') return true;
    if (current instanceof ToolError && /No space left on device|ENOSPC/i.test(current.message)) return true;
    current = current.cause;
  }
  return false;
}

/** The last line of the message of `error` (a tool's own words are the last of a ToolError's). */
function lastMessageLine(error: unknown): string {
  const lines = String(error instanceof Error ? error.message : error)
    .split('\n')
    .filter((line) => line.trim() !== '');
  return lines.at(-1)?.trim() ?? '';
}

/**
 * Runs `work`, turning a failure for want of space into a {@link NoSpaceError} about `need`:
 * whatever tool hit the full disk, the message names the filesystem and the sizes. A failure
 * that does not say so but leaves less than {@link NEARLY_FULL_BYTES} free on the filesystem is
 * one too; its own words end the message. A cancelled run is never turned into one.
 */
export async function translatingNoSpace<T>(need: SpaceNeed, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isNoSpaceFailure(error)) throw await noSpaceError(need, error);
    if (error instanceof CancelledError) throw error;
    const available = await availableBytes(need.directory).catch(() => undefined);
    if (available !== undefined && available < NEARLY_FULL_BYTES) {
      throw await noSpaceError(need, error, lastMessageLine(error));
    }
    throw error;
  }
}
