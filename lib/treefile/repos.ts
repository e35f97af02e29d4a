/**
 * Repository definitions for the names in `repos` and `lockfile-repos`: a local repository built
 * by the pipeline (an input of the Manifest, found by its name), else a section of a `*.repo` file
 * next to the top-level treefile (docs/treefile.md: "from any files that end in .repo, in the
 * same directory as the treefile"), with `$basearch` and `$releasever` substituted as dnf does.
 * A treefile without `repos` uses every enabled repository, as rpm-ostree documents.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { VariableValue } from './conditions.ts';
import { displayPath, RepoDefinitionError } from './errors.ts';
import type { FlatTreefile, ReadRecorder } from './flatten.ts';
import { parseRepoFile, type RepoFileSection } from './repo-files.ts';

/** A repository built by the pipeline: the compose finds its directory among its own inputs. */
export interface LocalRepoDefinition {
  /** Repository id (the LocalPackageRepo's `name`). */
  readonly name: string;
  /** Always true. */
  readonly local: true;
  /** Digest of the repository artifact the treefile was flattened with. */
  readonly digest: string;
}

/** A repository defined by a `.repo` file. */
export interface RemoteRepoDefinition {
  /** Repository id (the `[id]` of its section). */
  readonly name: string;
  /** Always false. */
  readonly local: false;
  /** The `.repo` file defining it, relative to the top-level treefile's directory. */
  readonly file: string;
  /** Its `name=` (a human-readable title), if set. */
  readonly description?: string;
  /** `baseurl=` URLs (split at commas and whitespace). */
  readonly baseurl: readonly string[];
  /** `metalink=`, if set. */
  readonly metalink?: string;
  /** `mirrorlist=`, if set. */
  readonly mirrorlist?: string;
  /** `enabled=` (default true). */
  readonly enabled: boolean;
  /** `gpgcheck=` (default false, as in dnf). */
  readonly gpgcheck: boolean;
  /** `gpgkey=` URLs (split at commas and whitespace). */
  readonly gpgkey: readonly string[];
  /** Every other option, substituted, by key (`repo_gpgcheck`, `skip_if_unavailable` ...). */
  readonly options: Readonly<Record<string, string>>;
}

/** A repository definition. */
export type RepoDefinition = LocalRepoDefinition | RemoteRepoDefinition;

/** The repositories a flattened treefile uses: names per key, and one definition per name. */
export interface RepoSet {
  /** Names of `repos`, each once (every enabled repository when the treefile has no `repos`). */
  readonly repos: readonly string[];
  /** Names of `lockfile-repos`, each once. */
  readonly lockfileRepos: readonly string[];
  /** The content of `repos.json`: a definition per name of `repos` then `lockfile-repos`, each once. */
  readonly definitions: readonly RepoDefinition[];
}

/** A local repository input of the Manifest. */
export interface LocalRepoInput {
  /** Its name (the producer's `metadata.name`). */
  readonly name: string;
  /** Its artifact digest. */
  readonly digest: string;
}

/** Options of {@link readRepoSections} and {@link resolveRepos}. */
export interface RepoOptions {
  /** Construct path of the Manifest node, for errors. */
  readonly constructPath: string;
  /** Project directory: files are named relative to it in messages. */
  readonly projectDir: string;
  /**
   * Receives every file read.
   * @default undefined
   */
  readonly reads?: ReadRecorder;
}

/** Every section of the `*.repo` files of `directory` (sorted by file name); an id defined twice fails. */
export async function readRepoSections(directory: string, options: RepoOptions): Promise<RepoFileSection[]> {
  if (!existsSync(directory)) return [];
  const names = (await readdir(directory, { withFileTypes: true }))
    .filter((entry) => entry.name.endsWith('.repo') && !entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const sections: RepoFileSection[] = [];
  for (const name of names) {
    const file = path.join(directory, name);
    options.reads?.set(file, 'file');
    const text = await readFile(file, 'utf8');
    const origin = { constructPath: options.constructPath, file: displayPath(file, options.projectDir) };
    for (const section of parseRepoFile(text, origin)) {
      const earlier = sections.find((other) => other.id === section.id);
      if (earlier) {
        throw new RepoDefinitionError(
          `${section.file}:${section.line}: repository '${section.id}' is already defined in ${earlier.file}:${earlier.line}`,
          { constructPath: options.constructPath, file: section.file, field: section.id },
        );
      }
      sections.push(section);
    }
  }
  return sections;
}

/** Splits a list option (`baseurl`, `gpgkey`) at commas and whitespace. */
function splitList(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter((item) => item !== '');
}

/** Parses a dnf boolean option (1/0, true/false, yes/no, on/off). */
function parseBoolean(value: string | undefined, fallback: boolean): boolean | undefined {
  if (value === undefined) return fallback;
  const normalized = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(normalized)) return true;
  if (['0', 'false', 'no', 'off'].includes(normalized)) return false;
  return undefined;
}

/** Keys {@link RemoteRepoDefinition} holds in their own fields. */
const KNOWN_KEYS = new Set(['name', 'baseurl', 'metalink', 'mirrorlist', 'enabled', 'gpgcheck', 'gpgkey']);

/** The definition of a section for one arch: dnf variables substituted, fields checked. */
export function defineRemoteRepo(
  section: RepoFileSection,
  variables: Readonly<Record<string, VariableValue>>,
  options: RepoOptions,
): RemoteRepoDefinition {
  const location = { constructPath: options.constructPath, file: section.file, field: section.id };
  const substituted: Record<string, string> = {};
  for (const [key, value] of Object.entries(section.options)) {
    substituted[key] = value.replace(/\$(?:\{(\w+)\}|(\w+))/g, (reference, braced, bare) => {
      const name: string = braced ?? bare;
      if (name !== 'basearch' && name !== 'releasever') return reference;
      const replacement = variables[name];
      if (replacement === undefined) {
        throw new RepoDefinitionError(
          `${section.file}: [${section.id}] ${key}= uses ${reference} but the treefile sets no releasever`,
          location,
        );
      }
      return String(replacement);
    });
  }
  // An error about this section, with its file and line.
  const malformed = (message: string) =>
    new RepoDefinitionError(
      `${section.file}:${section.line}: malformed .repo file: [${section.id}] ${message}`,
      location,
    );
  const baseurl = splitList(substituted.baseurl);
  const { metalink, mirrorlist } = substituted;
  if (baseurl.length === 0 && !metalink && !mirrorlist)
    throw malformed('has no baseurl=, metalink= or mirrorlist=');
  const enabled = parseBoolean(substituted.enabled, true);
  const gpgcheck = parseBoolean(substituted.gpgcheck, false);
  if (enabled === undefined) throw malformed(`enabled=${substituted.enabled} is not a boolean`);
  if (gpgcheck === undefined) throw malformed(`gpgcheck=${substituted.gpgcheck} is not a boolean`);
  const extra = Object.fromEntries(Object.entries(substituted).filter(([key]) => !KNOWN_KEYS.has(key)));
  return {
    name: section.id,
    local: false,
    file: path.posix.basename(section.file),
    ...(substituted.name ? { description: substituted.name } : {}),
    baseurl,
    ...(metalink ? { metalink } : {}),
    ...(mirrorlist ? { mirrorlist } : {}),
    enabled,
    gpgcheck,
    gpgkey: splitList(substituted.gpgkey),
    options: extra,
  };
}

/** `names` without repetitions, in first-seen order. */
function unique(names: readonly string[]): string[] {
  return names.filter((name, index) => names.indexOf(name) === index);
}

/** The definitions of every repository the flattened treefile names (or of every enabled one). */
export function resolveRepos(
  flat: FlatTreefile,
  sections: readonly RepoFileSection[],
  localRepos: readonly LocalRepoInput[],
  options: RepoOptions,
): RepoSet {
  // The definition of `name`, listed under `key`: a local repository input first, else a .repo section.
  const define = (name: string, key: 'repos' | 'lockfile-repos'): RepoDefinition => {
    const local = localRepos.find((repo) => repo.name === name);
    if (local) return { name, local: true, digest: local.digest };
    const section = sections.find((candidate) => candidate.id === name);
    if (section) return defineRemoteRepo(section, flat.variables, options);
    const reference = flat.repoReferences.get(name) ?? { file: flat.file, key };
    const localNames = localRepos.map((repo) => repo.name).join(', ') || 'none';
    const repoIds = sections.map((candidate) => candidate.id).join(', ') || 'none';
    throw new RepoDefinitionError(
      `${reference.file}: ${reference.key}: repository '${name}' is defined nowhere: no local repository input has that name (local: ${localNames}) and no *.repo file in ${displayPath(flat.directory, options.projectDir)} defines it (defined: ${repoIds})`,
      { constructPath: options.constructPath, file: reference.file, field: reference.key },
    );
  };
  const named = flat.treefile.repos as string[] | undefined;
  // Every local repository and every enabled .repo section: rpm-ostree's default without `repos`.
  const enabled = () => [
    ...localRepos.map((repo) => repo.name),
    ...sections.filter((section) => parseBoolean(section.options.enabled, true)).map((section) => section.id),
  ];
  const repoNames = unique(named ?? enabled().sort());
  const lockfileNames = unique((flat.treefile['lockfile-repos'] as string[] | undefined) ?? []);
  const definitions = [
    ...repoNames.map((name) => define(name, 'repos')),
    ...lockfileNames
      .filter((name) => !repoNames.includes(name))
      .map((name) => define(name, 'lockfile-repos')),
  ];
  return { repos: repoNames, lockfileRepos: lockfileNames, definitions };
}
