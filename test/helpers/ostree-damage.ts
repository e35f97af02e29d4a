/**
 * Damaging an archive ostree repository the way a disk does, for the verification tests: a
 * private copy of the tiny OS commit's repository (the shared fixture stays intact), the object
 * behind a path of a commit, and bytes flipped in place.
 */
import { cp, open } from 'node:fs/promises';
import path from 'node:path';
import { inject } from 'vitest';
import { runTool, type ToolExec } from '../../lib/exec.ts';
import { objectFile } from '../../lib/tools/ostree-fsck.ts';

/** Runs a tool for a test (no log, no cancellation). */
export const exec: ToolExec = (file, args, options) => runTool(file, args, options);

/** Copies the tiny OS commit's repository to `destination` (real copies: damaging them leaves the fixture alone). */
export async function copyTinyRepository(destination: string): Promise<string> {
  await cp(inject('tinyCommit').repo, destination, { recursive: true });
  return destination;
}

/** The content object of `file` in `commit` (`ostree ls -C`). */
export async function contentObjectOf(repo: string, commit: string, file: string): Promise<string> {
  const { stdout } = await exec('ostree', [`--repo=${repo}`, 'ls', '-C', commit, file]);
  const checksum = /\s([0-9a-f]{64})\s/.exec(stdout)?.[1];
  if (!checksum) throw new Error(`no checksum for ${file} in '${stdout}'`);
  return checksum;
}

/** The file of the content object of `file` in `commit`. */
export async function contentObjectFile(repo: string, commit: string, file: string): Promise<string> {
  return objectFile(repo, await contentObjectOf(repo, commit, file), 'file');
}

/** Flips one byte of `file` in place (same inode, size; as bit rot does), at `fraction` of its length. */
export async function flipByte(file: string, fraction = 0.5): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const { size } = await handle.stat();
    const position = Math.min(size - 1, Math.floor(size * fraction));
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, position);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, position);
  } finally {
    await handle.close();
  }
}

/** `ostree fsck` of the whole repository, as a person would run it: its exit code and messages. */
export async function plainFsck(repo: string): Promise<{ exitCode: number; stderr: string }> {
  const result = await exec('ostree', ['fsck', `--repo=${repo}`], { okExitCodes: [0, 1] });
  return { exitCode: result.exitCode, stderr: result.stderr };
}

/** Files directly under `repo`'s `directory` (tmp, state ...). */
export async function entriesOf(repo: string, directory: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(path.join(repo, directory))).sort();
}
