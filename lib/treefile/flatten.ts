/**
 * Treefile flattening for one architecture, in rpm-ostree's order (rust/src/treefile.rs
 * `treefile_parse_recurse` and `treefile_parse_and_process`):
 *
 * 1. each file is validated and processed on its own (prepare-document.ts: `basearch`,
 *    `packages-<arch>`, package specs, `container`, `edition`);
 * 2. its `variables` (with `basearch` and `releasever`) are folded into the variables collected so
 *    far, which win: the Manifest's `variables` first, then the files in the order they are read
 *    (a file, then its includes depth-first), so the top-level file's value of a variable wins;
 * 3. its includes are listed: `include`, then `arch-include` of the arch, then the files of each
 *    `conditional-include` whose conditions hold over the variables collected so far (an inline
 *    treefile there is merged at once); then each included file is flattened the same way and
 *    merged in that order (merge.ts has the rules per key);
 * 4. finally `variables` are the collected ones, `${name}` is substituted where rpm-ostree does
 *    (substitute.ts) and the result is checked as rpm-ostree's `validate_config` checks it.
 *
 * Including a file twice is an error (rpm-ostree: "Include loop detected"), a cycle is reported
 * with its chain, and includes nest at most {@link INCLUDE_MAX_DEPTH} deep.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Arch } from '../artifacts.ts';
import { evaluateConditions, type VariableValue } from './conditions.ts';
import {
  type DocumentOrigin,
  isJsonTreefile,
  parseYamlOrJson,
  validateTreefileDocument,
} from './document.ts';
import { displayPath, TreefileIncludeError, TreefilePathError, TreefileSchemaError } from './errors.ts';
import { mergeTreefiles, type TreefileObject } from './merge.ts';
import { checkReservedVariables, prepareDocument } from './prepare-document.ts';
import { substituteTreefile } from './substitute.ts';

export { RESERVED_VARIABLES } from './prepare-document.ts';

/** rpm-ostree's `INCLUDE_MAXDEPTH`: how deep includes may nest. */
export const INCLUDE_MAX_DEPTH = 50;

/** Keys that only steer flattening and are gone from its result. */
const INCLUDE_KEYS = ['include', 'arch-include', 'conditional-include'] as const;

/** The top-level treefile: a file (absolute path), or an inline document resolved in `directory`. */
export type TreefileSource =
  | { readonly file: string }
  | { readonly document: unknown; readonly directory: string };

/** What flattening read, by absolute path: the fingerprint hashes exactly these. */
export type ReadRecorder = Map<string, 'file' | 'directory'>;

/** Options of {@link flattenTreefile}. */
export interface FlattenOptions {
  /** Construct path of the Manifest node, for errors. */
  readonly constructPath: string;
  /** Project directory: files are named relative to it in messages. */
  readonly projectDir: string;
  /** The top-level treefile. */
  readonly source: TreefileSource;
  /** The architecture to flatten for (`basearch`). */
  readonly arch: Arch;
  /**
   * Variables overriding the treefiles' `variables`.
   * @default {}
   */
  readonly variables?: Readonly<Record<string, VariableValue>>;
  /**
   * Receives every file and directory read.
   * @default undefined (nothing recorded)
   */
  readonly reads?: ReadRecorder;
}

/** Where a repository name was first listed. */
export interface RepoReference {
  /** The treefile listing it, as shown in messages. */
  readonly file: string;
  /** The key listing it. */
  readonly key: 'repos' | 'lockfile-repos';
}

/** A treefile flattened for one architecture. */
export interface FlatTreefile {
  /** The architecture. */
  readonly arch: Arch;
  /**
   * The flattened treefile, with `basearch` and every variable (`variables`). `postprocess-script`,
   * the `filename` of `check-passwd`/`check-groups` of type file, `add-files` sources and
   * `ostree-layers` are absolute paths: the compose input rewrites them to its own copies.
   */
  readonly treefile: TreefileObject;
  /** Directory of the top-level treefile: `.repo` files and lockfiles are looked up there. */
  readonly directory: string;
  /** The top-level treefile as shown in messages (`<inline treefile>` for an inline one). */
  readonly file: string;
  /** Every variable substituted, `basearch` and `releasever` included. */
  readonly variables: Readonly<Record<string, VariableValue>>;
  /** Where each repository name of `repos` and `lockfile-repos` was first listed. */
  readonly repoReferences: ReadonlyMap<string, RepoReference>;
  /** What rpm-ostree would accept but is likely a mistake (unknown keys of a JSON file ...), one line each. */
  readonly warnings: readonly string[];
}

/** One treefile being processed, and how it was reached. */
interface Visit {
  /** As shown in messages. */
  readonly display: string;
  /** Its directory: its includes and paths are relative to it. */
  readonly directory: string;
  /** Display names from the top-level treefile to this one. */
  readonly chain: readonly string[];
  /** Real paths of the files of `chain` (the inline treefile has none). */
  readonly realChain: readonly string[];
  /** Whether rpm-ostree reads it as JSON. */
  readonly json: boolean;
}

/** State shared by one flattening. */
interface Walk {
  readonly options: FlattenOptions;
  /** Directory of the top-level treefile. */
  readonly topDirectory: string;
  /** Real path of every file included so far → the chain that included it. */
  readonly included: Map<string, string>;
  readonly repoReferences: Map<string, RepoReference>;
  /** The variables collected so far; the first value of a name wins. */
  readonly variables: Record<string, VariableValue>;
  readonly warnings: string[];
}

/** A string or list of strings as a list. */
function asList(value: unknown): readonly string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : (value as string[]);
}

/** `file` as shown in messages of this flattening. */
function show(walk: Walk, file: string): string {
  return displayPath(file, walk.options.projectDir);
}

/** Flattens the top-level treefile for `options.arch`. */
export async function flattenTreefile(options: FlattenOptions): Promise<FlatTreefile> {
  const source = options.source;
  const inline = !('file' in source);
  const topDirectory = inline ? source.directory : path.dirname(source.file);
  const walk: Walk = {
    options,
    topDirectory,
    included: new Map(),
    repoReferences: new Map(),
    variables: { ...options.variables },
    warnings: [],
  };
  const display = inline ? '<inline treefile>' : show(walk, source.file);
  checkReservedVariables(
    options.variables,
    { constructPath: options.constructPath, file: display },
    "the Manifest's variables",
  );
  let merged: TreefileObject;
  if (inline) {
    const visit: Visit = { display, directory: topDirectory, chain: [display], realChain: [], json: false };
    merged = await flattenDocument(source.document, visit, 0, walk);
  } else {
    if (!isFile(source.file)) {
      throw new TreefileIncludeError(`treefile ${display} does not exist`, {
        constructPath: options.constructPath,
        file: display,
        field: 'file',
      });
    }
    const real = await realpath(source.file);
    walk.included.set(real, display);
    const visit: Visit = {
      display,
      directory: topDirectory,
      chain: [display],
      realChain: [real],
      json: isJsonTreefile(source.file),
    };
    merged = await flattenDocument(await readDocument(source.file, visit, walk), visit, 0, walk);
  }
  return finish(merged, walk, display);
}

/** The merged treefile made final: the collected variables, substitution, rpm-ostree's checks. */
function finish(merged: TreefileObject, walk: Walk, display: string): FlatTreefile {
  const { arch, constructPath } = walk.options;
  const location = { constructPath, file: display };
  const variables: Record<string, VariableValue> = { ...walk.variables };
  const substituted = substituteTreefile({ ...merged, variables }, variables, location);
  validateFlattened(substituted, location);
  const warnings = [...walk.warnings];
  for (const spec of (substituted.packages as string[] | undefined) ?? []) {
    if (spec.includes('${')) {
      warnings.push(
        `${display}: packages: '${spec}' is not substituted: rpm-ostree substitutes variables in ref, rojig, metadata, add-commit-metadata, automatic-version-prefix, mutate-os-release and platform-module only`,
      );
    }
  }
  return {
    arch,
    treefile: substituted,
    directory: walk.topDirectory,
    file: display,
    variables,
    repoReferences: walk.repoReferences,
    warnings,
  };
}

/**
 * Whether `destination` is a path `add-files` may write (rpm-ostree's `add_files_path_is_valid`):
 * under /usr (not /usr/local), /etc, /bin, /sbin, /lib or /lib64.
 */
function isAddFilesDestination(destination: string): boolean {
  const relative = destination.replace(/^\/+/, '');
  return (
    (relative.startsWith('usr/') && !relative.startsWith('usr/local/')) ||
    ['etc/', 'bin/', 'sbin/', 'lib/', 'lib64/'].some((prefix) => relative.startsWith(prefix))
  );
}

/**
 * rpm-ostree's checks of the flattened treefile (`validate_config`, `validate_base_config`,
 * `sanitycheck_externals`' `units` check): `add-files` destinations, a one-character ASCII
 * `automatic-version-suffix`, `repovars` without `releasever`/`basearch`,
 * `selinux-label-version` 0 or 1, and no `units` with `machineid-compat: false`.
 */
function validateFlattened(treefile: TreefileObject, location: DocumentOrigin): void {
  // An error about `field` of the flattened treefile.
  const fail = (field: string, message: string): never => {
    throw new TreefileSchemaError(`${location.file}: key '${field}': ${message}`, { ...location, field });
  };
  for (const [index, entry] of ((treefile['add-files'] as [string, string][] | undefined) ?? []).entries()) {
    if (!isAddFilesDestination(entry[1]))
      fail(
        `add-files.${index}`,
        `unsupported path ${entry[1]} (rpm-ostree writes under /usr, /etc, /bin, /sbin, /lib or /lib64 only)`,
      );
  }
  const suffix = treefile['automatic-version-suffix'];
  if (typeof suffix === 'string' && !(suffix.length === 1 && suffix.charCodeAt(0) < 0x80))
    fail('automatic-version-suffix', `'${suffix}' must be exactly one ASCII character`);
  const repovars = (treefile.repovars as Record<string, string> | undefined) ?? {};
  if (Object.hasOwn(repovars, 'releasever'))
    fail('repovars.releasever', 'invalid; use the releasever key instead');
  if (Object.hasOwn(repovars, 'basearch'))
    fail('repovars.basearch', 'invalid; it is filled in from the arch');
  const labelVersion = treefile['selinux-label-version'];
  if (typeof labelVersion === 'number' && labelVersion > 1)
    fail('selinux-label-version', `invalid selinux-label-version ${labelVersion} (0 or 1)`);
  const units = (treefile.units as string[] | undefined) ?? [];
  if (treefile['machineid-compat'] === false && units.length > 0)
    fail('units', "the 'units' key is incompatible with machineid-compat: false");
}

/** Whether `file` is an existing regular file (following symlinks). */
function isFile(file: string): boolean {
  return existsSync(file) && statSync(file).isFile();
}

/** Whether `directory` is an existing directory (following symlinks). */
function isDirectory(directory: string): boolean {
  return existsSync(directory) && statSync(directory).isDirectory();
}

/** Reads and parses one treefile file, recording the read. */
async function readDocument(file: string, visit: Visit, walk: Walk): Promise<unknown> {
  walk.options.reads?.set(file, 'file');
  const text = await readFile(file, 'utf8');
  return parseYamlOrJson(text, { constructPath: walk.options.constructPath, file: visit.display });
}

/** Validates and prepares one document, folds its variables, and merges its includes into it, recursively. */
async function flattenDocument(
  raw: unknown,
  visit: Visit,
  depth: number,
  walk: Walk,
): Promise<TreefileObject> {
  const origin: DocumentOrigin = { constructPath: walk.options.constructPath, file: visit.display };
  const validated = validateTreefileDocument(raw, origin, { json: visit.json });
  walk.warnings.push(...validated.warnings);
  const prepared = prepareDocument(validated, walk.options.arch, origin);
  recordRepoReferences(prepared.treefile, visit, walk);
  let merged: TreefileObject = resolvePaths(prepared.treefile, visit, walk);
  for (const key of INCLUDE_KEYS) delete merged[key];
  // rpm-ostree: "fold in all new variables", the ones collected earlier winning.
  for (const [name, value] of Object.entries(prepared.variables)) {
    if (!Object.hasOwn(walk.variables, name)) walk.variables[name] = value;
  }
  const document = prepared.treefile;
  const includes: Array<{ readonly entry: string; readonly field: string }> = [];
  for (const entry of asList(document.include)) includes.push({ entry, field: 'include' });
  const arch = walk.options.arch;
  const archIncludes = document['arch-include'] as Record<string, unknown> | undefined;
  for (const entry of asList(archIncludes?.[arch])) includes.push({ entry, field: `arch-include.${arch}` });
  const conditionals =
    (document['conditional-include'] as Array<{ if: string | string[]; include: unknown }>) ?? [];
  for (const [index, conditional] of conditionals.entries()) {
    const holds = evaluateConditions(conditional.if, walk.variables, {
      ...origin,
      field: `conditional-include.${index}.if`,
    });
    if (!holds) continue;
    const field = `conditional-include.${index}.include`;
    const include = conditional.include;
    if (typeof include === 'object' && include !== null && !Array.isArray(include)) {
      merged = mergeTreefiles(inlineInclude(include, origin, field, visit, walk), merged);
    } else {
      for (const entry of asList(include)) includes.push({ entry, field });
    }
  }
  for (const { entry, field } of includes) {
    if (depth === INCLUDE_MAX_DEPTH) {
      throw new TreefileIncludeError(
        `${visit.display}: ${field}: reached the maximum include depth ${INCLUDE_MAX_DEPTH}; include chain: ${visit.chain.join(' -> ')}`,
        { ...origin, field },
      );
    }
    merged = mergeTreefiles(await includeFile(entry, field, visit, depth + 1, walk), merged);
  }
  return merged;
}

/**
 * An inline treefile of a `conditional-include`, ready to merge. rpm-ostree merges it as
 * deserialized; we also split its package specs and take its `packages-<arch>` (rpm-ostree would
 * hand an unsplit `a b` to its depsolver, which cannot find such a package, and drop
 * `packages-<arch>`). Its `variables` are not collected, as in rpm-ostree.
 */
function inlineInclude(
  include: object,
  origin: DocumentOrigin,
  field: string,
  visit: Visit,
  walk: Walk,
): TreefileObject {
  const inlineOrigin = { ...origin, file: `${origin.file} (${field})` };
  const validated = validateTreefileDocument(include, inlineOrigin);
  const prepared = prepareDocument(validated, walk.options.arch, inlineOrigin);
  const treefile: TreefileObject = { ...prepared.treefile };
  delete treefile.variables;
  recordRepoReferences(treefile, visit, walk);
  return resolvePaths(treefile, visit, walk);
}

/** Remembers the first file listing each repository name. */
function recordRepoReferences(document: Record<string, unknown>, visit: Visit, walk: Walk): void {
  for (const key of ['repos', 'lockfile-repos'] as const) {
    for (const name of (document[key] as string[] | undefined) ?? []) {
      if (!walk.repoReferences.has(name)) walk.repoReferences.set(name, { file: visit.display, key });
    }
  }
}

/** Keys whose `{type: "file", filename}` names a file next to the treefile. */
export const CHECK_FILE_KEYS = ['check-passwd', 'check-groups'] as const;

/**
 * The document with `postprocess-script`, `ostree-layers`, check files and `add-files` sources
 * made absolute (and checked).
 */
function resolvePaths(document: Record<string, unknown>, visit: Visit, walk: Walk): TreefileObject {
  const resolved: TreefileObject = { ...document };
  const location = { constructPath: walk.options.constructPath, file: visit.display };
  const script = document['postprocess-script'];
  if (typeof script === 'string') {
    const file = path.resolve(visit.directory, script);
    if (!isFile(file)) {
      throw new TreefilePathError(
        `${visit.display}: key 'postprocess-script': ${show(walk, file)} is not a file`,
        { ...location, field: 'postprocess-script' },
      );
    }
    walk.options.reads?.set(file, 'file');
    resolved['postprocess-script'] = file;
  }
  for (const key of CHECK_FILE_KEYS) {
    const check = document[key];
    if (typeof check !== 'object' || check === null || (check as { type?: unknown }).type !== 'file')
      continue;
    const filename = (check as { filename?: unknown }).filename;
    const file = typeof filename === 'string' ? path.resolve(visit.directory, filename) : undefined;
    if (file === undefined || !isFile(file)) {
      throw new TreefilePathError(
        `${visit.display}: key '${key}.filename': ${file === undefined ? 'type "file" needs a filename' : `${show(walk, file)} is not a file`}`,
        { ...location, field: `${key}.filename` },
      );
    }
    walk.options.reads?.set(file, 'file');
    resolved[key] = { ...check, filename: file };
  }
  const addFiles = document['add-files'];
  if (Array.isArray(addFiles)) {
    // rpm-ostree opens each source next to the treefile naming it (treefile.rs `add_files`).
    resolved['add-files'] = addFiles.map(([source, destination]: [string, string], index) => {
      const file = path.resolve(visit.directory, source);
      if (!isFile(file)) {
        throw new TreefilePathError(
          `${visit.display}: key 'add-files.${index}': ${show(walk, file)} is not a file`,
          { ...location, field: `add-files.${index}` },
        );
      }
      walk.options.reads?.set(file, 'file');
      return [file, destination];
    });
  }
  const layers = document['ostree-layers'];
  if (Array.isArray(layers)) {
    resolved['ostree-layers'] = layers.map((entry: string, index) => {
      const directory = resolveLayerDirectory(entry, visit.directory, walk.topDirectory);
      if (directory === undefined) {
        throw new TreefilePathError(
          `${visit.display}: key 'ostree-layers.${index}': '${entry}' is not a directory next to the treefile${entry.startsWith('overlay/') ? ' (nor overlay.d/ of the top-level treefile)' : ''}`,
          { ...location, field: `ostree-layers.${index}` },
        );
      }
      walk.options.reads?.set(directory, 'directory');
      return directory;
    });
  }
  return resolved;
}

/**
 * The directory of an `ostree-layers` entry: relative to the treefile naming it; an entry
 * `overlay/NAME` that is not a directory there is coreos-assembler's name for the directory
 * `overlay.d/NAME` next to the top-level treefile (fedora-coreos-config writes them so).
 */
function resolveLayerDirectory(entry: string, directory: string, topDirectory: string): string | undefined {
  const direct = path.resolve(directory, entry);
  if (isDirectory(direct)) return direct;
  const match = /^overlay\/([^/]+)$/.exec(entry);
  if (!match) return undefined;
  const overlay = path.join(topDirectory, 'overlay.d', match[1] ?? '');
  return isDirectory(overlay) ? overlay : undefined;
}

/** Reads, checks and flattens the file `entry` included by `parent` under `field`. */
async function includeFile(
  entry: string,
  field: string,
  parent: Visit,
  depth: number,
  walk: Walk,
): Promise<TreefileObject> {
  const target = path.resolve(parent.directory, entry);
  const display = show(walk, target);
  const chain = [...parent.chain, display];
  const location = { constructPath: walk.options.constructPath, file: parent.display, field };
  if (!isFile(target)) {
    throw new TreefileIncludeError(
      `${parent.display}: ${field}: '${entry}' (${display}) ${existsSync(target) ? 'is not a file' : 'does not exist'}; include chain: ${chain.join(' -> ')}`,
      location,
    );
  }
  const real = await realpath(target);
  const cycleStart = parent.realChain.indexOf(real);
  if (cycleStart >= 0) {
    const offset = parent.chain.length - parent.realChain.length;
    const cycle = [...parent.chain.slice(cycleStart + offset), display];
    throw new TreefileIncludeError(
      `${parent.display}: ${field}: include cycle: ${cycle.join(' -> ')}`,
      location,
    );
  }
  const earlier = walk.included.get(real);
  if (earlier !== undefined) {
    throw new TreefileIncludeError(
      `${parent.display}: ${field}: ${display} is included twice, which rpm-ostree forbids: by ${earlier} and by ${chain.join(' -> ')}`,
      location,
    );
  }
  walk.included.set(real, chain.join(' -> '));
  const visit: Visit = {
    display,
    directory: path.dirname(target),
    chain,
    realChain: [...parent.realChain, real],
    json: isJsonTreefile(target),
  };
  return flattenDocument(await readDocument(target, visit, walk), visit, depth, walk);
}
