/**
 * The rpm-ostree treefile: every key current rpm-ostree accepts, with the value shapes of its serde
 * types (rust/src/treefile.rs: `TreeComposeConfig`, `BaseComposeConfigFields`,
 * `DeriveConfigFields`, `LegacyTreeComposeConfigFields`), so that a treefile fcos-cdk accepts is one
 * rpm-ostree accepts, and a misspelt or retired key (`modules`, `sysroot-readonly`) is an error
 * naming the key instead of a silently ignored setting.
 *
 * `packages-<arch>` keys are checked by document.ts: rpm-ostree accepts any `packages-*` key whose
 * value is a list of strings (rust/src/treefile.rs `take_archful_pkgs`), not only known arches.
 */
import { z } from 'zod';
import { ARCHES } from '../artifacts.ts';
import { jsonValueSchema } from '../util/canonical-json.ts';

/** A string or a list of strings (`include`, `if`): serde's untagged `Include`. */
const stringOrList = z.union([z.string(), z.array(z.string())]);

/** rpm-ostree's `u64`: a non-negative integer. */
const unsignedInteger = z.int().nonnegative();

/** A variable value: serde's untagged `VarValue` (bool, u64 or string). */
export const variableValueSchema = z.union([z.boolean(), unsignedInteger, z.string()]);

/** `releasever`: serde's untagged `ReleaseVer` (u64 or string). */
const releaseverSchema = z.union([unsignedInteger, z.string()]);

/** A free-form JSON value (`metadata`, `add-commit-metadata`). */
const jsonValue = jsonValueSchema;

/** `{type: file, filename}` of `check-passwd` / `check-groups`. */
const checkFile = z.object({ type: z.literal('file'), filename: z.string().min(1) }).strict();

/** `check-passwd`: serde's internally tagged `CheckPasswd`. */
export const checkPasswdSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z.object({ type: z.literal('previous') }).strict(),
  checkFile,
  z
    .object({
      type: z.literal('data'),
      // `CheckPasswdDataEntries`: an id for both uid and gid, `[id]`, or `[uid, gid]`.
      entries: z.record(
        z.string(),
        z.union([unsignedInteger, z.tuple([unsignedInteger]), z.tuple([unsignedInteger, unsignedInteger])]),
      ),
    })
    .strict(),
]);

/** `check-groups`: serde's internally tagged `CheckGroups`. */
export const checkGroupsSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z.object({ type: z.literal('previous') }).strict(),
  checkFile,
  z.object({ type: z.literal('data'), entries: z.record(z.string(), unsignedInteger) }).strict(),
]);

/** `rojig`: name, summary and license required, description optional. */
const rojigSchema = z
  .object({ name: z.string(), summary: z.string(), license: z.string(), description: z.string().optional() })
  .strict();

/** `repo-packages` entries: packages to take from one repository. */
const repoPackagesSchema = z.array(z.object({ repo: z.string(), packages: z.array(z.string()) }).strict());

/** A kebab-case enum of serde (`boot-location`, `opt-usrlocal`, ...). */
const choice = <const Values extends readonly [string, ...string[]]>(values: Values) => z.enum(values);

/** `rpm-ostree`'s three-way metadata target (`repo-metadata`, `advisories-metadata`). */
const metadataTarget = choice(['inline', 'detached', 'disabled']);

/** Keys of a base compose (`BaseComposeConfigFields`), in the order rust/src/treefile.rs declares them. */
const baseComposeKeys = {
  // serde renames the `Edition` variants to the strings "2014" and "2024".
  edition: choice(['2014', '2024']).optional(),
  ref: z.string().optional(),
  metadata: z.record(z.string(), jsonValue).optional(),
  basearch: z.string().optional(),
  variables: z.record(z.string(), variableValueSchema).optional(),
  repovars: z.record(z.string(), z.string()).optional(),
  rojig: rojigSchema.optional(),
  repos: z.array(z.string()).optional(),
  'lockfile-repos': z.array(z.string()).optional(),
  selinux: z.boolean().optional(),
  'ignore-devices': z.boolean().optional(),
  'selinux-label-version': z.int().min(0).max(4294967295).optional(),
  sysusers: choice(['compose-auto', 'compose-forced']).optional(),
  ima: z.boolean().optional(),
  'gpg-key': z.string().optional(),
  include: stringOrList.optional(),
  'arch-include': z.record(z.string(), stringOrList).optional(),
  'bootstrap-packages': z.array(z.string()).optional(),
  'ostree-layers': z.array(z.string().min(1)).optional(),
  'ostree-override-layers': z.array(z.string().min(1)).optional(),
  'exclude-packages': z.array(z.string()).optional(),
  'platform-module': z.string().optional(),
  container: z.boolean().optional(),
  recommends: z.boolean().optional(),
  documentation: z.boolean().optional(),
  'install-langs': z.array(z.string()).optional(),
  'initramfs-args': z.array(z.string()).optional(),
  'no-initramfs': z.boolean().optional(),
  'readonly-executables': z.boolean().optional(),
  'boot-location': choice(['new', 'modules', 'kernel-install']).optional(),
  'tmp-is-dir': z.boolean().optional(),
  // serde accepts `stateoverlay` as an alias of `state-overlay`.
  'opt-usrlocal': choice(['var', 'root', 'state-overlay', 'stateoverlay']).optional(),
  units: z.array(z.string()).optional(),
  'default-target': z.string().optional(),
  'machineid-compat': z.boolean().optional(),
  releasever: releaseverSchema.optional(),
  'automatic-version-prefix': z.string().optional(),
  'automatic-version-suffix': z.string().optional(),
  'mutate-os-release': z.string().optional(),
  'etc-group-members': z.array(z.string()).optional(),
  'preserve-passwd': z.boolean().optional(),
  'check-passwd': checkPasswdSchema.optional(),
  'check-groups': checkGroupsSchema.optional(),
  'ignore-removed-users': z.array(z.string()).optional(),
  'ignore-removed-groups': z.array(z.string()).optional(),
  'postprocess-script': z.string().min(1).optional(),
  postprocess: z.array(z.string()).optional(),
  'add-files': z.array(z.tuple([z.string(), z.string()])).optional(),
  'remove-files': z.array(z.string()).optional(),
  'remove-from-packages': z.array(z.array(z.string()).min(2)).optional(),
  'add-commit-metadata': z.record(z.string(), jsonValue).optional(),
  'repo-metadata': metadataTarget.optional(),
  'advisories-metadata': metadataTarget.optional(),
  // serde accepts `b-d-b` as an alias of `bdb` (an old misspelling).
  rpmdb: choice(['bdb', 'b-d-b', 'sqlite', 'ndb', 'target', 'host']).optional(),
  'rpmdb-normalize': z.boolean().optional(),
  'container-cmd': z.array(z.string()).optional(),
} as const;

/**
 * The legacy underscore spellings (`LegacyTreeComposeConfigFields`, no serde rename): migrated to
 * the kebab-case key by document.ts; giving both in one file is an error, as in rpm-ostree.
 */
export const LEGACY_KEYS = {
  gpg_key: 'gpg-key',
  boot_location: 'boot-location',
  default_target: 'default-target',
  automatic_version_prefix: 'automatic-version-prefix',
} as const;

const legacyKeys = {
  gpg_key: baseComposeKeys['gpg-key'],
  boot_location: baseComposeKeys['boot-location'],
  default_target: baseComposeKeys['default-target'],
  automatic_version_prefix: baseComposeKeys['automatic-version-prefix'],
} as const;

/** Keys common to composes and derivations (`TreeComposeConfig` itself). */
const commonKeys = {
  packages: z.array(z.string()).optional(),
  'repo-packages': repoPackagesSchema.optional(),
  cliwrap: z.boolean().optional(),
  'cliwrap-binaries': z.array(z.string()).optional(),
} as const;

/** Keys of a client-side derivation (`DeriveConfigFields`); a server compose accepts and ignores them. */
const deriveKeys = {
  'base-refspec': z.string().optional(),
  'container-image-reference': z.string().optional(),
  'packages-local': z.record(z.string(), z.string()).optional(),
  'packages-local-fileoverride': z.record(z.string(), z.string()).optional(),
  'override-remove': z.array(z.string()).optional(),
  'ex-override-replace': z
    .array(
      z.object({ from: z.object({ repo: z.string() }).strict(), packages: z.array(z.string()) }).strict(),
    )
    .optional(),
  'override-replace-local': z.record(z.string(), z.string()).optional(),
  initramfs: z
    .object({
      regenerate: z.boolean(),
      etc: z.array(z.string()).optional(),
      args: z.array(z.string()).optional(),
    })
    .strict()
    .optional(),
  custom: z.object({ url: z.string(), description: z.string().optional() }).strict().optional(),
  'override-commit': z.string().optional(),
  'unconfigured-state': z.string().optional(),
} as const;

/** `packages-<arch>` of the arches fcos-cdk builds (for typing; document.ts accepts any suffix). */
const perArchPackages = Object.fromEntries(
  ARCHES.map((arch) => [`packages-${arch}`, z.array(z.string()).optional()]),
) as Record<`packages-${(typeof ARCHES)[number]}`, z.ZodOptional<z.ZodArray<z.ZodString>>>;

/** The treefile shape without `conditional-include`, which may inline one of these. */
const treefileShape = {
  ...commonKeys,
  ...baseComposeKeys,
  ...legacyKeys,
  ...deriveKeys,
  ...perArchPackages,
} as const;

/**
 * A `conditional-include` entry: `if` (one condition or a list) and `include`, a file, a list of
 * files, or an inline treefile (serde's untagged `IncludeFilesOrInlined`).
 */
const conditionalIncludeSchema = z
  .object({
    if: stringOrList,
    include: z.union([stringOrList, z.object(treefileShape).strict()]),
  })
  .strict();

/** Zod schema of one treefile document (before includes are resolved). */
export const treefileSchema = z
  .object({ ...treefileShape, 'conditional-include': z.array(conditionalIncludeSchema).optional() })
  .strict();

/** Every key of a treefile document rpm-ostree accepts, `packages-<arch>` aside (any suffix is accepted). */
export const TREEFILE_KEYS: readonly string[] = Object.keys(treefileSchema.shape).filter(
  (key) => !Object.hasOwn(perArchPackages, key),
);

/**
 * Keys older rpm-ostree accepted and current rpm-ostree rejects as unknown, with what to do
 * instead: said in the message, since a plain "unknown key" reads like a typo.
 */
export const RETIRED_KEYS: Readonly<Record<string, string>> = {
  modules: 'rpm-ostree dropped modularity support; list the packages instead',
  'sysroot-readonly': 'current rpm-ostree no longer accepts it; remove it',
};

/** One treefile document. */
export type TreeFile = z.input<typeof treefileSchema>;
