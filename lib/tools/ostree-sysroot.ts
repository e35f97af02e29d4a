/**
 * ostree admin: an ostree sysroot deployed into a plain directory, as coreos-assembler does inside
 * its disk (init-fs --modern, os-init, pull-local, deploy with the image's kernel arguments).
 * Quirks handled here (ostree 2022.7): without `sysroot.bootloader none` deploy runs grub-mkconfig;
 * a tree holding both /etc and /usr/etc is refused; the deployment directory is made immutable
 * (cleared here, so it can be deleted); the BLS entry lands in `boot/loader.1/entries/` with
 * `/ostree/...` paths, right for a separate boot partition.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { FcosError } from '../errors.ts';
import type { ToolExec } from '../exec.ts';

/** The deployment failed or left something unexpected. */
export class SysrootError extends FcosError {}

/** Options of {@link deploySysroot}. */
export interface DeploySysrootOptions {
  /** The directory to make the sysroot in (created if needed; empty). */
  readonly sysroot: string;
  /** The repository holding the commit (the cache's archive repo). */
  readonly sourceRepo: string;
  /** The commit checksum. */
  readonly checksum: string;
  /** Ref created for the commit in the sysroot's repo and deployed (the deployment's origin); none: the checksum is deployed. */
  readonly ref?: string | undefined;
  /** Stateroot (os name). */
  readonly osName: string;
  /** Kernel arguments of the BLS entry, in order (`$ignition_firstboot` is left for GRUB to expand). */
  readonly kernelArguments: readonly string[];
}

/** What a deployment produced. */
export interface Deployment {
  /** The deployment directory, relative to the sysroot (`ostree/deploy/OS/deploy/CHECKSUM.0`). */
  readonly deploymentPath: string;
  /** The BLS entry files, relative to the sysroot's `boot/` (`loader.1/entries/ostree-1-OS.conf`). */
  readonly blsEntries: readonly string[];
}

/** Initializes a sysroot in a directory and deploys `checksum` from `sourceRepo` into it. */
export async function deploySysroot(exec: ToolExec, options: DeploySysrootOptions): Promise<Deployment> {
  const { sysroot, osName } = options;
  const repo = path.join(sysroot, 'ostree/repo');
  await exec('ostree', ['admin', 'init-fs', '--modern', sysroot]);
  await exec('ostree', ['config', `--repo=${repo}`, 'set', 'sysroot.bootloader', 'none']);
  await exec('ostree', ['config', `--repo=${repo}`, 'set', 'sysroot.readonly', 'true']);
  await exec('ostree', [`--repo=${repo}`, 'pull-local', options.sourceRepo, options.checksum]);
  if (options.ref)
    await exec('ostree', [`--repo=${repo}`, 'refs', `--create=${options.ref}`, options.checksum]);
  await exec('ostree', ['admin', 'os-init', osName, `--sysroot=${sysroot}`]);
  await exec('ostree', [
    'admin',
    'deploy',
    `--sysroot=${sysroot}`,
    `--os=${osName}`,
    '--karg-none',
    ...options.kernelArguments.map((karg) => `--karg-append=${karg}`),
    options.ref ?? options.checksum,
  ]);
  const deploymentPath = `ostree/deploy/${osName}/deploy/${options.checksum}.0`;
  // ostree made it immutable; mkfs.ext4 -d does not copy the flag, and the directory must stay removable.
  await exec('chattr', ['-i', path.join(sysroot, deploymentPath)]);
  const entriesDirectory = path.join(sysroot, 'boot/loader.1/entries');
  const entries = (await readdir(entriesDirectory).catch(() => [] as string[]))
    .filter((name) => name.endsWith('.conf'))
    .sort();
  if (entries.length === 0)
    throw new SysrootError(`ostree admin deploy wrote no BLS entry in ${entriesDirectory}`);
  return { deploymentPath, blsEntries: entries.map((name) => `loader.1/entries/${name}`) };
}

/** The commit time of `checksum` in `repo`, in seconds since the epoch (from `ostree show`). */
export async function commitTimestamp(exec: ToolExec, repo: string, checksum: string): Promise<number> {
  const { stdout } = await exec('ostree', [`--repo=${repo}`, 'show', checksum]);
  const match = /^Date:\s+(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) ([+-]\d\d)(\d\d)$/m.exec(stdout);
  if (!match) throw new SysrootError(`ostree show ${checksum} printed no Date line`);
  const seconds = Date.parse(`${match[1]}T${match[2]}${match[3]}:${match[4]}`) / 1000;
  if (!Number.isFinite(seconds)) throw new SysrootError(`cannot read the date of commit ${checksum}`);
  return seconds;
}
