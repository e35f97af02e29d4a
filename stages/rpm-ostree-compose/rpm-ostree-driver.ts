/**
 * The rpm-ostree driver: `rpm-ostree compose tree --unified-core` on a writable copy of the
 * compose input, with the repositories as a .repo file beside the treefile, each ostree layer
 * committed to its ref first, and the version given explicitly so that rpm-ostree does not derive
 * one from the commits already in the repository, nor its `<date:...>` from the clock.
 *
 * The version is dated from the content's snapshot, the newest build time of the packages, which
 * only the installed root tells. rpm-ostree applies `mutate-os-release` while it installs, with
 * the version known before (`compose install` takes no `--add-metadata-string`, and expands
 * `<date:...>` from the clock), so the split flow (install, read the date, commit) would write a
 * wrong os-release. Without a `timestamp` prop the packages are therefore installed twice:
 * `compose install` into a scratch root to read its rpm database, then `compose tree` with the
 * version and SOURCE_DATE_EPOCH from that date, the packages already in the cache directory.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ComposeError } from '../../lib/compose/errors.ts';
import type { RunnerContext } from '../../lib/runner.ts';
import { repoFile } from '../../lib/tools/dnf.ts';
import { commitTree, ensureArchiveRepository } from '../../lib/tools/ostree.ts';
import type { PackageIdentity } from '../../lib/tools/rpm.ts';
import {
  type ComposeDriver,
  type ComposeRunnerProps,
  clockBeforeSnapshot,
  readSnapshotTime,
} from './driver.ts';

/** What rpm-ostree writes with --write-composejson-to, as far as the compose uses it. */
const composeJsonSchema = z.looseObject({
  'ostree-commit': z.string().min(1, 'no commit'),
  'ostree-version': z.string().optional(),
  /** (name, epoch, version, release, arch), as in the commit's `rpmdb.pkglist`. */
  packages: z.array(z.tuple([z.string(), z.string(), z.string(), z.string(), z.string()])).default([]),
});

/** The compose JSON rpm-ostree wrote; a malformed one names the node. */
async function readComposeJson(file: string, constructPath: string) {
  const parsed = composeJsonSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ComposeError(`rpm-ostree's compose JSON: ${issue?.path.join('.')}: ${issue?.message}`, {
      constructPath,
    });
  }
  return parsed.data;
}

/** A package of the compose JSON as the package list records it. */
function packageIdentity([name, epoch, version, release, arch]: readonly string[]): PackageIdentity {
  return { name: name!, epoch: Number(epoch) || 0, version: version!, release: release!, arch: arch! };
}

/**
 * Where `rpm-ostree compose install` leaves the rpm database in its root: rpm-ostree's
 * RPMOSTREE_RPMDB_LOCATION (usr/lib/sysimage/rpm is a link to it), else the standard place.
 */
const INSTALLED_DATABASE_PATHS = ['usr/share/rpm', 'usr/lib/sysimage/rpm'] as const;

/**
 * The content's snapshot of the compose: `compose install` of the treefile into a scratch root
 * (its packages downloaded into `cacheDir`, where `compose tree` finds them), its rpm database
 * read, the root removed. The `timestamp` prop, when given, is the date without installing.
 */
async function snapshotTimeOfInstall(
  context: RunnerContext<ComposeRunnerProps>,
  treefileFile: string,
  lockfileArguments: readonly string[],
  cacheDir: string,
): Promise<number> {
  if (context.props.timestamp !== undefined) return context.props.timestamp;
  // compose install renames its work directory to this path: it must not exist yet.
  const installDir = path.join(context.workDir, 'snapshot-install');
  await context.exec(
    'rpm-ostree',
    [
      'compose',
      'install',
      '--unified-core',
      `--repo=${context.ostreeRepo}`,
      `--cachedir=${cacheDir}`,
      ...lockfileArguments,
      treefileFile,
      installDir,
    ],
    { env: { SOURCE_DATE_EPOCH: String(clockBeforeSnapshot(context.props)) } },
  );
  const root = path.join(installDir, 'rootfs');
  const databasePath = INSTALLED_DATABASE_PATHS.find((candidate) => existsSync(path.join(root, candidate)));
  if (databasePath === undefined) {
    throw new ComposeError(
      `rpm-ostree compose install left no rpm database in ${root} (looked for ${INSTALLED_DATABASE_PATHS.join(', ')})`,
      { constructPath: context.nodePath },
    );
  }
  const snapshotTime = await readSnapshotTime(context, root, `/${databasePath}`);
  await rm(installDir, { recursive: true, force: true });
  return snapshotTime;
}

/** Composes with `rpm-ostree compose tree --unified-core`, dated from the content's snapshot. */
export const composeWithRpmOstree: ComposeDriver = async (context, { input, repositories, versionAt }) => {
  const { exec, workDir, props } = context;
  // rpm-ostree reads .repo files and the treefile's relative paths (postprocess-script,
  // check-passwd ...) next to it: a writable copy of the Manifest's tree plus a .repo file.
  const composeDir = path.join(workDir, 'compose');
  await exec('cp', ['-a', `${input.directory}/.`, `${composeDir}/`]);
  await writeFile(path.join(composeDir, 'fcos-cdk.repo'), repoFile(repositories));
  // rpm-ostree gives an added file its source's mode, which the cache's copy does not keep.
  for (const file of input.addFiles) {
    await chmod(path.join(composeDir, path.relative(input.directory, file.file)), file.mode);
  }
  await ensureArchiveRepository(exec, context.ostreeRepo);
  // ostree-layers name refs (`overlay/NAME`) that must exist in the repo: commit each layer's tree.
  for (const layer of input.layers) {
    await commitTree(exec, {
      repo: context.ostreeRepo,
      tree: path.join(composeDir, path.relative(input.directory, layer.directory)),
      ref: layer.ref,
      timestamp: clockBeforeSnapshot(props),
      subject: layer.ref,
      bootable: false,
    });
  }
  const cacheDir = path.join(workDir, 'cache');
  await mkdir(cacheDir, { recursive: true });
  const treefileFile = path.join(composeDir, path.basename(input.treefileFile));
  const lockfileArguments = input.lockfileFile === undefined ? [] : [`--ex-lockfile=${input.lockfileFile}`];
  const snapshotTime = await snapshotTimeOfInstall(context, treefileFile, lockfileArguments, cacheDir);
  const version = versionAt(snapshotTime);
  const composeJson = path.join(workDir, 'compose.json');
  const args = [
    'compose',
    'tree',
    '--unified-core',
    `--repo=${context.ostreeRepo}`,
    `--cachedir=${cacheDir}`,
    `--write-composejson-to=${composeJson}`,
    // Given explicitly, the version takes precedence over automatic-version-prefix (and is what
    // mutate-os-release writes), so it does not depend on the commits already on the ref.
    `--add-metadata-string=version=${version}`,
    ...lockfileArguments,
    treefileFile,
  ];
  // SOURCE_DATE_EPOCH: the commit's timestamp (ostree), the rpm database's install times and the
  // initramfs's mtimes (rpm-ostree passes it to its scripts).
  await exec('rpm-ostree', args, { env: { SOURCE_DATE_EPOCH: String(snapshotTime) } });
  const result = await readComposeJson(composeJson, context.nodePath);
  return {
    checksum: result['ostree-commit'],
    version: result['ostree-version'] ?? version,
    snapshotTime,
    packages: result.packages.map(packageIdentity),
    metadata: {},
  };
};
