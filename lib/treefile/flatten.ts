/**
 * Treefile flattening for one architecture, as rpm-ostree's docs/treefile.md describes it: a
 * file's `include`s are merged first, then its `arch-include` entry for the arch, then each
 * `conditional-include` whose conditions hold (see merge.ts for the merge rules); then
 * `packages-<arch>` is appended to `packages`, every `packages-*` key dropped, and `${variables}`
 * substituted. Including a file twice is an error (the docs say so), and a cycle is reported
 * with its chain.
 *
 * Variables: a condition sees the variables known where it is written — the Manifest's
 * `variables` and `basearch` first, then those of the files including this one (the outer file
 * wins, as its values win the merge), then the file's own and those of the files it has merged
 * already. `releasever` is a variable too; `basearch` and `releasever` cannot be defined in
 * `variables` (the docs reserve them).
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Arch } from '../artifacts.ts';
import { evaluateConditions, type VariableValue } from './conditions.ts';
import { type DocumentOrigin, parseYamlOrJson, validateTreefileDocument } from './document.ts';
import { displayPath, TreefileIncludeError, TreefilePathError, TreefileVariableError } from './errors.ts';
import { mergeTreefiles, type TreefileObject } from './merge.ts';
import { substituteTreefile } from './substitute.ts';

/** Variables rpm-ostree fills in itself; a treefile or the Manifest may not define them. */
export const RESERVED_VARIABLES: readonly string[] = ['basearch', 'releasever'];

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
   * The flattened treefile. `postprocess-script`, the `filename` of `check-passwd`/`check-groups`
   * of type file, and `ostree-layers` are absolute paths: the compose input rewrites them to its
   * own copies.
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
}

/** State shared by one flattening. */
interface Walk {
  readonly options: FlattenOptions;
  /** Directory of the top-level treefile. */
  readonly topDirectory: string;
  /** Real path of every file included so far → the chain that included it. */
  readonly included: Map<string, string>;
  readonly repoReferences: Map<string, RepoReference>;
}

/** A string or list of strings as a list. */
function asList(value: string | readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : value;
}

/** `file` as shown in messages of this flattening. */
function show(walk: Walk, file: string): string {
  return displayPath(file, walk.options.projectDir);
}

/** The variables a treefile object defines: `variables`, plus `releasever` when set. */
function variablesOf(treefile: TreefileObject): Record<string, VariableValue> {
  const variables = { ...((treefile.variables as Record<string, VariableValue> | undefined) ?? {}) };
  const releasever = treefile.releasever;
  if (typeof releasever === 'string' || typeof releasever === 'number') variables.releasever = releasever;
  return variables;
}

/** Fails if `variables` defines a reserved name. */
function checkReservedVariables(
  variables: Readonly<Record<string, VariableValue>> | undefined,
  origin: DocumentOrigin,
  what: string,
): void {
  const reserved = Object.keys(variables ?? {}).find((name) => RESERVED_VARIABLES.includes(name));
  if (reserved === undefined) return;
  throw new TreefileVariableError(
    `${origin.file}: ${what} defines '${reserved}', which rpm-ostree reserves (${reserved === 'releasever' ? 'set the releasever key instead' : 'it is the target architecture'})`,
    { ...origin, field: `variables.${reserved}` },
  );
}

/** Flattens the top-level treefile for `options.arch`. */
export async function flattenTreefile(options: FlattenOptions): Promise<FlatTreefile> {
  const source = options.source;
  const inline = !('file' in source);
  const topDirectory = inline ? source.directory : path.dirname(source.file);
  const walk: Walk = { options, topDirectory, included: new Map(), repoReferences: new Map() };
  const display = inline ? '<inline treefile>' : show(walk, source.file);
  checkReservedVariables(
    options.variables,
    { constructPath: options.constructPath, file: display },
    "the Manifest's variables",
  );
  const inherited: Record<string, VariableValue> = { ...options.variables, basearch: options.arch };
  let merged: TreefileObject;
  if (inline) {
    const visit: Visit = { display, directory: topDirectory, chain: [display], realChain: [] };
    merged = await flattenDocument(source.document, visit, inherited, walk);
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
    const visit: Visit = { display, directory: topDirectory, chain: [display], realChain: [real] };
    merged = await flattenDocument(await readDocument(source.file, visit, walk), visit, inherited, walk);
  }
  return finish(merged, walk, display);
}

/** The merged treefile made final: packages of the arch, variables, substitution. */
function finish(merged: TreefileObject, walk: Walk, display: string): FlatTreefile {
  const { arch, constructPath } = walk.options;
  const declared = { ...variablesOf({ variables: merged.variables }), ...walk.options.variables };
  const variables: Record<string, VariableValue> = { ...declared, basearch: arch };
  if (typeof merged.releasever === 'string' || typeof merged.releasever === 'number') {
    variables.releasever = merged.releasever;
  }
  const result: TreefileObject = {};
  for (const [key, value] of Object.entries(merged)) {
    if (!key.startsWith('packages-') && key !== 'variables') result[key] = value;
  }
  if (Object.keys(declared).length > 0) result.variables = declared;
  const packageKeys = ['packages', `packages-${arch}`].filter((key) => merged[key] !== undefined);
  if (packageKeys.length > 0) {
    result.packages = packageKeys.flatMap((key) => merged[key] as string[]);
  }
  const substituted = substituteTreefile(result, variables, { constructPath, file: display });
  if (Array.isArray(substituted.packages))
    substituted.packages = splitPackages(substituted.packages as string[]);
  return {
    arch,
    treefile: substituted,
    directory: walk.topDirectory,
    file: display,
    variables,
    repoReferences: walk.repoReferences,
  };
}

/**
 * `packages` entries split at whitespace, as rpm-ostree does (`nano nano-default-editor`); an entry
 * in single quotes (`'podman >= 4.1'`) is kept whole, quotes included, as rpm-ostree reads it.
 */
export function splitPackages(entries: readonly string[]): string[] {
  return entries.flatMap((entry) => {
    const trimmed = entry.trim();
    if (trimmed.length >= 2 && trimmed.startsWith("'") && trimmed.endsWith("'")) return [trimmed];
    return trimmed.split(/\s+/).filter((word) => word !== '');
  });
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

/** Validates one document and merges its includes into it, recursively. */
async function flattenDocument(
  raw: unknown,
  visit: Visit,
  inherited: Readonly<Record<string, VariableValue>>,
  walk: Walk,
): Promise<TreefileObject> {
  const origin: DocumentOrigin = { constructPath: walk.options.constructPath, file: visit.display };
  const document = validateTreefileDocument(raw, origin);
  checkReservedVariables(document.variables, origin, 'variables');
  recordRepoReferences(document, visit, walk);
  let merged: TreefileObject = resolvePaths(document, visit, walk);
  for (const key of INCLUDE_KEYS) delete merged[key];
  const visible = { ...variablesOf(merged), ...inherited };
  for (const entry of asList(document.include)) {
    merged = mergeTreefiles(await includeFile(entry, 'include', visit, visible, walk), merged);
  }
  const arch = walk.options.arch;
  for (const entry of asList(document['arch-include']?.[arch])) {
    merged = mergeTreefiles(await includeFile(entry, `arch-include.${arch}`, visit, visible, walk), merged);
  }
  for (const [index, conditional] of (document['conditional-include'] ?? []).entries()) {
    const variables = { ...variablesOf(merged), ...inherited };
    const holds = evaluateConditions(conditional.if, variables, {
      ...origin,
      field: `conditional-include.${index}.if`,
    });
    if (!holds) continue;
    for (const entry of asList(conditional.include)) {
      const field = `conditional-include.${index}.include`;
      merged = mergeTreefiles(await includeFile(entry, field, visit, variables, walk), merged);
    }
  }
  return merged;
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

/** The document with `postprocess-script`, `ostree-layers` and check files made absolute (and checked). */
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
  inherited: Readonly<Record<string, VariableValue>>,
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
  };
  return flattenDocument(await readDocument(target, visit, walk), visit, inherited, walk);
}
