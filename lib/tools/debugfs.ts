/**
 * debugfs: reading and editing an ext4 filesystem inside a disk image without mounting it
 * (`disk.raw?offset=BYTES` selects the partition). Quirks handled here (e2fsprogs 1.47.0): debugfs
 * exits 0 even when a command fails and reports the failure on stderr after its version banner, so
 * stderr is checked; paths are parsed like a shell word list, so they are double-quoted with
 * embedded quotes doubled; the superblock's write time and the times of inodes that `write` makes
 * come from the clock unless `set_current_time` is given first;
 * `sif PATH` follows a symlink at the end of PATH, so a symlink's own inode is named by number
 * (`<INO>`), found with `ls -p` of its directory.
 */
import { writeFile } from 'node:fs/promises';
import { FcosError } from '../errors.ts';
import type { ToolExec } from '../exec.ts';

/** A debugfs command failed. */
export class DebugfsError extends FcosError {}

/** The device argument for the filesystem at byte `offset` of `file`. */
export function filesystemSpec(file: string, offset: number): string {
  return offset === 0 ? file : `${file}?offset=${offset}`;
}

/** `value` as one debugfs argument. */
export function quoteArgument(value: string): string {
  if (/[\n\r]/.test(value)) throw new DebugfsError(`debugfs cannot name a path with a line break: ${value}`);
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `"${value.replace(/"/g, '""')}"`;
}

/** The lines of debugfs's stderr that report errors (everything but the version banner). */
function errorLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^debugfs \d/.test(line));
}

/** Reads the file at `filePath` of the ext4 filesystem `spec` (see {@link filesystemSpec}). */
export async function readExt4File(exec: ToolExec, spec: string, filePath: string): Promise<string> {
  const result = await exec('debugfs', ['-R', `cat ${quoteArgument(filePath)}`, spec], { quietStdout: true });
  const errors = errorLines(result.stderr);
  if (errors.length > 0) throw new DebugfsError(`debugfs could not read ${filePath}: ${errors.join('; ')}`);
  return result.stdout;
}

/**
 * Runs `commands` against `spec` with write access, from a command file, with debugfs's clock set
 * to `timestamp` (the superblock's write time and new inodes' times); throws if any failed.
 */
export async function runDebugfsBatch(
  exec: ToolExec,
  spec: string,
  commands: readonly string[],
  options: { readonly commandFile: string; readonly timestamp: number },
): Promise<void> {
  if (commands.length === 0) return;
  await writeFile(
    options.commandFile,
    `${[`set_current_time @${options.timestamp}`, ...commands].join('\n')}\n`,
  );
  const result = await exec('debugfs', ['-w', '-f', options.commandFile, spec], { quietStdout: true });
  const errors = errorLines(result.stderr);
  if (errors.length > 0)
    throw new DebugfsError(
      `debugfs failed on ${spec}: ${errors.slice(0, 5).join('; ')}${errors.length > 5 ? ` (and ${errors.length - 5} more)` : ''}`,
    );
}

/**
 * Inode numbers of the entries of `directories` (absolute paths in the filesystem), by directory
 * and then name, from one read-only debugfs run of `ls -p` commands.
 */
export async function listDirectoryInodes(
  exec: ToolExec,
  spec: string,
  directories: readonly string[],
  commandFile: string,
): Promise<Map<string, Map<string, number>>> {
  const listing = new Map<string, Map<string, number>>();
  if (directories.length === 0) return listing;
  await writeFile(
    commandFile,
    `${directories.map((directory) => `ls -p ${quoteArgument(directory)}`).join('\n')}\n`,
  );
  const result = await exec('debugfs', ['-f', commandFile, spec], { quietStdout: true });
  const errors = errorLines(result.stderr);
  if (errors.length > 0)
    throw new DebugfsError(`debugfs could not list ${spec}: ${errors.slice(0, 5).join('; ')}`);
  let index = -1;
  let current: Map<string, number> | undefined;
  for (const line of result.stdout.split('\n')) {
    if (line.startsWith('debugfs: ')) {
      current = new Map();
      listing.set(directories[++index]!, current);
      continue;
    }
    const entry = /^\/(\d+)\/\d+\/\d+\/\d+\/(.*)\/\d*\/$/.exec(line);
    if (entry && current) current.set(entry[2]!, Number(entry[1]));
  }
  return listing;
}

/** Commands setting the access, change, modification and creation times of `target` to `timestamp`. */
export function setTimesCommands(
  target: string,
  timestamp: number,
  fields: readonly string[] = ['atime', 'ctime', 'mtime', 'crtime'],
): string[] {
  const quoted = quoteArgument(target);
  return fields.map((field) => `sif ${quoted} ${field} ${timestamp}`);
}

/**
 * Commands replacing the file `target` with the host file `source` (same mode, owner root), its
 * times set to `timestamp`. `source` must be a path without whitespace.
 */
export function replaceFileCommands(source: string, target: string, timestamp: number): string[] {
  const quoted = quoteArgument(target);
  return [`rm ${quoted}`, `write ${quoteArgument(source)} ${quoted}`, ...setTimesCommands(target, timestamp)];
}
