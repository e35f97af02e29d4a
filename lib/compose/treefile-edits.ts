/**
 * The treefile's edits of an installed root before it is committed, as rpm-ostree applies them:
 * ostree-layers copied over it, remove-from-packages, postprocess scripts run in a chroot,
 * remove-files, and mutate-os-release (the version written into os-release).
 */

import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RPM_DB_PATH } from '../tools/dnf.ts';
import type { ToolExec } from '../tools/tool-exec.ts';
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

/** `entry` (a path relative to / of the root) resolved inside `root`; escaping it is an error. */
function insideRoot(root: string, entry: string): string {
  const resolved = path.resolve(root, `.${path.posix.normalize(`/${entry}`)}`);
  if (resolved !== root && !resolved.startsWith(`${root}${path.sep}`)) {
    throw new RootfsError(`'${entry}' is outside the root`, { field: 'remove-files' });
  }
  return resolved;
}
