/**
 * What the runner hands a compose driver and what a driver gives back: the compose input already
 * read, the repositories resolved and the version's rule, so that each driver only turns them into
 * a commit in the cache's repository. The version and the commit time are decided by the driver
 * once the packages are installed: they are dated from the content's snapshot, the newest build
 * time of the installed packages, unless the `timestamp` prop fixes the time.
 */
import { ComposeError } from '../../lib/compose/errors.ts';
import type { NodeProps, RunnerContext } from '../../lib/runner.ts';
import type { Repository } from '../../lib/tools/dnf.ts';
import { newestInstalledBuildTime, type PackageIdentity } from '../../lib/tools/rpm.ts';
import type { ComposeInputContents } from '../../lib/treefile/compose-input.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import type { RpmOstreeComposeConfig } from './index.ts';

/** Props of a compose node as its runner receives them. */
export type ComposeRunnerProps = NodeProps<RpmOstreeComposeConfig>;

/** Everything a driver composes from. */
export interface ComposePlan {
  /** The compose input directory, read (treefile.json, repos.json, lockfile.json ...). */
  readonly input: ComposeInputContents;
  /** The repositories of `repos` and `lockfile-repos`, local ones as directories. */
  readonly repositories: readonly Repository[];
  /** The version to record for a commit dated `timestamp`: `<expanded automatic-version-prefix>.<respin>`. */
  readonly versionAt: (timestamp: number) => string;
}

/** What a driver made. */
export interface ComposeResult {
  /** The commit's checksum in the cache's repository. */
  readonly checksum: string;
  /** The version the commit records. */
  readonly version: string;
  /**
   * The time the commit and its version are dated by, seconds since the epoch: the content's
   * snapshot (the newest build time of the installed packages), or the `timestamp` prop.
   */
  readonly snapshotTime: number;
  /** The packages in the commit. */
  readonly packages: readonly PackageIdentity[];
  /** Driver-specific facts for the commit's metadata (the kernel version ...). */
  readonly metadata: { readonly [key: string]: JsonValue };
}

/** A way of composing: dnf --installroot + ostree commit, or rpm-ostree compose tree. */
export type ComposeDriver = (
  context: RunnerContext<ComposeRunnerProps>,
  plan: ComposePlan,
) => Promise<ComposeResult>;

/**
 * The time of what is written before the snapshot is known (it is read from the installed rpm
 * database): SOURCE_DATE_EPOCH of the package installation, which rpm records as every package's
 * install time, and the commits of ostree layers. Without a `timestamp` prop it is 0: install times
 * count from 0 in package order, reproducibly.
 */
export function clockBeforeSnapshot(props: ComposeRunnerProps): number {
  return props.timestamp ?? 0;
}

/**
 * The time a compose is dated by (the commit's timestamp, the version's `<date:...>`): the
 * `timestamp` prop when given, else the content's snapshot, the newest build time of the packages
 * installed in `root` (rpm database at `databasePath`). A root with no package has no date: a
 * ComposeError.
 */
export async function readSnapshotTime(
  context: RunnerContext<ComposeRunnerProps>,
  root: string,
  databasePath: string,
): Promise<number> {
  if (context.props.timestamp !== undefined) return context.props.timestamp;
  const time = await newestInstalledBuildTime(context.exec, root, databasePath);
  if (time === undefined) {
    throw new ComposeError(
      `no package is installed in ${root} (rpm database ${databasePath}): nothing dates the compose`,
      {
        constructPath: context.nodePath,
        field: 'treefile',
      },
    );
  }
  return time;
}
