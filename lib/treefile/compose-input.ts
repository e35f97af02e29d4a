/**
 * What the Manifest hands to a compose, per architecture: a self-contained directory
 *
 *   treefile.json        the flattened treefile (canonical JSON, sorted keys)
 *   repos.json           [definition, ...]: one per repository of `repos` and `lockfile-repos`
 *   lockfile.json        the merged lockfiles (only when there is one)
 *   postprocess-script   the treefile's postprocess-script (only when it has one)
 *   check-passwd         the passwd file of `check-passwd: {type: file}` (only then)
 *   check-groups         the group file of `check-groups: {type: file}` (only then)
 *   add-files/N          the source of the treefile's Nth `add-files` entry
 *   add-files.json       [{file: "add-files/N", destination, mode}, ...]: each source's mode,
 *                        which rpm-ostree gives the added file and a cache does not keep
 *   layers/overlay/NAME/ a copy of each ostree-layers directory
 *
 * In treefile.json, `postprocess-script` is `"postprocess-script"` and the check files'
 * `filename` is `"check-passwd"`/`"check-groups"` and each `add-files` source is
 * `"add-files/N"` (relative to treefile.json, as rpm-ostree resolves them), each `ostree-layers` entry is the ref `overlay/NAME` whose content is
 * `layers/overlay/NAME/` (the compose commits each to its ref first), and `repos` is explicit.
 *
 * This module is the format's one definition: the Manifest writes it (prepareComposeInput,
 * writeComposeInput, composeInputMetadata) and the compose reads it (readComposeInput,
 * readComposeInputMetadata) with the zod shapes below.
 */
import { existsSync, statSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Arch } from '../artifacts.ts';
import { FcosError } from '../errors.ts';
import type { ArtifactMetadata } from '../runner.ts';
import { canonicalStringify, jsonValueSchema } from '../util/canonical-json.ts';
import type { VariableValue } from './conditions.ts';
import { displayPath, TreefilePathError } from './errors.ts';
import {
  CHECK_FILE_KEYS,
  type FlatTreefile,
  flattenTreefile,
  type ReadRecorder,
  type TreefileSource,
} from './flatten.ts';
import { type Lockfile, lockfileSchema, readLockfiles } from './lockfile.ts';
import type { TreefileObject } from './merge.ts';
import {
  type LocalRepoInput,
  type RemoteRepoDefinition,
  type RepoSet,
  readRepoSections,
  resolveRepos,
} from './repos.ts';
import { checkGroupsSchema, checkPasswdSchema } from './schema.ts';

/** File names inside a compose input directory. */
export const COMPOSE_INPUT_FILES = {
  treefile: 'treefile.json',
  repos: 'repos.json',
  lockfile: 'lockfile.json',
  postprocessScript: 'postprocess-script',
  layers: 'layers',
  addFiles: 'add-files',
  addFilesModes: 'add-files.json',
} as const;

/** A file copied next to treefile.json. */
export interface CopiedFile {
  /** Its name in the compose input directory. */
  readonly name: string;
  /** The source file (absolute). */
  readonly source: string;
  /** Its permission bits: 0755 for the postprocess-script, 0644 for check files, the source's for add-files. */
  readonly mode: number;
}

/** One `add-files` entry as the compose reads it. */
export interface AddFile {
  /** The source: `add-files/N` as written in add-files.json, absolute as the compose reads it. */
  readonly file: string;
  /** Where it goes in the tree (absolute, as in the treefile). */
  readonly destination: string;
  /** The permission bits rpm-ostree gives it: the source file's. */
  readonly mode: number;
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
  /** Files copied next to treefile.json (postprocess-script, check files, add-files sources). */
  readonly files: readonly CopiedFile[];
  /** The `add-files` entries, in treefile order (add-files.json's content). */
  readonly addFiles: readonly AddFile[];
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
    files.push({ name: COMPOSE_INPUT_FILES.postprocessScript, source: script, mode: 0o755 });
    treefile['postprocess-script'] = COMPOSE_INPUT_FILES.postprocessScript;
  }
  for (const key of CHECK_FILE_KEYS) {
    const check = flat.treefile[key] as { type?: unknown; filename?: unknown } | undefined;
    if (check?.type !== 'file' || typeof check.filename !== 'string') continue;
    files.push({ name: key, source: check.filename, mode: 0o644 });
    treefile[key] = { ...check, filename: key };
  }
  const addFiles: AddFile[] = [];
  for (const [index, [source, destination]] of (
    (flat.treefile['add-files'] as Array<[string, string]> | undefined) ?? []
  ).entries()) {
    const file = `${COMPOSE_INPUT_FILES.addFiles}/${index}`;
    // rpm-ostree copies the source's permission bits (composepost.rs compose_postprocess_add_files).
    const mode = (await stat(source)).mode & 0o7777;
    files.push({ name: file, source, mode });
    addFiles.push({ file, destination, mode });
  }
  if (addFiles.length > 0) treefile['add-files'] = addFiles.map((entry) => [entry.file, entry.destination]);
  if (layers.length > 0) treefile['ostree-layers'] = layers.map((layer) => layer.ref);
  return { arch, treefile, repos, lockfile, files, addFiles, layers, warnings: flat.warnings };
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
  // Typed as the compose reads them: a definition it could not parse does not compile here.
  const definitions: readonly RepoDefinitionAsRead[] = input.repos.definitions;
  await writeFile(path.join(directory, COMPOSE_INPUT_FILES.repos), canonicalFile(definitions));
  if (input.lockfile) {
    await writeFile(path.join(directory, COMPOSE_INPUT_FILES.lockfile), canonicalFile(input.lockfile));
  }
  for (const file of input.files) {
    const target = path.join(directory, file.name);
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(file.source, target);
    await chmod(target, file.mode);
  }
  if (input.addFiles.length > 0) {
    const entries: readonly AddFileAsRead[] = input.addFiles;
    await writeFile(path.join(directory, COMPOSE_INPUT_FILES.addFilesModes), canonicalFile(entries));
  }
  for (const layer of input.layers) {
    await cp(layer.directory, path.join(directory, COMPOSE_INPUT_FILES.layers, layer.ref), {
      recursive: true,
      verbatimSymlinks: true,
    });
  }
}

/** The remote repositories' URLs in the metadata: what the compose's fingerprint fetches repomd.xml from. */
const remoteRepoUrlsSchema = z
  .object({
    name: z.string().min(1),
    baseurl: z.array(z.string()),
    metalink: z.string().nullable(),
    mirrorlist: z.string().nullable(),
  })
  .strict();

/**
 * The output metadata of a compose input. Read leniently (a default for each key) because a
 * compose's treefile input may come from a producer other than the Manifest.
 */
export const composeInputMetadataSchema = z.object({
  /** The architecture the treefile was flattened for. */
  arch: z.string().nullable().default(null),
  /** The treefile's `ref`. */
  ref: z.string().nullable().default(null),
  /** The treefile's `releasever`. */
  releasever: z.union([z.string(), z.number()]).nullable().default(null),
  /** The treefile's `automatic-version-prefix`, unexpanded. */
  automaticVersionPrefix: z.string().nullable().default(null),
  /** The remote repositories of `repos` and `lockfile-repos`. */
  remoteRepos: z.array(remoteRepoUrlsSchema).default([]),
  /**
   * Where the Manifest reads its lockfiles, relative to the project: `lockfileDir`, else the
   * directory of its `file`; null for an inline treefile. `fcos-run --update-lockfiles` writes
   * the compose's `manifest-lock.<arch>.json` there.
   */
  lockfileDir: z.string().nullable().default(null),
});

/** The output metadata of a compose input, as read. */
export type ComposeInputMetadata = z.output<typeof composeInputMetadataSchema>;

/**
 * The output metadata of a compose input: arch, ref, releasever, automaticVersionPrefix (null when
 * unset), the remote repositories' URLs, which the compose's fingerprint reads to fetch their
 * repomd.xml checksums before deciding whether to run, and the project-relative lockfile
 * directory (null when there is none).
 */
export function composeInputMetadata(input: ComposeInput, lockfileDir: string | undefined): ArtifactMetadata {
  // A string or number of the treefile, else null.
  const pick = (key: string): string | number | null => {
    const value = input.treefile[key];
    return typeof value === 'string' || typeof value === 'number' ? value : null;
  };
  const automaticVersionPrefix = pick('automatic-version-prefix');
  const metadata: ComposeInputMetadata = {
    arch: input.arch,
    ref: typeof input.treefile.ref === 'string' ? input.treefile.ref : null,
    releasever: pick('releasever'),
    automaticVersionPrefix: typeof automaticVersionPrefix === 'string' ? automaticVersionPrefix : null,
    remoteRepos: input.repos.definitions
      .filter((definition): definition is RemoteRepoDefinition => !definition.local)
      .map((definition) => ({
        name: definition.name,
        baseurl: [...definition.baseurl],
        metalink: definition.metalink ?? null,
        mirrorlist: definition.mirrorlist ?? null,
      })),
    lockfileDir: lockfileDir ?? null,
  };
  return metadata;
}

/** A compose input's metadata as the compose reads it; a malformed one names the node and the key. */
export function readComposeInputMetadata(
  metadata: ArtifactMetadata,
  constructPath: string,
): ComposeInputMetadata {
  const parsed = composeInputMetadataSchema.safeParse(metadata);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ComposeInputError(`the treefile input's metadata: ${issue?.path.join('.')}: ${issue?.message}`, {
    constructPath,
    field: 'treefile',
  });
}

/** A compose input the compose cannot read (no treefile.json, a malformed repos.json ...). */
export class ComposeInputError extends FcosError {}

/** The flattened treefile as the compose reads treefile.json: the keys it acts on, every other kept. */
export const composeTreefileSchema = z
  .object({
    ref: z.string().min(1, 'the treefile has no ref'),
    releasever: z.union([z.string(), z.number()]).optional(),
    packages: z.array(z.string()).default([]),
    'exclude-packages': z.array(z.string()).default([]),
    repos: z.array(z.string()).default([]),
    'lockfile-repos': z.array(z.string()).default([]),
    postprocess: z.array(z.string()).default([]),
    'remove-files': z.array(z.string()).default([]),
    'remove-from-packages': z.array(z.array(z.string())).default([]),
    'add-commit-metadata': z.record(z.string(), jsonValueSchema).default({}),
    'automatic-version-prefix': z.string().optional(),
    'mutate-os-release': z.string().optional(),
    'ostree-layers': z.array(z.string()).default([]),
    // Absent means `previous`, rpm-ostree's default (treefile.rs get_check_passwd).
    'check-passwd': checkPasswdSchema.optional(),
    'check-groups': checkGroupsSchema.optional(),
    'ignore-removed-users': z.array(z.string()).optional(),
    'ignore-removed-groups': z.array(z.string()).optional(),
    'add-files': z.array(z.tuple([z.string(), z.string()])).default([]),
  })
  .loose();

/** treefile.json as read. */
export type ComposeTreefile = z.output<typeof composeTreefileSchema>;

/**
 * One definition of repos.json as the compose reads it: a local repository (found among the
 * compose's inputs by name) or a `.repo` section, of which only the URLs matter to the compose.
 */
export const repoDefinitionSchema = z.discriminatedUnion('local', [
  z.object({
    name: z.string().min(1),
    local: z.literal(true),
    digest: z.string().optional(),
  }),
  z.object({
    name: z.string().min(1),
    local: z.literal(false),
    baseurl: z.array(z.string()).readonly().default([]),
    metalink: z.string().optional(),
    mirrorlist: z.string().optional(),
  }),
]);

/** One entry of add-files.json. */
const addFileSchema = z
  .object({
    file: z.string().min(1),
    destination: z.string().min(1),
    mode: z.int().min(0).max(0o7777),
  })
  .strict();

/** What an add-files.json entry must be for the compose to read it. */
type AddFileAsRead = z.input<typeof addFileSchema>;

/** What a repos.json definition must be for the compose to read it. */
type RepoDefinitionAsRead = z.input<typeof repoDefinitionSchema>;

/** A repos.json definition, as read. */
export type ComposeRepoDefinition = z.output<typeof repoDefinitionSchema>;

/** A compose input directory as the compose reads it. */
export interface ComposeInputContents {
  /** The directory (read-only). */
  readonly directory: string;
  /** treefile.json. */
  readonly treefile: ComposeTreefile;
  /** treefile.json's path (rpm-ostree resolves the treefile's relative paths next to it). */
  readonly treefileFile: string;
  /** repos.json (empty when absent). */
  readonly repoDefinitions: readonly ComposeRepoDefinition[];
  /** lockfile.json, when the Manifest found lockfiles. */
  readonly lockfile: Lockfile | undefined;
  /** lockfile.json's path, when there is one. */
  readonly lockfileFile: string | undefined;
  /** The content of the postprocess-script, when the treefile has one. */
  readonly postprocessScript: string | undefined;
  /** Each ostree-layers ref with the directory holding its content. */
  readonly layers: readonly OstreeLayer[];
  /** The `add-files` entries, in treefile order; `file` is absolute here. */
  readonly addFiles: readonly AddFile[];
}

/** Reads and validates one JSON file of a compose input; undefined when it does not exist. */
async function readInputJson<T>(
  directory: string,
  name: string,
  schema: z.ZodType<T>,
  constructPath: string,
): Promise<T | undefined> {
  const file = path.join(directory, name);
  if (!existsSync(file)) return undefined;
  const parsed = schema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ComposeInputError(
      `${name} of the treefile input: ${issue?.path.join('.')}: ${issue?.message}`,
      {
        constructPath,
        field: 'treefile',
      },
    );
  }
  return parsed.data;
}

/** Reads a compose input directory written by {@link writeComposeInput} (errors name `constructPath`). */
export async function readComposeInput(
  directory: string,
  constructPath: string,
): Promise<ComposeInputContents> {
  const treefile = await readInputJson(
    directory,
    COMPOSE_INPUT_FILES.treefile,
    composeTreefileSchema,
    constructPath,
  );
  if (!treefile) {
    throw new ComposeInputError(`the treefile input has no ${COMPOSE_INPUT_FILES.treefile}`, {
      constructPath,
      field: 'treefile',
    });
  }
  const repoDefinitions =
    (await readInputJson(
      directory,
      COMPOSE_INPUT_FILES.repos,
      z.array(repoDefinitionSchema),
      constructPath,
    )) ?? [];
  const lockfile = await readInputJson(
    directory,
    COMPOSE_INPUT_FILES.lockfile,
    lockfileSchema,
    constructPath,
  );
  const scriptFile = path.join(directory, COMPOSE_INPUT_FILES.postprocessScript);
  const modes =
    (await readInputJson(
      directory,
      COMPOSE_INPUT_FILES.addFilesModes,
      z.array(addFileSchema),
      constructPath,
    )) ?? [];
  const addFiles: AddFile[] = [];
  for (const [index, [source, destination]] of treefile['add-files'].entries()) {
    // Sources are relative to treefile.json, as rpm-ostree reads them.
    const file = path.resolve(directory, source);
    if (!existsSync(file)) {
      throw new ComposeInputError(`the treefile input has no ${source} (add-files.${index})`, {
        constructPath,
        field: 'treefile',
      });
    }
    // Another producer may give no modes: then the file's own, as rpm-ostree would take.
    const mode = modes.find((entry) => entry.file === source)?.mode ?? (await stat(file)).mode & 0o7777;
    addFiles.push({ file, destination, mode });
  }
  return {
    directory,
    treefile,
    treefileFile: path.join(directory, COMPOSE_INPUT_FILES.treefile),
    repoDefinitions,
    lockfile,
    lockfileFile: lockfile === undefined ? undefined : path.join(directory, COMPOSE_INPUT_FILES.lockfile),
    postprocessScript: existsSync(scriptFile) ? await readFile(scriptFile, 'utf8') : undefined,
    layers: treefile['ostree-layers'].map((ref) => ({
      ref,
      directory: path.join(directory, COMPOSE_INPUT_FILES.layers, ref),
    })),
    addFiles,
  };
}
