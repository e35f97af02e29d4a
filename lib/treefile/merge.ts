/**
 * rpm-ostree's include merge (docs/treefile.md, `include`): an included file is an inheritance
 * base; the including file's non-array values override it and arrays are concatenated, the
 * included entries first. Includes are merged one at a time into the including file, so with
 * `include: [a, b]` the result lists b's entries, then a's, then the file's own (the documented
 * `postprocess` order), and a scalar set by both a and b keeps a's value. The docs do not describe
 * maps; `variables` and `add-commit-metadata` are merged key by key (the including side wins per
 * key), every other object is a value like a scalar.
 */

/** A treefile as a plain object, during flattening. */
export type TreefileObject = Record<string, unknown>;

/** Keys whose objects are merged key by key rather than replaced. */
export const KEY_MERGED_MAPS: ReadonlySet<string> = new Set(['variables', 'add-commit-metadata']);

/** Whether `value` is a plain object (not an array, not null). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Merges `base` (an included file) under `overriding` (the file including it). */
export function mergeTreefiles(base: TreefileObject, overriding: TreefileObject): TreefileObject {
  const merged: TreefileObject = { ...base };
  for (const [key, value] of Object.entries(overriding)) {
    if (value === undefined) continue;
    const inherited = merged[key];
    if (Array.isArray(inherited) && Array.isArray(value)) merged[key] = [...inherited, ...value];
    else if (KEY_MERGED_MAPS.has(key) && isPlainObject(inherited) && isPlainObject(value))
      merged[key] = { ...inherited, ...value };
    else merged[key] = value;
  }
  return merged;
}
