/**
 * The RpmOstreeCompose runner: reads the Manifest's compose input, gives the version's rule (the
 * driver dates it from the installed packages' snapshot), picks a driver (rpm-ostree when
 * installed, else dnf + ostree; one file each) and records the commit and its package list. Its
 * fingerprint is the tools' versions and the remote repositories' metadata; its lockfile hook
 * (lockfile-update.ts) writes the composed packages back for `fcos-run --update-lockfiles`.
 */
import path from 'node:path';
import { ComposeError } from '../../lib/compose/errors.ts';
import { PACKAGE_LIST_FILE, writePackageList } from '../../lib/compose/package-list.ts';
import { resolveRepositories } from '../../lib/compose/repositories.ts';
import { composeVersion } from '../../lib/compose/version.ts';
import { FcosError } from '../../lib/errors.ts';
import { findOnPath } from '../../lib/exec.ts';
import { defineRunner, type FingerprintContext, requireInput } from '../../lib/runner.ts';
import { installedVersions } from '../../lib/tools/dpkg.ts';
import { repositoryFingerprint } from '../../lib/tools/repomd.ts';
import { readComposeInput, readComposeInputMetadata } from '../../lib/treefile/compose-input.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import { composeWithDnf } from './dnf-driver.ts';
import type { ComposeDriver, ComposeRunnerProps } from './driver.ts';
import { rpmOstreeComposeKind } from './index.ts';
import { updateComposeLockfile } from './lockfile-update.ts';
import { composeWithRpmOstree } from './rpm-ostree-driver.ts';

/** The drivers by name. */
const DRIVERS: Readonly<Record<'rpm-ostree' | 'dnf', ComposeDriver>> = {
  'rpm-ostree': composeWithRpmOstree,
  dnf: composeWithDnf,
};

/** The driver `auto` resolves to on this host. */
function resolveDriver(driver: ComposeRunnerProps['driver']): 'rpm-ostree' | 'dnf' {
  if (driver !== 'auto') return driver;
  return findOnPath('rpm-ostree') ? 'rpm-ostree' : 'dnf';
}

/**
 * Cheap facts that decide a compose besides its inputs: the driver, the versions of the tools, and
 * each remote repository's repomd.xml checksum (local repositories are inputs, with digests).
 */
async function composeFingerprint(context: FingerprintContext<ComposeRunnerProps>): Promise<JsonValue> {
  const driver = resolveDriver(context.props.driver);
  const { exec } = context;
  const tools = findOnPath('dpkg-query')
    ? Object.fromEntries(await installedVersions(exec, ['ostree', 'dnf', 'rpm', 'rpm-ostree']))
    : (
        await exec('rpm', ['-q', 'ostree', 'dnf', 'rpm', 'rpm-ostree'], { okExitCodes: [0, 1, 2, 3, 4] })
      ).stdout
        .trim()
        .split('\n');
  const treefile = readComposeInputMetadata(
    requireInput(context, context.props.treefile).metadata,
    context.nodePath,
  );
  const repositories: Record<string, string> = {};
  for (const repository of treefile.remoteRepos) {
    try {
      repositories[repository.name] = await repositoryFingerprint(repository, context.signal);
    } catch (error) {
      if (error instanceof FcosError)
        throw new ComposeError(error.message, { constructPath: context.nodePath, field: 'repos' });
      throw error;
    }
  }
  return { driver, tools, repositories };
}

export default defineRunner(rpmOstreeComposeKind, {
  timeoutSeconds: 3600,
  fingerprint: composeFingerprint,

  /** Composes with the chosen driver; outputs the commit and the package list. */
  async run(context) {
    const { props } = context;
    const treefileInput = requireInput(context, props.treefile);
    const input = await readComposeInput(treefileInput.path, context.nodePath);
    const { treefile } = input;
    const names = [...new Set([...treefile.repos, ...treefile['lockfile-repos']])];
    const repositories = resolveRepositories(names, input.repoDefinitions, context.inputs, context.nodePath);
    /** The version of a commit dated `timestamp`. */
    const versionAt = (timestamp: number) =>
      composeVersion({
        automaticVersionPrefix: treefile['automatic-version-prefix'],
        releasever: treefile.releasever,
        timestamp,
        respin: props.respin,
      });
    const driver = resolveDriver(props.driver);
    const result = await DRIVERS[driver](context, { input, repositories, versionAt });
    const dated = `${props.timestamp === undefined ? "the packages' snapshot" : 'the timestamp prop'} ${new Date(result.snapshotTime * 1000).toISOString()}`;
    context.log(
      `committed ${result.checksum} to ${treefile.ref} as version ${result.version}, dated from ${dated} (${result.packages.length} packages)`,
    );
    const packagesFile = path.join(context.workDir, PACKAGE_LIST_FILE);
    await writePackageList(packagesFile, result.packages);
    const arch = String(treefileInput.metadata.arch ?? '');
    return {
      commit: {
        storage: 'ostree-commit',
        checksum: result.checksum,
        metadata: {
          ref: treefile.ref,
          version: result.version,
          arch,
          driver,
          snapshotTime: result.snapshotTime,
          ...result.metadata,
        },
      },
      packages: {
        storage: 'file',
        path: packagesFile,
        metadata: { arch, count: result.packages.length },
      },
    };
  },

  updateLockfiles: updateComposeLockfile,
});
