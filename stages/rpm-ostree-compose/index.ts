/**
 * RpmOstreeCompose: a flattened treefile in, a reproducible ostree commit out (in the cache's
 * archive repo), with the package list. Composed by runner.ts: rpm-ostree when installed
 * (rpm-ostree-driver.ts), else dnf + ostree (dnf-driver.ts).
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';
import { Manifest } from '../manifest/index.ts';

/** Compose drivers. */
export const COMPOSE_DRIVERS = ['auto', 'rpm-ostree', 'dnf'] as const;

/** Props of {@link RpmOstreeCompose}. */
export interface RpmOstreeComposeProps {
  /** The treefile of one architecture, from {@link Manifest.treefileFor}. */
  readonly treefile: Artifact<'treefile'>;
  /**
   * Repositories built by the pipeline that the treefile's `repos` name.
   * @default the `localRepos` of the Manifest that produced `treefile`
   */
  readonly localRepos?: readonly Artifact<'rpm-repo'>[];
  /**
   * `rpm-ostree` (`compose tree --unified-core`), `dnf` (dnf --installroot + ostree commit), or
   * `auto`: rpm-ostree when the binary is present, else dnf.
   * @default 'auto'
   */
  readonly driver?: (typeof COMPOSE_DRIVERS)[number];
  /**
   * Commit timestamp and the date of the version (`<date:...>` of `automatic-version-prefix`),
   * seconds since the epoch: overrides the content's snapshot time.
   * @default the content's snapshot: the newest build time of the packages the compose installs
   *   (so the same packages give the same checksum and version, on any machine, on any day)
   */
  readonly timestamp?: number;
  /**
   * The last component of the version, `<automatic-version-prefix>.<respin>` (Fedora CoreOS's
   * `X.Y.Z.A`: the prefix spells `X.Y.Z`, its `<date:...>` expanded from the snapshot time). The
   * release tooling raises it when it releases the same content date again; the version depends
   * on nothing else, so every cache and machine composes the same commit with the same version.
   * @default 0
   */
  readonly respin?: number;
}

const schema = z
  .object({
    treefile: artifactSchema('treefile'),
    localRepos: z.array(artifactSchema('rpm-repo')).default([]),
    driver: z.enum(COMPOSE_DRIVERS).default('auto'),
    timestamp: z.number().int().nonnegative().optional(),
    respin: z.number().int().nonnegative().default(0),
  })
  .strict();

/** Parsed props of {@link RpmOstreeCompose}. */
export type RpmOstreeComposeConfig = z.output<typeof schema>;

/** The RpmOstreeCompose kind. */
export const rpmOstreeComposeKind = defineKind({
  kind: 'RpmOstreeCompose',
  // 2: the committed tree has no /etc beside /usr/etc (ostree admin deploy refuses both).
  // 3: the version is `<prefix>.<respin>`, no longer numbered by an index kept in the cache.
  // 4: the dnf driver checks check-passwd/check-groups (previous by default), adds add-files, and
  //    edits in rpm-ostree's order (mutate-os-release, remove-files, add-files, postprocess).
  // 5: the commit and the version are dated from the packages' newest build time by default, not
  //    a constant; the commit's metadata records that time as snapshotTime.
  version: 5,
  schema,
  resources: () => ({ class: 'cpu' }),
  runner: new URL('./runner.ts', import.meta.url),
});

/**
 * The local repositories of the Manifest that produced `treefile` which its arch sees (none for
 * another producer): a repository built for another arch is not the compose's input.
 */
function manifestRepos(treefile: Artifact<'treefile'> | undefined): readonly Artifact<'rpm-repo'>[] {
  const producer = treefile?.producer;
  if (!(producer instanceof Manifest)) return [];
  const arch = treefile?.attributes.arch;
  return producer.props.localRepos.filter(
    (repo) => repo.attributes.arch === undefined || repo.attributes.arch === arch,
  );
}

/** An ostree commit composed from a treefile. */
export class RpmOstreeCompose extends Step<RpmOstreeComposeProps, RpmOstreeComposeConfig> {
  /**
   * The ostree commit; its metadata: `ref`, `version`, `arch`, `driver`, `snapshotTime` (the time
   * the commit and its version are dated by: the newest build time of its packages, or the
   * `timestamp` prop) and, from the dnf driver, `kernelVersion`.
   */
  readonly commit: Artifact<'ostree-commit'>;
  /** The packages in the commit (name, epoch, version, release, arch), as JSON. */
  readonly packages: Artifact<'package-list'>;

  constructor(scope: Construct, id: string, props: RpmOstreeComposeProps) {
    super(scope, id, rpmOstreeComposeKind, {
      ...props,
      localRepos: props.localRepos ?? manifestRepos(props.treefile),
    });
    const arch = this.props.treefile.attributes.arch;
    this.commit = this.addOutput('commit', 'ostree-commit', { arch });
    this.packages = this.addOutput('packages', 'package-list', { arch });
  }
}
