/**
 * LocalPackageRepo: RPMs built from a directory of spec files, as a repository a treefile names in
 * `repos` (the local profile's tiny OS). Built by runner.ts.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Arch, type Artifact, archSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { projectPathSchema, simpleNameSchema } from '../../lib/schemas.ts';
import { Step } from '../../lib/step.ts';

/** Props of {@link LocalPackageRepo}. */
export interface LocalPackageRepoProps {
  /**
   * Directory of `*.spec` files (and their sources), relative to the project.
   * @default 'packages'
   */
  readonly specs?: string;
  /**
   * Name treefiles use for this repository in `repos`.
   * @default 'local'
   */
  readonly name?: string;
  /**
   * Build only the specs with these names (file name without `.spec`).
   * @default every spec in the directory
   */
  readonly packages?: readonly string[];
  /**
   * SOURCE_DATE_EPOCH for rpmbuild: build time and file mtimes of every RPM, for reproducibility.
   * Each spec's build time is the content's date, which the compose dates its version from.
   * @default each spec's newest `%changelog` entry (rpm's `source_date_epoch_from_changelog`); a
   *   spec without one is an error
   */
  readonly sourceDateEpoch?: number;
  /**
   * Architecture the RPMs are built for.
   * @default 'x86_64'
   */
  readonly arch?: Arch;
}

const schema = z
  .object({
    specs: projectPathSchema().default('packages'),
    name: simpleNameSchema.default('local'),
    packages: z.array(simpleNameSchema).min(1).optional(),
    sourceDateEpoch: z.number().int().nonnegative().optional(),
    arch: archSchema.default('x86_64'),
  })
  .strict();

/** Parsed props of {@link LocalPackageRepo}. */
export type LocalPackageRepoConfig = z.output<typeof schema>;

/** The LocalPackageRepo kind. */
export const localPackageRepoKind = defineKind({
  kind: 'LocalPackageRepo',
  // 2: the build time of each RPM is its spec's newest %changelog date, no longer a constant.
  version: 2,
  schema,
  resources: () => ({ class: 'cpu' }),
  runner: new URL('./runner.ts', import.meta.url),
});

/** RPMs built from the project's spec files, as a repository. */
export class LocalPackageRepo extends Step<LocalPackageRepoProps, LocalPackageRepoConfig> {
  /** The repository (repodata and RPMs). */
  readonly repo: Artifact<'rpm-repo'>;

  constructor(scope: Construct, id: string, props: LocalPackageRepoProps = {}) {
    super(scope, id, localPackageRepoKind, props);
    this.repo = this.addOutput('repo', 'rpm-repo', { name: this.props.name, arch: this.props.arch });
    this.addCheck(() => {
      const directory = path.resolve(this.projectDir, this.props.specs);
      return existsSync(directory)
        ? []
        : [this.issue('specs', `directory '${this.props.specs}' does not exist`)];
    });
  }
}
