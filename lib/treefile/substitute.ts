/**
 * `${name}` substitution, exactly where rpm-ostree substitutes (rust/src/treefile.rs
 * `substitute_vars`): `ref`, `rojig`'s `name`, `summary` and `description`, the top-level string
 * values of `metadata` and `add-commit-metadata`, `automatic-version-prefix`, `mutate-os-release`
 * and `platform-module`. Nothing else: not `packages` (a `${x}` there reaches dnf as written, so
 * flatten.ts warns), not `postprocess` (shell syntax), not `repos`.
 *
 * rpm-ostree's envsubst replaces only `${name}` (never `$name`) and refuses a variable whose name
 * or value holds `$`, `{` or `}`. It leaves a `${name}` naming no variable as written; we fail
 * instead, naming the key, since such a ref or version is never what was meant.
 */
import type { VariableValue } from './conditions.ts';
import { type TreefileErrorLocation, TreefileVariableError } from './errors.ts';
import type { TreefileObject } from './merge.ts';

const REFERENCE_PATTERN = /\$\{([^}]*)\}/g;

/** Characters envsubst refuses in a variable's name or value. */
const FORBIDDEN_CHARACTERS = ['$', '{', '}'] as const;

/** `text` with every `${name}` replaced by the variable's value; an unknown name fails naming the key. */
export function substituteVariables(
  text: string,
  variables: Readonly<Record<string, VariableValue>>,
  location: TreefileErrorLocation,
): string {
  return text.replace(REFERENCE_PATTERN, (reference, name: string) => {
    if (!Object.hasOwn(variables, name)) {
      const known = Object.keys(variables).sort().join(', ');
      throw new TreefileVariableError(
        `${location.file}: key '${location.field}': ${reference} names no variable (variables: ${known || 'none'})`,
        location,
      );
    }
    return String(variables[name]);
  });
}

/** Fails, as envsubst's `validate_vars` does, on a variable whose name or value holds `$`, `{` or `}`. */
export function checkSubstitutableVariables(
  variables: Readonly<Record<string, VariableValue>>,
  location: TreefileErrorLocation,
): void {
  for (const [name, value] of Object.entries(variables)) {
    const text = String(value);
    const character = FORBIDDEN_CHARACTERS.find(
      (forbidden) => name.includes(forbidden) || text.includes(forbidden),
    );
    if (character === undefined) continue;
    throw new TreefileVariableError(
      `${location.file}: variable '${name}' (${JSON.stringify(value)}) holds '${character}', which rpm-ostree's substitution refuses`,
      { ...location, field: `variables.${name}` },
    );
  }
}

/** Keys whose string value is substituted. */
export const SUBSTITUTED_KEYS = [
  'ref',
  'automatic-version-prefix',
  'mutate-os-release',
  'platform-module',
] as const;

/** Keys whose top-level string members are substituted. */
export const SUBSTITUTED_MAP_KEYS = ['metadata', 'add-commit-metadata'] as const;

/** Members of `rojig` that are substituted. */
export const SUBSTITUTED_ROJIG_MEMBERS = ['name', 'summary', 'description'] as const;

/** Substitutes variables in every key rpm-ostree substitutes, in a copy of `treefile`. */
export function substituteTreefile(
  treefile: TreefileObject,
  variables: Readonly<Record<string, VariableValue>>,
  location: TreefileErrorLocation,
): TreefileObject {
  checkSubstitutableVariables(variables, location);
  const result: TreefileObject = { ...treefile };
  // A copy of `object` with the string members `members` (or all, when undefined) substituted.
  const substituteMembers = (object: Record<string, unknown>, key: string, members?: readonly string[]) =>
    Object.fromEntries(
      Object.entries(object).map(([member, item]) => [
        member,
        typeof item === 'string' && (members === undefined || members.includes(member))
          ? substituteVariables(item, variables, { ...location, field: `${key}.${member}` })
          : item,
      ]),
    );
  for (const key of SUBSTITUTED_KEYS) {
    const value = result[key];
    if (typeof value === 'string')
      result[key] = substituteVariables(value, variables, { ...location, field: key });
  }
  for (const key of SUBSTITUTED_MAP_KEYS) {
    const value = result[key];
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      result[key] = substituteMembers(value as Record<string, unknown>, key);
  }
  const rojig = result.rojig;
  if (typeof rojig === 'object' && rojig !== null)
    result.rojig = substituteMembers(rojig as Record<string, unknown>, 'rojig', SUBSTITUTED_ROJIG_MEMBERS);
  return result;
}
