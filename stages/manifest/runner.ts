/**
 * The Manifest runner: flattens the treefile and writes, per arch, a self-contained directory the
 * compose reads: the flattened treefile.json, repos.json, lockfile.json, the postprocess-script,
 * the check-passwd/check-groups files, the add-files sources and the ostree-layers directories
 * (layout in lib/treefile/compose-input.ts).
 */
import path from 'node:path';
import type { Arch } from '../../lib/artifacts.ts';
import { FcosError } from '../../lib/errors.ts';
import {
  defineRunner,
  type FingerprintContext,
  type NodeProps,
  type RunnerOutput,
} from '../../lib/runner.ts';
import {
  composeInputMetadata,
  type ManifestSources,
  prepareComposeInput,
  writeComposeInput,
} from '../../lib/treefile/compose-input.ts';
import type { ReadRecorder } from '../../lib/treefile/flatten.ts';
import { digestReads } from '../../lib/treefile/read-digests.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import { type ManifestConfig, manifestKind } from './index.ts';

/** Props of a Manifest node as its runner receives them. */
export type ManifestNodeProps = NodeProps<ManifestConfig>;

/** An input of a Manifest is not a named repository. */
export class ManifestNodeError extends FcosError {}

/**
 * The flattening's starting point, the arches and the project-relative lockfile directory, from
 * the node's props and inputs (files recorded in `reads`).
 */
function manifestSources(
  context: FingerprintContext<ManifestNodeProps>,
  reads?: ReadRecorder,
): {
  readonly sources: ManifestSources;
  readonly arches: readonly Arch[];
  readonly lockfileDir: string | undefined;
} {
  const props = context.props;
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
    const arch = input.metadata.arch;
    return { name, digest: input.digest, ...(typeof arch === 'string' ? { arch } : {}) };
  });
  const file = props.file === undefined ? undefined : path.resolve(projectDir, props.file);
  // Project paths are posix and relative: the same string on every machine, in the output metadata too.
  const lockfileDir =
    props.lockfileDir ?? (props.file === undefined ? undefined : path.posix.dirname(props.file));
  const sources: ManifestSources = {
    constructPath: context.nodePath,
    projectDir,
    source: file === undefined ? { document: props.treefile ?? {}, directory: projectDir } : { file },
    variables: props.variables,
    localRepos,
    lockfileDirectory: lockfileDir === undefined ? undefined : path.resolve(projectDir, lockfileDir),
    ...(reads ? { reads } : {}),
  };
  return { sources, arches: props.arches, lockfileDir };
}

/** `sources` as `arch`'s treefile sees them: without the local repositories built for another arch. */
function sourcesFor(sources: ManifestSources, arch: Arch): ManifestSources {
  const localRepos = sources.localRepos.filter((repo) => repo.arch === undefined || repo.arch === arch);
  return { ...sources, localRepos };
}

/** Flattens the treefile per arch and writes each arch's compose input directory. */
export default defineRunner(manifestKind, {
  timeoutSeconds: 300,

  /**
   * sha256 of every file the flattening reads (treefiles, .repo files, lockfiles,
   * postprocess-script, check files, add-files sources, ostree-layers directories), and the
   * add-files sources' modes, which the output records; a treefile error is recorded, not
   * thrown, so that run() reports it in the node's log.
   */
  async fingerprint(context) {
    const reads: ReadRecorder = new Map();
    const modes: Record<string, JsonValue> = {};
    let problem: string | undefined;
    try {
      const { sources, arches } = manifestSources(context, reads);
      for (const arch of arches) {
        const input = await prepareComposeInput(sourcesFor(sources, arch), arch);
        if (input.addFiles.length > 0)
          modes[arch] = input.addFiles.map((file) => [file.destination, file.mode.toString(8)]);
      }
    } catch (error) {
      if (!(error instanceof FcosError)) throw error;
      problem = error.message;
    }
    const fingerprint: Record<string, JsonValue> = { files: await digestReads(reads, context.projectDir) };
    // Only when there are add-files: the fingerprint of every other Manifest stays as it was.
    if (Object.keys(modes).length > 0) fingerprint.addFilesModes = modes;
    if (problem !== undefined) fingerprint.problem = problem;
    return fingerprint;
  },

  /** One `treefile-<arch>` tree per arch. */
  async run(context) {
    const { sources, arches, lockfileDir } = manifestSources(context);
    const outputs: Record<string, RunnerOutput> = {};
    for (const arch of arches) {
      const input = await prepareComposeInput(sourcesFor(sources, arch), arch);
      for (const warning of input.warnings) context.log(`treefile-${arch}: warning: ${warning}`);
      const directory = path.join(context.workDir, `treefile-${arch}`);
      await writeComposeInput(input, directory);
      const packages = (input.treefile.packages as string[] | undefined) ?? [];
      context.log(
        `treefile-${arch}: ref ${String(input.treefile.ref)}, ${packages.length} packages, repos ${input.repos.repos.join(' ') || '(none)'}, ${input.lockfile ? `${Object.keys(input.lockfile.packages).length} locked packages` : 'no lockfile'}, ${input.layers.length} layers, ${input.addFiles.length} add-files`,
      );
      outputs[`treefile-${arch}`] = {
        storage: 'tree',
        path: directory,
        metadata: composeInputMetadata(input, lockfileDir),
      };
    }
    return outputs;
  },
});
