/**
 * Turning an installed root filesystem into an ostree-ready tree, the way rpm-ostree prepares a
 * compose before committing it: kernel and initramfs under /usr/lib/modules/KVER, /etc moved to
 * /usr/etc, /var emptied into tmpfiles.d entries, and the top-level directories that live in /var
 * made symlinks. The treefile's own edits of the root are in treefile-edits.ts.
 */
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RPM_DB_PATH } from '../tools/dnf.ts';
import { RootfsError } from './errors.ts';

/** Top-level directories that are symlinks into /var on an ostree system, with their tmpfiles modes. */
const VAR_LINKS: ReadonlyArray<{ readonly link: string; readonly target: string; readonly mode: string }> = [
  { link: 'home', target: 'var/home', mode: '0755' },
  { link: 'root', target: 'var/roothome', mode: '0700' },
  { link: 'opt', target: 'var/opt', mode: '0755' },
  { link: 'srv', target: 'var/srv', mode: '0755' },
  { link: 'mnt', target: 'var/mnt', mode: '0755' },
  { link: 'usr/local', target: '../var/usrlocal', mode: '0755' },
];

/** The /var directory a {@link VAR_LINKS} entry points to (`/var/roothome`). */
function varDirectoryOf(target: string): string {
  return `/var/${path.posix.basename(target)}`;
}

/** The kernel version of the root: the one directory under usr/lib/modules with a vmlinuz (or /boot's). */
export async function findKernelVersion(root: string): Promise<string> {
  const modules = path.join(root, 'usr/lib/modules');
  const versions = existsSync(modules) ? (await readdir(modules)).sort() : [];
  const withKernel = versions.filter(
    (version) =>
      existsSync(path.join(modules, version, 'vmlinuz')) ||
      existsSync(path.join(root, 'boot', `vmlinuz-${version}`)),
  );
  if (withKernel.length !== 1) {
    throw new RootfsError(
      withKernel.length === 0
        ? 'the composed root has no kernel (usr/lib/modules/KVER/vmlinuz): add a kernel package to the treefile'
        : `the composed root has ${withKernel.length} kernels (${withKernel.join(', ')}); exactly one is supported`,
      { field: 'packages' },
    );
  }
  return withKernel[0]!;
}

/** Moves /boot/vmlinuz-KVER (older kernel packages) beside its modules and empties /boot. */
export async function placeKernel(root: string, kernelVersion: string): Promise<void> {
  const target = path.join(root, 'usr/lib/modules', kernelVersion, 'vmlinuz');
  const legacy = path.join(root, 'boot', `vmlinuz-${kernelVersion}`);
  if (!existsSync(target) && existsSync(legacy)) await rename(legacy, target);
  await rm(path.join(root, 'boot'), { recursive: true, force: true });
  await mkdir(path.join(root, 'boot'));
}

/** Converts the root to the ostree layout, recording /var's contents as tmpfiles.d entries. */
export async function convertToOstreeLayout(root: string, log: (line: string) => void): Promise<void> {
  const etc = path.join(root, 'etc');
  const usrEtc = path.join(root, 'usr/etc');
  if (existsSync(etc)) {
    if (existsSync(usrEtc)) throw new RootfsError('the root has both /etc and /usr/etc');
    await rename(etc, usrEtc);
  }
  // No /etc at all: ostree admin deploy refuses a tree with both /etc and /usr/etc, even an empty one.
  for (const { link, target } of VAR_LINKS) {
    const source = path.join(root, link);
    const stats = await lstat(source).catch(() => undefined);
    if (stats?.isDirectory()) {
      const leftover = await readdir(source);
      if (leftover.length > 0)
        log(`note: /${link} had ${leftover.join(', ')}; it is a link into /var now, dropped`);
      await rm(source, { recursive: true, force: true });
    } else if (stats) {
      await rm(source, { force: true });
    }
    await mkdir(path.dirname(source), { recursive: true });
    await symlink(target, source);
  }
  const entries = await varEntries(root, log);
  for (const { target, mode } of VAR_LINKS) entries.push(`d ${varDirectoryOf(target)} ${mode} root root - -`);
  entries.push(`L /var/lib/rpm - - - - ../../${RPM_DB_PATH}`);
  const tmpfiles = path.join(root, 'usr/lib/tmpfiles.d');
  await mkdir(tmpfiles, { recursive: true });
  await writeFile(
    path.join(tmpfiles, 'fcos-cdk-autovar.conf'),
    `${[...new Set(entries)].sort().join('\n')}\n`,
  );
  await rm(path.join(root, 'var'), { recursive: true, force: true });
  await mkdir(path.join(root, 'var'));
  for (const directory of ['sysroot', 'tmp', 'run', 'proc', 'sys', 'dev']) {
    await mkdir(path.join(root, directory), { recursive: true });
  }
  await rm(path.join(root, 'ostree'), { recursive: true, force: true });
  await symlink('sysroot/ostree', path.join(root, 'ostree'));
}

/** tmpfiles.d lines recreating /var's directories and symlinks; files in /var are dropped with a note. */
async function varEntries(root: string, log: (line: string) => void): Promise<string[]> {
  const entries: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    for (const name of (await readdir(path.join(root, relative))).sort()) {
      const child = path.posix.join(relative, name);
      const stats = await lstat(path.join(root, child));
      if (stats.isDirectory()) {
        entries.push(
          `d /${child} ${(stats.mode & 0o7777).toString(8).padStart(4, '0')} ${stats.uid} ${stats.gid} - -`,
        );
        await walk(child);
      } else if (stats.isSymbolicLink()) {
        entries.push(`L /${child} - - - - ${await readlink(path.join(root, child))}`);
      } else {
        log(`note: /${child} is a file in /var; ostree systems start with an empty /var, dropped`);
      }
    }
  };
  if (existsSync(path.join(root, 'var'))) await walk('var');
  return entries;
}
