/**
 * RpmOstreeCompose: a flattened treefile in, a reproducible ostree commit out (in the cache's
 * archive repo), with the package list. Drivers: rpm-ostree when installed, else dnf + ostree.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../lib/artifacts.ts';
import { Step, type StepKind } from '../lib/step.ts';

/** Compose drivers. */
export const COMPOSE_DRIVERS = ['auto', 'rpm-ostree', 'dnf'] as const;

/** Props of {@link RpmOstreeCompose}. */
export interface RpmOstreeComposeProps {
  /** The treefile of one architecture, from {@link Manifest.treefileFor}. */
  readonly treefile: Artifact<'treefile'>;
  /**
   * `rpm-ostree` (`compose tree --unified-core`), `dnf` (dnf --installroot + ostree commit), or
   * `auto`: rpm-ostree when the binary is present, else dnf.
   * @default 'auto'
   */
  readonly driver?: (typeof COMPOSE_DRIVERS)[number];
  /**
   * Commit timestamp, seconds since the epoch; a fixed value makes the checksum reproducible.
   * @default 1700000000
   */
  readonly timestamp?: number;
}

const schema = z
  .object({
    treefile: artifactSchema('treefile'),
    driver: z.enum(COMPOSE_DRIVERS).default('auto'),
    timestamp: z.number().int().nonnegative().default(1_700_000_000),
  })
  .strict();

/** Parsed props of {@link RpmOstreeCompose}. */
export type RpmOstreeComposeConfig = z.output<typeof schema>;

/** The RpmOstreeCompose kind. */
export const rpmOstreeComposeKind: StepKind<RpmOstreeComposeProps, RpmOstreeComposeConfig> = {
  kind: 'RpmOstreeCompose',
  version: 1,
  module: import.meta.url,
  schema,
  resources: () => ({ class: 'cpu' }),
};

/** An ostree commit composed from a treefile. */
export class RpmOstreeCompose extends Step<RpmOstreeComposeProps, RpmOstreeComposeConfig> {
  /** The ostree commit. */
  readonly commit: Artifact<'ostree-commit'>;
  /** The packages in the commit (name, epoch, version, release, arch), as JSON. */
  readonly packages: Artifact<'package-list'>;

  constructor(scope: Construct, id: string, props: RpmOstreeComposeProps) {
    super(scope, id, rpmOstreeComposeKind, props);
    const arch = this.props.treefile.attributes.arch;
    this.commit = this.addOutput('commit', 'ostree-commit', { arch });
    this.packages = this.addOutput('packages', 'package-list', { arch });
  }
}
