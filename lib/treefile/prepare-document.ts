/**
 * What rpm-ostree does to each treefile on its own, before any merging (rust/src/treefile.rs
 * `treefile_parse_stream`), for one architecture:
 *
 * - `basearch`, when written, must be the arch ("cross-composes are not supported"); it is set to
 *   the arch in every file;
 * - `variables` may not define `basearch` or `releasever`; the file's `basearch` and `releasever`
 *   are then copied into its variables;
 * - `packages`, `bootstrap-packages` and `packages-<arch>` become one `packages` set, each entry
 *   split as package-specs.ts describes; the `packages-*` of other arches are dropped; so are the
 *   specs of `repo-packages` and `ex-override-replace`;
 * - `container: true` forces `boot-location: modules`, `selinux: false`, `tmp-is-dir: true`,
 *   `preserve-passwd: false` and `check-passwd`/`check-groups` `{type: none}`;
 * - `edition: "2024"` defaults `boot-location` to `modules` and `tmp-is-dir` to true.
 */
import type { Arch } from '../artifacts.ts';
import type { VariableValue } from './conditions.ts';
import type { DocumentOrigin, ValidatedDocument } from './document.ts';
import { TreefileSchemaError, TreefileVariableError } from './errors.ts';
import type { TreefileObject } from './merge.ts';
import { splitPackageEntries } from './package-specs.ts';

/** Variables rpm-ostree fills in itself; a treefile or the Manifest may not define them. */
export const RESERVED_VARIABLES: readonly string[] = ['basearch', 'releasever'];

/** Fails if `variables` defines a reserved name (rpm-ostree: "cannot define reserved variable"). */
export function checkReservedVariables(
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

/** A file's treefile after rpm-ostree's per-file processing, and the variables it brings. */
export interface PreparedDocument {
  /** The document, processed (include keys still in it). */
  readonly treefile: TreefileObject;
  /** Its `variables` with `basearch` and (when set) `releasever`. */
  readonly variables: Readonly<Record<string, VariableValue>>;
}

/** An entry list of `repo-packages` / `ex-override-replace` with its package specs split. */
function splitEntryPackages(
  entries: unknown,
  key: string,
  origin: DocumentOrigin,
): Array<Record<string, unknown>> | undefined {
  if (!Array.isArray(entries)) return undefined;
  return entries.map((entry: Record<string, unknown>, index) => ({
    ...entry,
    packages: splitPackageEntries(entry.packages as string[], {
      ...origin,
      field: `${key}.${index}.packages`,
    }),
  }));
}

/** Applies rpm-ostree's per-file processing to one validated document, for `arch`. */
export function prepareDocument(
  validated: ValidatedDocument,
  arch: Arch,
  origin: DocumentOrigin,
): PreparedDocument {
  const treefile: TreefileObject = { ...validated.document };
  const written = treefile.basearch;
  if (typeof written === 'string' && written !== arch) {
    throw new TreefileSchemaError(
      `${origin.file}: key 'basearch': ${written} is not the arch being flattened (${arch}): cross-composes are not supported`,
      { ...origin, field: 'basearch' },
    );
  }
  treefile.basearch = arch;
  const declared = treefile.variables as Record<string, VariableValue> | undefined;
  checkReservedVariables(declared, origin, 'variables');
  const variables: Record<string, VariableValue> = { ...declared, basearch: arch };
  const releasever = treefile.releasever;
  if (typeof releasever === 'string' || typeof releasever === 'number') variables.releasever = releasever;
  treefile.variables = variables;

  if (treefile.container === true) {
    Object.assign(treefile, {
      'boot-location': 'modules',
      selinux: false,
      'tmp-is-dir': true,
      'preserve-passwd': false,
      'check-passwd': { type: 'none' },
      'check-groups': { type: 'none' },
    });
  }
  if (treefile.edition === '2024') {
    treefile['boot-location'] ??= 'modules';
    treefile['tmp-is-dir'] ??= true;
  }

  const archPackages = validated.archPackages[`packages-${arch}`] ?? [];
  const packages = [
    ...splitPackageEntries((treefile.packages as string[] | undefined) ?? [], {
      ...origin,
      field: 'packages',
    }),
    ...splitPackageEntries((treefile['bootstrap-packages'] as string[] | undefined) ?? [], {
      ...origin,
      field: 'bootstrap-packages',
    }),
    ...splitPackageEntries(archPackages, { ...origin, field: `packages-${arch}` }),
  ];
  delete treefile['bootstrap-packages'];
  treefile.packages = [...new Set(packages)];
  for (const key of ['repo-packages', 'ex-override-replace']) {
    const split = splitEntryPackages(treefile[key], key, origin);
    if (split !== undefined) treefile[key] = split;
  }
  return { treefile, variables };
}
