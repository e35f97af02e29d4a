/**
 * rpm-ostree's include merge, key by key, as rust/src/treefile.rs `treefile_merge` does it: an
 * included file is merged into the file including it (`dest`, the including side, `src`, the
 * included one), one include at a time, in the order flatten.ts gives (`include`, then
 * `arch-include`, then each matching `conditional-include`).
 *
 * | rule          | rpm-ostree function              | result                                                                 | keys |
 * | ------------- | -------------------------------- | ---------------------------------------------------------------------- | ---- |
 * | `first`       | `merge_basic_field`              | the including file's value; else the first include setting it           | `edition` `ref` `basearch` `rojig` `selinux` `sysusers` `selinux-label-version` `ignore-devices` `ima` `gpg-key` `include` `container` `recommends` `readonly-executables` `container-cmd` (a list, still first-wins) `documentation` `boot-location` `tmp-is-dir` `opt-usrlocal` `default-target` `machineid-compat` `releasever` `automatic-version-prefix` `automatic-version-suffix` `repo-metadata` `advisories-metadata` `rpmdb` `mutate-os-release` `preserve-passwd` `check-passwd` `check-groups` `postprocess-script` `rpmdb-normalize` `no-initramfs` `cliwrap` `base-refspec` `container-image-reference` `initramfs` `custom` `override-commit` `unconfigured-state` |
 * | `append`      | `merge_vec_field`                | the included file's entries, then the including file's                 | `repos` `lockfile-repos` `exclude-packages` `ostree-layers` `ostree-override-layers` `install-langs` `initramfs-args` `units` `etc-group-members` `postprocess` `add-files` `remove-files` `remove-from-packages` `cliwrap-binaries` |
 * | `append-last` | `merge_vec_field` + `handle_repo_packages_overrides` | appended; a package named by several entries stays only in the last | `repo-packages` `ex-override-replace` |
 * | `union`       | `merge_hashset_field`            | a set: every entry of both, once                                        | `packages` `ignore-removed-users` `ignore-removed-groups` `override-remove` |
 * | `map`         | `merge_map_field`                | key by key (top level only); the including file wins a key both set     | `metadata` `add-commit-metadata` `variables` `repovars` `packages-local` `packages-local-fileoverride` `override-replace-local` |
 * | `dropped`     | (absent from `treefile_merge`)   | the included file's value is lost: only the top-level file's counts     | `platform-module` |
 *
 * `arch-include` and `conditional-include` are consumed before merging; `bootstrap-packages` and
 * `packages-<arch>` are folded into each file's `packages` before merging (flatten.ts); the
 * merged `variables` are replaced by the variables flattening collected (flatten.ts).
 *
 * So with `include: [a, b]`, `postprocess` lists b's entries, then a's, then the file's own (the
 * order docs/treefile.md documents), and a scalar set by both a and b keeps a's value.
 * rpm-ostree holds `packages` in a sorted set; we keep first-seen order (dnf gets the same set).
 */

/** A treefile as a plain object, during flattening. */
export type TreefileObject = Record<string, unknown>;

/** How a key's values from two files combine (see the table above). */
export type MergeRule = 'first' | 'append' | 'append-last' | 'union' | 'map' | 'dropped';

/** Keys by merge rule, exactly as `treefile_merge` lists them. */
const RULES: Readonly<Record<MergeRule, readonly string[]>> = {
  first: [
    'edition',
    'ref',
    'basearch',
    'rojig',
    'selinux',
    'sysusers',
    'selinux-label-version',
    'ignore-devices',
    'ima',
    'gpg-key',
    'include',
    'container',
    'recommends',
    'readonly-executables',
    'container-cmd',
    'documentation',
    'boot-location',
    'tmp-is-dir',
    'opt-usrlocal',
    'default-target',
    'machineid-compat',
    'releasever',
    'automatic-version-prefix',
    'automatic-version-suffix',
    'repo-metadata',
    'advisories-metadata',
    'rpmdb',
    'mutate-os-release',
    'preserve-passwd',
    'check-passwd',
    'check-groups',
    'postprocess-script',
    'rpmdb-normalize',
    'no-initramfs',
    'cliwrap',
    'base-refspec',
    'container-image-reference',
    'initramfs',
    'custom',
    'override-commit',
    'unconfigured-state',
  ],
  append: [
    'repos',
    'lockfile-repos',
    'exclude-packages',
    'ostree-layers',
    'ostree-override-layers',
    'install-langs',
    'initramfs-args',
    'units',
    'etc-group-members',
    'postprocess',
    'add-files',
    'remove-files',
    'remove-from-packages',
    'cliwrap-binaries',
  ],
  'append-last': ['repo-packages', 'ex-override-replace'],
  union: [
    'packages',
    'bootstrap-packages',
    'ignore-removed-users',
    'ignore-removed-groups',
    'override-remove',
  ],
  map: [
    'metadata',
    'add-commit-metadata',
    'variables',
    'repovars',
    'packages-local',
    'packages-local-fileoverride',
    'override-replace-local',
  ],
  dropped: ['platform-module', 'arch-include', 'conditional-include'],
};

/** The merge rule of every key, from {@link RULES}. */
export const MERGE_RULES: ReadonlyMap<string, MergeRule> = new Map(
  Object.entries(RULES).flatMap(([rule, keys]) => keys.map((key) => [key, rule as MergeRule])),
);

/** Whether `value` is a plain object (not an array, not null). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An entry of `repo-packages` / `ex-override-replace`: some packages and where they come from. */
interface PackagesEntry {
  readonly packages: readonly string[];
}

/**
 * `entries` with each package kept only in the last entry naming it, and entries left empty
 * dropped (rpm-ostree's `handle_repo_packages_overrides`: "appended repo packages override
 * earlier ones").
 */
function lastEntryWins(entries: readonly PackagesEntry[]): PackagesEntry[] {
  const seen = new Set<string>();
  const kept: PackagesEntry[] = [];
  for (const entry of [...entries].reverse()) {
    const packages = entry.packages.filter((name) => !seen.has(name));
    for (const name of packages) seen.add(name);
    if (packages.length > 0) kept.unshift({ ...entry, packages });
  }
  return kept;
}

/** `value` of `key` from the including file merged with `inherited` from the included one. */
function mergeValue(key: string, inherited: unknown, value: unknown): unknown {
  if (inherited === undefined) return value;
  if (value === undefined) return MERGE_RULES.get(key) === 'dropped' ? undefined : inherited;
  const rule = MERGE_RULES.get(key) ?? 'first';
  if (rule === 'append' && Array.isArray(inherited) && Array.isArray(value)) return [...inherited, ...value];
  if (rule === 'append-last' && Array.isArray(inherited) && Array.isArray(value))
    return lastEntryWins([...inherited, ...value] as PackagesEntry[]);
  if (rule === 'union' && Array.isArray(inherited) && Array.isArray(value))
    return [...new Set([...inherited, ...value])];
  if (rule === 'map' && isPlainObject(inherited) && isPlainObject(value)) return { ...inherited, ...value };
  return value;
}

/** Merges `base` (an included file) under `overriding` (the file including it), key by key. */
export function mergeTreefiles(base: TreefileObject, overriding: TreefileObject): TreefileObject {
  const merged: TreefileObject = {};
  for (const key of new Set([...Object.keys(overriding), ...Object.keys(base)])) {
    const value = mergeValue(key, base[key], overriding[key]);
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}
