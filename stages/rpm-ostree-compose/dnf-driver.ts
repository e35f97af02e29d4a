/**
 * The dnf driver: dnf --installroot into a plain directory, the content's snapshot time (the
 * newest build time in its rpm database) that dates the version, the treefile's edits, an initramfs,
 * the ostree layout, `check-passwd`/`check-groups`, and `ostree commit` into the cache's
 * repository. Portable: it is what runs where rpm-ostree cannot be installed (Debian hosts).
 *
 * Another arch than the host's (the treefile's `basearch`, aarch64 on an x86_64 host): dnf installs
 * with `--forcearch`, and the files of the foreign RPMs are unpacked as they are. Their scriptlets
 * are run by rpm in the root, which works only if the host executes that arch (a qemu-user binfmt
 * entry, `update-binfmts --enable qemu-aarch64`); without one, rpm reports each scriptlet's "Exec
 * format error" as a warning and goes on, the scriptlet's work not done. The local tiny OS's
 * packages have no scriptlets, so binfmt is not required for it. The treefile's postprocess
 * scripts and a dracut initramfs run in a chroot and cannot be skipped: for a foreign arch they need
 * binfmt, and without it the compose fails before installing anything ({@link ForeignArchError});
 * tiny-dracut runs on the host (readelf, no chroot) and needs none.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Arch, archSchema } from '../../lib/artifacts.ts';
import { convertToOstreeLayout, findKernelVersion, placeKernel } from '../../lib/compose/ostree-layout.ts';
import { validatePasswdAndGroups } from '../../lib/compose/passwd-validation.ts';
import {
  addFiles,
  applyLayers,
  mutateOsRelease,
  removeFiles,
  removeFromPackages,
  runPostprocess,
} from '../../lib/compose/treefile-edits.ts';
import { FcosError } from '../../lib/errors.ts';
import type { ToolExec } from '../../lib/exec.ts';
import { installPackages, RPM_DB_PATH } from '../../lib/tools/dnf.ts';
import { canExecuteArch, hostArch, isForeignArch } from '../../lib/tools/foreign-root.ts';
import { commitTree, ensureArchiveRepository } from '../../lib/tools/ostree.ts';
import { installedPackages } from '../../lib/tools/rpm.ts';
import { buildInitramfs, TINY_DRACUT_PATH } from '../../lib/tools/tiny-dracut.ts';
import type { Lockfile } from '../../lib/treefile/lockfile.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import { type ComposeDriver, clockBeforeSnapshot, readSnapshotTime } from './driver.ts';

/** The compose needs to run another arch's programs, and this host cannot execute that arch. */
export class ForeignArchError extends FcosError {}

/**
 * The treefile's arch when it is another than the host's (dnf's `--forcearch`), else undefined.
 * A foreign arch with `scripts` postprocess scripts needs the host to execute it (binfmt_misc in
 * `binfmtDirectory`): else a {@link ForeignArchError} naming the construct and `postprocess`.
 */
export function checkForeignArch(
  treefile: Readonly<Record<string, unknown>>,
  scripts: number,
  constructPath: string,
  binfmtDirectory?: string,
): Arch | undefined {
  const parsed = archSchema.safeParse(treefile.basearch);
  if (!parsed.success || !isForeignArch(parsed.data)) return undefined;
  const arch = parsed.data;
  if (scripts > 0 && !canExecuteArch(arch, binfmtDirectory)) {
    throw new ForeignArchError(
      `the treefile is for ${arch} and has ${scripts} postprocess script${scripts === 1 ? '' : 's'}, which run in a chroot of the ${arch} root: this ${hostArch() ?? process.arch} host cannot execute ${arch} programs (install qemu-user-static and binfmt-support, then update-binfmts --enable qemu-${arch}), or drop the postprocess scripts`,
      { constructPath, field: 'postprocess' },
    );
  }
  return arch;
}

/** dnf install specs: locked packages at their exact version, the others by name. */
function installSpecs(packages: readonly string[], lockfile: Lockfile | undefined): string[] {
  const locked = lockfile?.packages ?? {};
  const specs = new Set<string>();
  for (const [name, lock] of Object.entries(locked)) {
    const version = lock.evra ?? lock.evr;
    if (version) specs.add(`${name}-${version.replace(/^0:/, '')}`);
  }
  for (const name of packages) if (!(name in locked)) specs.add(name);
  return [...specs].sort();
}

/**
 * Builds the initramfs of `kernelVersion` inside the root: the tiny OS's tiny-dracut (on the host,
 * any arch), else dracut in a chroot (which a foreign `arch` allows only with binfmt).
 */
async function makeInitramfs(
  exec: ToolExec,
  root: string,
  kernelVersion: string,
  timestamp: number,
  arch: Arch | undefined,
  constructPath: string,
) {
  const initramfs = path.join(root, 'usr/lib/modules', kernelVersion, 'initramfs.img');
  if (existsSync(path.join(root, TINY_DRACUT_PATH))) {
    await buildInitramfs(exec, { root, kernelVersion, output: initramfs, sourceDateEpoch: timestamp });
    return;
  }
  if (arch !== undefined && !canExecuteArch(arch)) {
    throw new ForeignArchError(
      `the ${arch} root has no tiny-dracut, and dracut would run in a chroot of it: this host cannot execute ${arch} programs (install qemu-user-static and binfmt-support, then update-binfmts --enable qemu-${arch})`,
      { constructPath, field: 'packages' },
    );
  }
  await exec(
    'chroot',
    [
      root,
      'dracut',
      '--no-hostonly',
      '--reproducible',
      '--force',
      '--kver',
      kernelVersion,
      `/usr/lib/modules/${kernelVersion}/initramfs.img`,
    ],
    { env: { SOURCE_DATE_EPOCH: String(timestamp) } },
  );
}

/** The commit's metadata: `version` and the string entries of add-commit-metadata, the rest as variants. */
function splitCommitMetadata(version: string, added: Readonly<Record<string, unknown>>) {
  const strings: Record<string, string> = { version };
  const variants: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(added)) {
    if (typeof value === 'string') strings[key] = value;
    else variants[key] = value as JsonValue;
  }
  return { strings, variants };
}

/**
 * Treefile keys this driver acts on, or that need no action at compose time (`basearch`,
 * `variables`, `edition` are spent by flattening; `metadata` and `rojig` are informational;
 * `container-cmd` only matters to container encapsulation). Any other key the Manifest accepted
 * is one rpm-ostree would act on and this driver does not: it is named in one warning.
 */
const DNF_DRIVER_KEYS: ReadonlySet<string> = new Set([
  'ref',
  'releasever',
  'packages',
  'exclude-packages',
  'repos',
  'lockfile-repos',
  'postprocess',
  'postprocess-script',
  'remove-files',
  'remove-from-packages',
  'add-commit-metadata',
  'automatic-version-prefix',
  'mutate-os-release',
  'ostree-layers',
  'add-files',
  'check-passwd',
  'check-groups',
  'ignore-removed-users',
  'ignore-removed-groups',
  'basearch',
  'variables',
  'edition',
  'metadata',
  'rojig',
  'container-cmd',
]);

/** The keys of `treefile` the dnf driver does not act on, sorted. */
export function keysIgnoredByDnfDriver(treefile: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(treefile)
    .filter((key) => !DNF_DRIVER_KEYS.has(key))
    .sort();
}

/**
 * Composes with dnf --installroot and ostree commit; the version and the commit are dated from the
 * installed packages' newest build time (or the `timestamp` prop).
 */
export const composeWithDnf: ComposeDriver = async (context, { input, repositories, versionAt }) => {
  const { exec, workDir, props } = context;
  const { treefile } = input;
  const ignored = keysIgnoredByDnfDriver(treefile);
  if (ignored.length > 0) {
    context.log(`warning: the dnf driver does not act on ${ignored.join(', ')} (rpm-ostree would)`);
  }
  const scripts = [...treefile.postprocess];
  if (input.postprocessScript !== undefined) scripts.push(input.postprocessScript);
  const arch = checkForeignArch(treefile, scripts.length, context.nodePath);
  const root = path.join(workDir, 'rootfs');
  await installPackages(exec, {
    installRoot: root,
    stateDir: path.join(workDir, 'dnf'),
    repositories,
    packages: installSpecs(treefile.packages, input.lockfile),
    exclude: treefile['exclude-packages'],
    releaseVersion: String(treefile.releasever ?? '0'),
    sourceDateEpoch: clockBeforeSnapshot(props),
    // The compose input records treefile.json only, not the Manifest's source file: the ref names it.
    origin: `treefile ${treefile.ref}`,
    constructPath: context.nodePath,
    ...(arch === undefined ? {} : { forceArch: arch }),
  });
  const packages = await installedPackages(exec, root);
  const snapshotTime = await readSnapshotTime(context, root, `/${RPM_DB_PATH}`);
  const version = versionAt(snapshotTime);
  await applyLayers(
    exec,
    root,
    input.layers.map((layer) => layer.directory),
  );
  await removeFromPackages(exec, root, treefile['remove-from-packages']);
  // rpm-ostree's compose_postprocess order: mutate-os-release, remove-files, add-files, then the
  // postprocess scripts, which see the files added and not the ones removed.
  if (treefile['mutate-os-release']) await mutateOsRelease(root, treefile['mutate-os-release'], version);
  await removeFiles(root, treefile['remove-files']);
  await addFiles(
    root,
    input.addFiles.map((file) => ({ source: file.file, destination: file.destination, mode: file.mode })),
  );
  await runPostprocess(exec, root, scripts);
  const kernelVersion = await findKernelVersion(root);
  await placeKernel(root, kernelVersion);
  await makeInitramfs(exec, root, kernelVersion, snapshotTime, arch, context.nodePath);
  await convertToOstreeLayout(root, context.log);
  // Last before the commit, as rpm-ostree's impl_commit_tree; the previous commit is the ref's
  // in the cache's repository, not yet moved.
  await validatePasswdAndGroups({
    exec,
    root,
    treefile,
    inputDirectory: input.directory,
    ostreeRepo: context.ostreeRepo,
    constructPath: context.nodePath,
    log: context.log,
  });
  await ensureArchiveRepository(exec, context.ostreeRepo);
  const metadata = splitCommitMetadata(version, treefile['add-commit-metadata']);
  const checksum = await commitTree(exec, {
    repo: context.ostreeRepo,
    tree: root,
    ref: treefile.ref,
    timestamp: snapshotTime,
    subject: `${treefile.ref} ${version}`,
    metadata: metadata.strings,
    variantMetadata: metadata.variants,
  });
  return { checksum, version, snapshotTime, packages, metadata: { kernelVersion } };
};
