/**
 * What the runner hands a compose driver and what a driver gives back: the compose input already
 * read, the repositories resolved and the version decided, so that each driver only turns them
 * into a commit in the cache's repository.
 */
import type { NodeProps, RunnerContext } from '../../lib/runner.ts';
import type { Repository } from '../../lib/tools/dnf.ts';
import type { PackageIdentity } from '../../lib/tools/rpm.ts';
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
  /** The version to record: `<expanded automatic-version-prefix>.<respin>`. */
  readonly version: string;
}

/** What a driver made. */
export interface ComposeResult {
  /** The commit's checksum in the cache's repository. */
  readonly checksum: string;
  /** The version the commit records. */
  readonly version: string;
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
