/**
 * The repositories a compose enables, and their definitions: a local repository built by the
 * pipeline (an input of the Manifest, found by its name), else a section of a `*.repo` file next
 * to the top-level treefile (docs/treefile.md: "from any files that end in .repo, in the same
 * directory as the treefile"), with `$basearch` and `$releasever` substituted as dnf does.
 *
 * Which ones are enabled is rpm-ostree's rule (src/libpriv/rpmostree-core.cxx
 * `rpmostree_context_setup`), starting from every repository with its own `enabled=`:
 *
 * | `repos`   | lockfile | `lockfile-repos` | enabled                                              |
 * | --------- | -------- | ---------------- | ---------------------------------------------------- |
 * | non-empty | yes      | non-empty        | exactly `repos` and `lockfile-repos`                 |
 * | non-empty | no / yes | any / empty      | exactly `repos` (`lockfile-repos` unused)            |
 * | none, []  | yes      | non-empty        | exactly `lockfile-repos`                             |
 * | none, []  | no / yes | any / empty      | every repository whose `enabled=` is on (default on) |
 *
 * A named repository is enabled whatever its `enabled=` says; a name defined nowhere fails (rpm-ostree:
 * "Unknown rpm-md repository"). "Lockfile" means any lockfile of the arch (lockfile.ts), as
 * coreos-assembler passes each existing one with `--ex-lockfile`.
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

/** The repositories of a compose: the names it writes per key, what is enabled, one definition per name. */
export interface RepoSet {
  /**
   * `repos` as treefile.json states it: the treefile's `repos`; without them, every enabled
   * repository, or none when `lockfile-repos` is in effect (then only those are enabled).
   */
  readonly repos: readonly string[];
  /** `lockfile-repos` in effect: the treefile's when a lockfile exists, else none. */
  readonly lockfileRepos: readonly string[];
  /** Every repository the compose enables: `repos` then `lockfileRepos`, each once. */
  readonly enabled: readonly string[];
  /** The content of `repos.json`: one definition per name of `enabled`. */
  readonly definitions: readonly RepoDefinition[];
}

/** A local repository input of the Manifest. */
export interface LocalRepoInput {
  /** Its name (the producer's `metadata.name`). */
  readonly name: string;
  /** Its artifact digest. */
  readonly digest: string;
  /**
   * The arch its packages are built for; a treefile of another arch does not see it.
   * @default every arch
   */
  readonly arch?: string;
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

/** The repositories a compose of `flat` enables (rpm-ostree's rule above), with their definitions. */
export function resolveRepos(
  flat: FlatTreefile,
  sections: readonly RepoFileSection[],
  localRepos: readonly LocalRepoInput[],
  lockfilePresent: boolean,
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
  const named = unique((flat.treefile.repos as string[] | undefined) ?? []);
  const lockfileNamed = unique((flat.treefile['lockfile-repos'] as string[] | undefined) ?? []);
  // rpm-ostree enables lockfile-repos only when a lockfile was loaded.
  const lockfileRepos = lockfilePresent ? lockfileNamed : [];
  // Every local repository and every .repo section whose enabled= is on: dnf's starting point.
  const enabledByDefault = () =>
    [
      ...localRepos.map((repo) => repo.name),
      ...sections
        .filter((section) => parseBoolean(section.options.enabled, true))
        .map((section) => section.id),
    ].sort();
  const repos = named.length > 0 ? named : lockfileRepos.length > 0 ? [] : enabledByDefault();
  const enabled = unique([...repos, ...lockfileRepos]);
  const definitions = enabled.map((name) => define(name, repos.includes(name) ? 'repos' : 'lockfile-repos'));
  return { repos, lockfileRepos, enabled, definitions };
}
