/**
 * Manifest: the rpm-ostree treefile, written inline in TypeScript or loaded from a YAML file
 * (fedora-coreos-config's manifest.yaml), flattened per architecture for the compose.
 * The runner (at the bottom) writes, per arch, a self-contained directory the compose reads:
 * the flattened treefile.json, repos.json, lockfile.json, the postprocess-script and the
 * ostree-layers directories (layout in lib/treefile/compose-input.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { ARCHES, type Arch, type Artifact, archSchema, artifactSchema } from '../../lib/artifacts.ts';
import { FcosError } from '../../lib/errors.ts';
import {
  type FingerprintContext,
  type NodeRunner,
  type RunnerOutput,
  registerRunner,
} from '../../lib/runner.ts';
import { projectPathSchema } from '../../lib/schemas.ts';
import { Step, type StepKind } from '../../lib/step.ts';
import {
  composeInputMetadata,
  type ManifestSources,
  prepareComposeInput,
  writeComposeInput,
} from '../../lib/treefile/compose-input.ts';
import { RESERVED_VARIABLES, type ReadRecorder } from '../../lib/treefile/flatten.ts';
import { digestReads } from '../../lib/treefile/read-digests.ts';
import { type TreeFile, treefileSchema } from '../../lib/treefile/schema.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';

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
export const manifestKind: StepKind<ManifestProps, ManifestConfig> = {
  kind: 'Manifest',
  version: 1,
  module: import.meta.url,
  schema,
  resources: () => ({ class: 'io' }),
};

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
    this.addCheck(() => {
      const names = this.props.localRepos.map((repo) => repo.attributes.name);
      const twice = names.filter((name, index) => names.indexOf(name) !== index);
      return twice.length === 0
        ? []
        : [this.issue('localRepos', `repository name '${twice[0]}' is used twice`)];
    });
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

/** Props of a Manifest node as pipeline.json records them (artifacts are `{"$input": field}`). */
const nodePropsSchema = z
  .object({
    file: z.string().optional(),
    treefile: z.record(z.string(), z.unknown()).optional(),
    localRepos: z.array(z.object({ $input: z.string() }).strict()).default([]),
    arches: z.array(archSchema).min(1),
    variables: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    lockfileDir: z.string().optional(),
  })
  .strict();

/** Props of a Manifest node as its runner receives them. */
export type ManifestNodeProps = z.input<typeof nodePropsSchema>;

/** The node's props or pipeline.json does not match this code, or an input is not a named repository. */
export class ManifestNodeError extends FcosError {}

/** The flattening's starting point and the arches, from the node's props and inputs (files recorded in `reads`). */
function manifestSources(
  context: FingerprintContext<ManifestNodeProps>,
  reads?: ReadRecorder,
): { readonly sources: ManifestSources; readonly arches: readonly Arch[] } {
  const parsed = nodePropsSchema.safeParse(context.props);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestNodeError(
      `props in pipeline.json do not match this Manifest: ${issue?.message} (run fcos-synth again)`,
      {
        constructPath: context.nodePath,
        field: issue?.path.map(String).join('.') ?? '',
      },
    );
  }
  const props = parsed.data;
  const projectDir = context.projectDir;
  const localRepos = props.localRepos.map(({ $input: field }) => {
    const input = context.inputs[field];
    const name = input?.metadata.name;
    if (typeof name !== 'string' || input === undefined) {
      throw new ManifestNodeError(`input '${field}' is not a repository with a name in its metadata`, {
        constructPath: context.nodePath,
        field,
      });
    }
    return { name, digest: input.digest };
  });
  const file = props.file === undefined ? undefined : path.resolve(projectDir, props.file);
  const lockfileDir = props.lockfileDir ?? (props.file === undefined ? undefined : path.dirname(props.file));
  const sources: ManifestSources = {
    constructPath: context.nodePath,
    projectDir,
    source: file === undefined ? { document: props.treefile ?? {}, directory: projectDir } : { file },
    variables: props.variables,
    localRepos,
    lockfileDirectory: lockfileDir === undefined ? undefined : path.resolve(projectDir, lockfileDir),
    ...(reads ? { reads } : {}),
  };
  return { sources, arches: props.arches };
}

/** Flattens the treefile per arch and writes each arch's compose input directory. */
export const manifestRunner: NodeRunner<ManifestNodeProps> = {
  kind: manifestKind.kind,
  version: manifestKind.version,
  timeoutSeconds: 300,

  /**
   * sha256 of every file the flattening reads (treefiles, .repo files, lockfiles,
   * postprocess-script, ostree-layers directories); a treefile error is recorded, not thrown, so
   * that run() reports it in the node's log.
   */
  async fingerprint(context) {
    const reads: ReadRecorder = new Map();
    let problem: string | undefined;
    try {
      const { sources, arches } = manifestSources(context, reads);
      for (const arch of arches) await prepareComposeInput(sources, arch);
    } catch (error) {
      if (!(error instanceof FcosError)) throw error;
      problem = error.message;
    }
    const fingerprint: Record<string, JsonValue> = { files: await digestReads(reads, context.projectDir) };
    if (problem !== undefined) fingerprint.problem = problem;
    return fingerprint;
  },

  /** One `treefile-<arch>` tree per arch. */
  async run(context) {
    const { sources, arches } = manifestSources(context);
    const outputs: Record<string, RunnerOutput> = {};
    for (const arch of arches) {
      const input = await prepareComposeInput(sources, arch);
      const directory = path.join(context.workDir, `treefile-${arch}`);
      await writeComposeInput(input, directory);
      const packages = (input.treefile.packages as string[] | undefined) ?? [];
      context.log(
        `treefile-${arch}: ref ${String(input.treefile.ref)}, ${packages.length} packages, repos ${input.repos.repos.join(' ') || '(none)'}, ${input.lockfile ? `${Object.keys(input.lockfile.packages).length} locked packages` : 'no lockfile'}, ${input.layers.length} layers`,
      );
      outputs[`treefile-${arch}`] = {
        storage: 'tree',
        path: directory,
        metadata: composeInputMetadata(input),
      };
    }
    return outputs;
  },
};

registerRunner(manifestRunner);
