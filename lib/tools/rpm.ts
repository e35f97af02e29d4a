/**
 * rpm: reading RPM files' headers and file lists (`rpm -qp`). Quirk handled here: `%{EPOCH}` prints
 * `(none)` for packages without an epoch, so `%{EPOCHNUM}` (0) is queried instead.
 */

import type { ToolExec } from '../exec.ts';
import { RPM_DB_PATH } from './dnf.ts';

/** Name, epoch, version, release and architecture of a package. */
export interface PackageIdentity {
  /** Package name. */
  readonly name: string;
  /** Epoch, 0 when the package has none. */
  readonly epoch: number;
  /** Version. */
  readonly version: string;
  /** Release. */
  readonly release: string;
  /** Architecture (`x86_64`, `noarch` ...). */
  readonly arch: string;
}

/** Query format of one {@link PackageIdentity} per line, fields separated by tabs. */
const IDENTITY_FORMAT = '%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n';

/** Reads the identity of each RPM file, in the order given. */
export async function readPackageIdentities(
  exec: ToolExec,
  rpmFiles: readonly string[],
): Promise<PackageIdentity[]> {
  if (rpmFiles.length === 0) return [];
  const result = await exec(
    'rpm',
    ['-qp', '--nosignature', '--nodigest', '--qf', IDENTITY_FORMAT, ...rpmFiles],
    {
      quietStdout: true,
    },
  );
  return parseIdentities(result.stdout);
}

/** The packages installed in `root` (rpm database at /usr/lib/sysimage/rpm), sorted by name and arch. */
export async function installedPackages(exec: ToolExec, root: string): Promise<PackageIdentity[]> {
  const result = await exec(
    'rpm',
    ['--root', root, '--dbpath', `/${RPM_DB_PATH}`, '-qa', '--qf', IDENTITY_FORMAT],
    {
      quietStdout: true,
    },
  );
  return parseIdentities(result.stdout).sort(
    (a, b) => a.name.localeCompare(b.name) || a.arch.localeCompare(b.arch),
  );
}

/**
 * The newest build time (`%{BUILDTIME}`, seconds since the epoch) of the packages installed in
 * `root`, whose rpm database is at `databasePath` inside it: the time of the content's snapshot.
 * Undefined when nothing is installed.
 */
export async function newestInstalledBuildTime(
  exec: ToolExec,
  root: string,
  databasePath = `/${RPM_DB_PATH}`,
): Promise<number | undefined> {
  const result = await exec(
    'rpm',
    ['--root', root, '--dbpath', databasePath, '-qa', '--qf', '%{BUILDTIME}\\n'],
    {
      quietStdout: true,
    },
  );
  const times = result.stdout
    .split('\n')
    .filter((line) => /^\d+$/.test(line))
    .map(Number);
  return times.length === 0 ? undefined : Math.max(...times);
}

/** Parses lines printed with {@link IDENTITY_FORMAT}. */
function parseIdentities(output: string): PackageIdentity[] {
  return output
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [name = '', epoch = '0', version = '', release = '', arch = ''] = line.split('\t');
      return { name, epoch: Number(epoch), version, release, arch };
    });
}

/** The paths an RPM file installs, in rpm's order. */
export async function listPackageFiles(exec: ToolExec, rpmFile: string): Promise<string[]> {
  const result = await exec('rpm', ['-qlp', '--nosignature', '--nodigest', rpmFile], { quietStdout: true });
  return result.stdout.split('\n').filter((line) => line !== '');
}

/** `name-[epoch:]version-release.arch`, the way dnf prints a package. */
export function formatNevra(identity: PackageIdentity): string {
  const epoch = identity.epoch === 0 ? '' : `${identity.epoch}:`;
  return `${identity.name}-${epoch}${identity.version}-${identity.release}.${identity.arch}`;
}
