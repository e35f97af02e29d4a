/**
 * The dnf driver: dnf --installroot into a plain directory, the content's snapshot time (the
 * newest build time in its rpm database) that dates the version, the treefile's edits, an initramfs,
 * the ostree layout, `check-passwd`/`check-groups`, and `ostree commit` into the cache's
 * repository. Portable: it is what runs where rpm-ostree cannot be installed (Debian hosts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
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
import type { ToolExec } from '../../lib/exec.ts';
import { installPackages, RPM_DB_PATH } from '../../lib/tools/dnf.ts';
import { commitTree, ensureArchiveRepository } from '../../lib/tools/ostree.ts';
import { installedPackages } from '../../lib/tools/rpm.ts';
import { buildInitramfs, TINY_DRACUT_PATH } from '../../lib/tools/tiny-dracut.ts';
import type { Lockfile } from '../../lib/treefile/lockfile.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import { type ComposeDriver, clockBeforeSnapshot, readSnapshotTime } from './driver.ts';

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

/** Builds the initramfs of `kernelVersion` inside the root: the tiny OS's tiny-dracut, else dracut. */
async function makeInitramfs(exec: ToolExec, root: string, kernelVersion: string, timestamp: number) {
  const initramfs = path.join(root, 'usr/lib/modules', kernelVersion, 'initramfs.img');
  if (existsSync(path.join(root, TINY_DRACUT_PATH))) {
    await buildInitramfs(exec, { root, kernelVersion, output: initramfs, sourceDateEpoch: timestamp });
    return;
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
  const scripts = [...treefile.postprocess];
  if (input.postprocessScript !== undefined) scripts.push(input.postprocessScript);
  await runPostprocess(exec, root, scripts);
  const kernelVersion = await findKernelVersion(root);
  await placeKernel(root, kernelVersion);
  await makeInitramfs(exec, root, kernelVersion, snapshotTime);
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
