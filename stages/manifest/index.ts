/**
 * Manifest: the rpm-ostree treefile, written inline in TypeScript or loaded from a YAML file
 * (fedora-coreos-config's manifest.yaml), flattened per architecture for the compose by the
 * runner (runner.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { ARCHES, type Arch, type Artifact, archSchema, artifactSchema } from '../../lib/artifacts.ts';
import { FcosError } from '../../lib/errors.ts';
import { defineKind } from '../../lib/kind.ts';
import { projectPathSchema } from '../../lib/schemas.ts';
import { Step } from '../../lib/step.ts';
import { RESERVED_VARIABLES } from '../../lib/treefile/flatten.ts';
import { type TreeFile, treefileSchema } from '../../lib/treefile/schema.ts';

/** Props of {@link Manifest}. Give exactly one of `file` and `treefile`. */
export interface ManifestProps {
  /**
   * Treefile to load (YAML or JSON), relative to the project; includes and `.repo` files are
   * resolved next to it, as rpm-ostree does.
   * @default undefined (use `treefile`)
   */
  readonly file?: string;
  /**
   * Inline treefile.
   * @default undefined (use `file`)
   */
  readonly treefile?: TreeFile;
  /**
   * Repositories built by the pipeline; a treefile names them in `repos` by their `name`.
   * @default []
   */
  readonly localRepos?: readonly Artifact<'rpm-repo'>[];
  /**
   * Architectures to flatten the treefile for; one output per arch.
   * @default ['x86_64']
   */
  readonly arches?: readonly Arch[];
  /**
   * Values overriding the treefile's `variables` (for `conditional-include`).
   * @default {}
   */
  readonly variables?: Readonly<Record<string, string | number | boolean>>;
  /**
   * Directory holding `manifest-lock.<arch>.json` and `manifest-lock.overrides.yaml`.
   * @default the directory of `file`, or no lockfiles for an inline treefile
   */
  readonly lockfileDir?: string;
}

const schema = z
  .object({
    file: projectPathSchema().optional(),
    treefile: treefileSchema.optional(),
    localRepos: z.array(artifactSchema('rpm-repo')).default([]),
    arches: z
      .array(archSchema)
      .min(1)
      .default(['x86_64'])
      .refine((arches) => new Set(arches).size === arches.length, 'an arch is listed twice'),
    variables: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .default({})
      .refine(
        (variables) => RESERVED_VARIABLES.every((name) => !Object.hasOwn(variables, name)),
        `${RESERVED_VARIABLES.join(' and ')} are reserved: rpm-ostree sets them from the arch and the releasever key`,
      ),
    lockfileDir: projectPathSchema().optional(),
  })
  .strict()
  .superRefine((props, context) => {
    if ((props.file === undefined) === (props.treefile === undefined)) {
      context.addIssue({ code: 'custom', path: ['file'], message: 'give exactly one of file and treefile' });
    }
  });

/** Parsed props of {@link Manifest}. */
export type ManifestConfig = z.output<typeof schema>;

/** The Manifest kind. */
export const manifestKind = defineKind({
  kind: 'Manifest',
  // 2: the outputs' metadata records the lockfile directory (lockfileDir) for --update-lockfiles.
  // 3: the add-files sources are in the output (add-files/N, add-files.json with their modes).
  version: 3,
  schema,
  resources: () => ({ class: 'io' }),
  runner: new URL('./runner.ts', import.meta.url),
});

/**
 * What is wrong with `repos` for a treefile of `arches`: each arch must see each name once. A
 * repository built for one arch (a LocalPackageRepo's `arch`) is seen by that arch's treefile only,
 * so one name may have one repository per arch, and then needs one for every arch of the Manifest.
 */
function localRepoIssues(repos: readonly Artifact<'rpm-repo'>[], arches: readonly Arch[]): string[] {
  const issues: string[] = [];
  const names = [...new Set(repos.map((repo) => repo.attributes.name))];
  for (const name of names) {
    const named = repos.filter((repo) => repo.attributes.name === name);
    for (const arch of arches) {
      const seen = named.filter(
        (repo) => repo.attributes.arch === undefined || repo.attributes.arch === arch,
      );
      if (seen.length > 1) issues.push(`repository name '${name}' is used twice for ${arch}`);
      else if (seen.length === 0)
        issues.push(`repository '${name}' has no build for ${arch}: add one built with arch '${arch}'`);
    }
  }
  return issues;
}

/** An rpm-ostree treefile, flattened per architecture. */
export class Manifest extends Step<ManifestProps, ManifestConfig> {
  private readonly treefiles = new Map<Arch, Artifact<'treefile'>>();

  constructor(scope: Construct, id: string, props: ManifestProps) {
    super(scope, id, manifestKind, props);
    for (const arch of ARCHES.filter((candidate) => this.props.arches.includes(candidate))) {
      this.treefiles.set(arch, this.addOutput(`treefile-${arch}`, 'treefile', { arch }));
    }
    this.addCheck(() => {
      const file = this.props.file;
      if (file === undefined || existsSync(path.resolve(this.projectDir, file))) return [];
      return [this.issue('file', `treefile '${file}' does not exist`)];
    });
    this.addCheck(() =>
      localRepoIssues(this.props.localRepos, this.props.arches).map((message) =>
        this.issue('localRepos', message),
      ),
    );
  }

  /** The flattened treefile for `arch`, to hand to an RpmOstreeCompose. */
  treefileFor(arch: Arch): Artifact<'treefile'> {
    const treefile = this.treefiles.get(arch);
    if (!treefile) {
      throw new FcosError(`no treefile for ${arch}: add it to arches (${this.props.arches.join(', ')})`, {
        constructPath: this.node.path,
        field: 'arches',
      });
    }
    return treefile;
  }
}
