/**
 * The rpm-ostree treefile (manifest.yaml) as fedora-coreos-config writes it: a strict schema, so
 * a misspelt key is an error naming the key instead of a silently ignored setting.
 */
import { z } from 'zod';
import { ARCHES } from '../artifacts.ts';

/** A string or a list of strings (`include`, `if`). */
const stringOrList = z.union([z.string(), z.array(z.string())]);

/** A scalar variable value. */
const variableValue = z.union([z.string(), z.number(), z.boolean()]);

/** Keys whose values we pass through to rpm-ostree without interpreting them. */
const passThroughKeys = [
  'basearch',
  'boot-location',
  'check-groups',
  'check-passwd',
  'cliwrap',
  'container-cmd',
  'default-target',
  'documentation',
  'etc-group-members',
  'gpg-key',
  'ignore-removed-groups',
  'ignore-removed-users',
  'initramfs-args',
  'install-langs',
  'machineid-compat',
  'metadata',
  'modules',
  'opt-usrlocal',
  'readonly-executables',
  'recommends',
  'repo-packages',
  'rojig',
  'rpmdb',
  'selinux',
  'sysroot-readonly',
  'tmp-is-dir',
  'units',
] as const;

const passThrough = Object.fromEntries(passThroughKeys.map((key) => [key, z.unknown().optional()]));

const perArchPackages = Object.fromEntries(
  ARCHES.map((arch) => [`packages-${arch}`, z.array(z.string()).optional()]),
);

/** Zod schema of one treefile document (before includes are resolved). */
export const treefileSchema = z
  .object({
    ref: z.string().optional(),
    releasever: z.union([z.string(), z.number()]).optional(),
    variables: z.record(z.string(), variableValue).optional(),
    repos: z.array(z.string()).optional(),
    'lockfile-repos': z.array(z.string()).optional(),
    packages: z.array(z.string()).optional(),
    ...perArchPackages,
    'exclude-packages': z.array(z.string()).optional(),
    include: stringOrList.optional(),
    'arch-include': z.partialRecord(z.enum(ARCHES), stringOrList).optional(),
    'conditional-include': z.array(z.object({ if: stringOrList, include: stringOrList }).strict()).optional(),
    postprocess: z.array(z.string()).optional(),
    'remove-files': z.array(z.string()).optional(),
    'remove-from-packages': z.array(z.array(z.string()).min(2)).optional(),
    'add-commit-metadata': z.record(z.string(), z.unknown()).optional(),
    'automatic-version-prefix': z.string().optional(),
    'mutate-os-release': z.string().optional(),
    'ostree-layers': z.array(z.string().min(1)).optional(),
    'postprocess-script': z.string().min(1).optional(),
    ...passThrough,
  })
  .strict();

/** One treefile document. */
export type TreeFile = z.input<typeof treefileSchema>;
