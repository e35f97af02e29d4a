/**
 * The treefile's edits of an installed root before it is committed, as rpm-ostree applies them:
 * ostree-layers copied over it, remove-from-packages, postprocess scripts run in a chroot,
 * remove-files, mutate-os-release (the version written into os-release) and add-files.
 */

import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ToolExec } from '../exec.ts';
import { RPM_DB_PATH } from '../tools/dnf.ts';
import { RootfsError } from './errors.ts';

/** Deletes `remove-files` entries (paths relative to /). */
export async function removeFiles(root: string, paths: readonly string[]): Promise<void> {
  for (const entry of paths) await rm(insideRoot(root, entry), { recursive: true, force: true });
}

/** Deletes the files of each package matching any of its regular expressions (`remove-from-packages`). */
export async function removeFromPackages(
  exec: ToolExec,
  root: string,
  rules: ReadonlyArray<readonly string[]>,
): Promise<void> {
  for (const [name, ...patterns] of rules) {
    const listed = await exec('rpm', ['--root', root, '--dbpath', `/${RPM_DB_PATH}`, '-ql', name!], {
      quietStdout: true,
    });
    const expressions = patterns.map((pattern) => new RegExp(pattern));
    for (const file of listed.stdout.split('\n').filter((line) => line.startsWith('/'))) {
      if (expressions.some((expression) => expression.test(file))) {
        await rm(insideRoot(root, file), { recursive: true, force: true });
      }
    }
  }
}

/** Replaces `placeholder` by `version` in os-release and adds OSTREE_VERSION (`mutate-os-release`). */
export async function mutateOsRelease(root: string, placeholder: string, version: string): Promise<void> {
  const file = path.join(root, 'usr/lib/os-release');
  if (!existsSync(file))
    throw new RootfsError('mutate-os-release: the root has no usr/lib/os-release', {
      field: 'mutate-os-release',
    });
  const lines = (await readFile(file, 'utf8'))
    .split('\n')
    .filter((line) => !line.startsWith('OSTREE_VERSION='));
  const mutated = lines.map((line) =>
    /^(VERSION|PRETTY_NAME)=/.test(line) ? line.split(placeholder).join(version) : line,
  );
  while (mutated.at(-1) === '') mutated.pop();
  mutated.push(`OSTREE_VERSION='${version}'`);
  await writeFile(file, `${mutated.join('\n')}\n`);
}

/** Runs each postprocess script inside the root (chroot), stopping at the first failure. */
export async function runPostprocess(
  exec: ToolExec,
  root: string,
  scripts: readonly string[],
): Promise<void> {
  for (const [index, script] of scripts.entries()) {
    const relative = `tmp/fcos-cdk-postprocess-${index}`;
    const file = path.join(root, relative);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, script.startsWith('#!') ? script : `#!/bin/sh\nset -e\n${script}`);
    await chmod(file, 0o755);
    try {
      await exec('chroot', [root, `/${relative}`], {
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' },
      });
    } catch (error) {
      throw new RootfsError(`postprocess script ${index + 1} failed: ${(error as Error).message}`, {
        field: 'postprocess',
        cause: error,
      });
    } finally {
      await rm(file, { force: true });
    }
  }
}

/** Copies each ostree layer directory over the root (`ostree-layers`). */
export async function applyLayers(exec: ToolExec, root: string, layers: readonly string[]): Promise<void> {
  for (const layer of layers) await exec('cp', ['-a', '--no-preserve=ownership', `${layer}/.`, `${root}/`]);
}

/** One file to add: its source, its destination in the tree and its permission bits. */
export interface FileToAdd {
  /** The source file. */
  readonly source: string;
  /** The destination, absolute in the tree (`/usr/share/x`, `/etc/x`). */
  readonly destination: string;
  /** The permission bits it gets. */
  readonly mode: number;
}

/**
 * Copies each file into the root at its destination (`add-files`), as rpm-ostree's
 * `compose_postprocess_add_files`: missing parents made 0755, the file replaced whole (a
 * temporary file renamed over it) with the source's permission bits, owned by the composing
 * user (root). Call it while /etc is still /etc: rpm-ostree writes /etc/x there too.
 */
export async function addFiles(root: string, files: readonly FileToAdd[]): Promise<void> {
  for (const [index, file] of files.entries()) {
    const relative = file.destination.replace(/^\/+/, '');
    if (relative === '')
      throw new RootfsError(`Invalid add-files destination: ${file.destination}`, {
        field: `add-files.${index}`,
      });
    const target = insideRoot(root, relative, `add-files.${index}`);
    await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
    const temporary = `${target}.fcos-cdk-add-files`;
    await copyFile(file.source, temporary);
    await chmod(temporary, file.mode);
    await rename(temporary, target);
  }
}

/** `entry` (a path relative to / of the root) resolved inside `root`; escaping it is an error about `field`. */
function insideRoot(root: string, entry: string, field = 'remove-files'): string {
  const resolved = path.resolve(root, `.${path.posix.normalize(`/${entry}`)}`);
  if (resolved !== root && !resolved.startsWith(`${root}${path.sep}`)) {
    throw new RootfsError(`'${entry}' is outside the root`, { field });
  }
  return resolved;
}
