/**
 * What the Manifest hands to a compose, per architecture: a self-contained directory
 *
 *   treefile.json        the flattened treefile (canonical JSON, sorted keys)
 *   repos.json           [definition, ...]: one per repository of `repos` and `lockfile-repos`
 *   lockfile.json        the merged lockfiles (only when there is one)
 *   postprocess-script   the treefile's postprocess-script (only when it has one)
 *   check-passwd         the passwd file of `check-passwd: {type: file}` (only then)
 *   check-groups         the group file of `check-groups: {type: file}` (only then)
 *   layers/overlay/NAME/ a copy of each ostree-layers directory
 *
 * In treefile.json, `postprocess-script` is `"postprocess-script"` and the check files'
 * `filename` is `"check-passwd"`/`"check-groups"` (relative to treefile.json, as rpm-ostree
 * resolves them), each `ostree-layers` entry is the ref `overlay/NAME` whose content is
 * `layers/overlay/NAME/` (the compose commits each to its ref first), and `repos` is explicit.
 */
import { existsSync, statSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Arch } from '../artifacts.ts';
import type { ArtifactMetadata } from '../runner.ts';
import { canonicalStringify, type JsonValue } from '../util/canonical-json.ts';
import type { VariableValue } from './conditions.ts';
import { displayPath, TreefilePathError } from './errors.ts';
import {
  CHECK_FILE_KEYS,
  type FlatTreefile,
  flattenTreefile,
  type ReadRecorder,
  type TreefileSource,
} from './flatten.ts';
import { type Lockfile, readLockfiles } from './lockfile.ts';
import type { TreefileObject } from './merge.ts';
import {
  type LocalRepoInput,
  type RemoteRepoDefinition,
  type RepoSet,
  readRepoSections,
  resolveRepos,
} from './repos.ts';

/** File names inside a compose input directory. */
export const COMPOSE_INPUT_FILES = {
  treefile: 'treefile.json',
  repos: 'repos.json',
  lockfile: 'lockfile.json',
  postprocessScript: 'postprocess-script',
  layers: 'layers',
} as const;

/** A file copied next to treefile.json. */
export interface CopiedFile {
  /** Its name in the compose input directory. */
  readonly name: string;
  /** The source file (absolute). */
  readonly source: string;
  /** Whether it is made executable (the postprocess-script). */
  readonly executable: boolean;
}

/** Everything the Manifest's flattening starts from. */
export interface ManifestSources {
  /** Construct path of the Manifest node, for errors. */
  readonly constructPath: string;
  /** Project directory. */
  readonly projectDir: string;
  /** The top-level treefile. */
  readonly source: TreefileSource;
  /** The Manifest's `variables` (override the treefiles'). */
  readonly variables: Readonly<Record<string, VariableValue>>;
  /** The local repository inputs. */
  readonly localRepos: readonly LocalRepoInput[];
  /** Absolute directory of the lockfiles, or undefined for none. */
  readonly lockfileDirectory: string | undefined;
  /**
   * Receives every file and directory read.
   * @default undefined
   */
  readonly reads?: ReadRecorder;
}

/** An ostree layer: the ref named in treefile.json and the directory copied under `layers/`. */
export interface OstreeLayer {
  /** `overlay/NAME`. */
  readonly ref: string;
  /** The source directory. */
  readonly directory: string;
}

/** A compose input, computed but not written. */
export interface ComposeInput {
  /** The architecture. */
  readonly arch: Arch;
  /** treefile.json's content. */
  readonly treefile: TreefileObject;
  /** The repositories: names per key, and repos.json's content (`definitions`). */
  readonly repos: RepoSet;
  /** lockfile.json's content, if any lockfile exists. */
  readonly lockfile: Lockfile | undefined;
  /** Files copied next to treefile.json (postprocess-script, check files). */
  readonly files: readonly CopiedFile[];
  /** The layers to copy. */
  readonly layers: readonly OstreeLayer[];
  /** Flattening's warnings (flatten.ts), for the node's log. */
  readonly warnings: readonly string[];
}

/** Flattens the treefile for `arch` and gathers its repositories and lockfiles. */
export async function prepareComposeInput(sources: ManifestSources, arch: Arch): Promise<ComposeInput> {
  const common = {
    constructPath: sources.constructPath,
    projectDir: sources.projectDir,
    reads: sources.reads,
  };
  const flat = await flattenTreefile({
    ...common,
    source: sources.source,
    arch,
    variables: sources.variables,
  });
  const sections = await readRepoSections(flat.directory, common);
  const lockfile =
    sources.lockfileDirectory === undefined
      ? undefined
      : await readLockfiles(checkLockfileDirectory(sources), arch, common);
  // rpm-ostree enables lockfile-repos only when a lockfile is loaded (lib/treefile/repos.ts).
  const repos = resolveRepos(flat, sections, sources.localRepos, lockfile !== undefined, common);
  const layers = layersOf(flat, sources);
  const treefile: TreefileObject = { ...flat.treefile, repos: repos.repos };
  if (flat.treefile['lockfile-repos'] !== undefined) treefile['lockfile-repos'] = repos.lockfileRepos;
  const files: CopiedFile[] = [];
  const script = flat.treefile['postprocess-script'];
  if (typeof script === 'string') {
    files.push({ name: COMPOSE_INPUT_FILES.postprocessScript, source: script, executable: true });
    treefile['postprocess-script'] = COMPOSE_INPUT_FILES.postprocessScript;
  }
  for (const key of CHECK_FILE_KEYS) {
    const check = flat.treefile[key] as { type?: unknown; filename?: unknown } | undefined;
    if (check?.type !== 'file' || typeof check.filename !== 'string') continue;
    files.push({ name: key, source: check.filename, executable: false });
    treefile[key] = { ...check, filename: key };
  }
  if (layers.length > 0) treefile['ostree-layers'] = layers.map((layer) => layer.ref);
  return { arch, treefile, repos, lockfile, files, layers, warnings: flat.warnings };
}

/** The lockfile directory, which must exist when it was given. */
function checkLockfileDirectory(sources: ManifestSources): string {
  const directory = sources.lockfileDirectory ?? '';
  if (!existsSync(directory) || !statSync(directory).isDirectory()) {
    throw new TreefilePathError(
      `lockfile directory ${displayPath(directory, sources.projectDir)} does not exist`,
      {
        constructPath: sources.constructPath,
        field: 'lockfileDir',
      },
    );
  }
  return directory;
}

/** The layers of the flattened treefile, each named `overlay/<directory name>`; a name used twice fails. */
function layersOf(flat: FlatTreefile, sources: ManifestSources): OstreeLayer[] {
  const directories = (flat.treefile['ostree-layers'] as string[] | undefined) ?? [];
  const layers: OstreeLayer[] = [];
  for (const directory of directories) {
    const ref = `overlay/${path.basename(directory)}`;
    const clash = layers.find((layer) => layer.ref === ref);
    if (clash) {
      const shown = (file: string) => displayPath(file, sources.projectDir);
      throw new TreefilePathError(
        `${flat.file}: ostree-layers: ${shown(clash.directory)} and ${shown(directory)} would both be layer '${ref}'${clash.directory === directory ? ' (the directory is listed twice)' : ''}`,
        { constructPath: sources.constructPath, file: flat.file, field: 'ostree-layers' },
      );
    }
    layers.push({ ref, directory });
  }
  return layers;
}

/** `value` as written to disk: canonical JSON, 2-space indent, final newline. */
function canonicalFile(value: unknown): string {
  return `${canonicalStringify(value, 2)}\n`;
}

/** Writes the compose input into `directory` (created; must not exist or be empty). */
export async function writeComposeInput(input: ComposeInput, directory: string): Promise<void> {
  await mkdir(directory, { recursive: true });
  await writeFile(path.join(directory, COMPOSE_INPUT_FILES.treefile), canonicalFile(input.treefile));
  await writeFile(path.join(directory, COMPOSE_INPUT_FILES.repos), canonicalFile(input.repos.definitions));
  if (input.lockfile) {
    await writeFile(path.join(directory, COMPOSE_INPUT_FILES.lockfile), canonicalFile(input.lockfile));
  }
  for (const file of input.files) {
    const target = path.join(directory, file.name);
    await copyFile(file.source, target);
    await chmod(target, file.executable ? 0o755 : 0o644);
  }
  for (const layer of input.layers) {
    await cp(layer.directory, path.join(directory, COMPOSE_INPUT_FILES.layers, layer.ref), {
      recursive: true,
      verbatimSymlinks: true,
    });
  }
}

/**
 * The output metadata of a compose input: arch, ref, releasever, automaticVersionPrefix (null when
 * unset), and the remote repositories' URLs, which the compose's fingerprint reads to fetch their
 * repomd.xml checksums before deciding whether to run.
 */
export function composeInputMetadata(input: ComposeInput): ArtifactMetadata {
  // A string or number of the treefile, else null.
  const pick = (key: string): JsonValue => {
    const value = input.treefile[key];
    return typeof value === 'string' || typeof value === 'number' ? value : null;
  };
  return {
    arch: input.arch,
    ref: pick('ref'),
    releasever: pick('releasever'),
    automaticVersionPrefix: pick('automatic-version-prefix'),
    remoteRepos: input.repos.definitions
      .filter((definition): definition is RemoteRepoDefinition => !definition.local)
      .map((definition) => ({
        name: definition.name,
        baseurl: [...definition.baseurl],
        metalink: definition.metalink ?? null,
        mirrorlist: definition.mirrorlist ?? null,
      })),
  };
}
