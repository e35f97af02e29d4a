/**
 * Explains a cache miss: the differences between the key material of a node's last run (from
 * the per-node index) and the key material of the run about to happen.
 */
import type { JsonValue } from '../util/canonical-json.ts';
import { canonicalStringify } from '../util/canonical-json.ts';

/** One difference between two key materials. */
export interface KeyMaterialChange {
  /** Where: dotted members and `[index]` for array items (`inputs.commit.digest`, `args[2]`). */
  readonly path: string;
  /** `added` (only in the new material), `removed` (only in the old), or `changed`. */
  readonly change: 'added' | 'removed' | 'changed';
  /** The old value, unless added. */
  readonly before?: JsonValue;
  /** The new value, unless removed. */
  readonly after?: JsonValue;
}

/** Every leaf-level difference from `before` to `after`, in sorted path order. */
export function diffKeyMaterial(before: JsonValue, after: JsonValue): KeyMaterialChange[] {
  const changes: KeyMaterialChange[] = [];
  collectChanges(before, after, '', changes);
  return changes;
}

/** Appends the differences between `before` and `after` at `where` to `changes`. */
function collectChanges(
  before: JsonValue,
  after: JsonValue,
  where: string,
  changes: KeyMaterialChange[],
): void {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const key of keys) {
      const child = where === '' ? key : `${where}.${key}`;
      const old = before[key];
      const next = after[key];
      if (old === undefined && next !== undefined)
        changes.push({ path: child, change: 'added', after: next });
      else if (next === undefined && old !== undefined)
        changes.push({ path: child, change: 'removed', before: old });
      else if (old !== undefined && next !== undefined) collectChanges(old, next, child, changes);
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    for (let index = 0; index < Math.max(before.length, after.length); index += 1) {
      const child = `${where}[${index}]`;
      const old = before[index];
      const next = after[index];
      if (old === undefined) changes.push({ path: child, change: 'added', after: next! });
      else if (next === undefined) changes.push({ path: child, change: 'removed', before: old });
      else collectChanges(old, next, child, changes);
    }
    return;
  }
  if (canonicalStringify(before) !== canonicalStringify(after)) {
    changes.push({ path: where, change: 'changed', before, after });
  }
}

/** Whether `value` is a JSON object (not an array, not null). */
function isObject(value: JsonValue): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
