/**
 * `${name}` substitution in treefile strings (docs/treefile.md: `ref`, `mutate-os-release`,
 * `automatic-version-prefix`, top-level strings of `metadata`, string values of
 * `add-commit-metadata`; and `packages`, which fcos-cdk substitutes too). `postprocess` scripts are
 * never substituted: `${x}` there is shell syntax.
 */
import type { VariableValue } from './conditions.ts';
import { type TreefileErrorLocation, TreefileVariableError } from './errors.ts';
import type { TreefileObject } from './merge.ts';

const REFERENCE_PATTERN = /\$\{([^}]*)\}/g;

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

/** Keys whose string value is substituted. */
const SCALAR_KEYS = ['ref', 'mutate-os-release', 'automatic-version-prefix'] as const;

/** Keys whose top-level string members (of an object) or items (of a list) are substituted. */
const CONTAINER_KEYS = ['metadata', 'add-commit-metadata', 'packages'] as const;

/** Substitutes variables in place of every key rpm-ostree substitutes, in a copy of `treefile`. */
export function substituteTreefile(
  treefile: TreefileObject,
  variables: Readonly<Record<string, VariableValue>>,
  location: TreefileErrorLocation,
): TreefileObject {
  const result: TreefileObject = { ...treefile };
  for (const key of SCALAR_KEYS) {
    const value = result[key];
    if (typeof value === 'string')
      result[key] = substituteVariables(value, variables, { ...location, field: key });
  }
  for (const key of CONTAINER_KEYS) {
    const value = result[key];
    if (Array.isArray(value)) {
      result[key] = value.map((item, index) =>
        typeof item === 'string'
          ? substituteVariables(item, variables, { ...location, field: `${key}.${index}` })
          : item,
      );
    } else if (typeof value === 'object' && value !== null) {
      result[key] = Object.fromEntries(
        Object.entries(value).map(([member, item]) => [
          member,
          typeof item === 'string'
            ? substituteVariables(item, variables, { ...location, field: `${key}.${member}` })
            : item,
        ]),
      );
    }
  }
  return result;
}
