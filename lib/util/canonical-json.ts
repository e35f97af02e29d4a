/**
 * Canonical JSON: the one serialization used for everything that is hashed or compared byte for
 * byte (pipeline.json, action keys). Object keys sorted by code unit, `undefined` members dropped,
 * no non-finite numbers.
 */
import { z } from 'zod';

/** A JSON value, as produced by canonicalization. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Zod schema of a {@link JsonValue}: the one definition every schema with free-form JSON uses. */
export const jsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(jsonValueSchema),
    z.record(z.string(), jsonValueSchema),
  ]),
);

/** Returns a deep copy of `value` with object keys in sorted order and `undefined` members removed. */
export function canonicalize(value: unknown): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot serialize non-finite number ${value}`);
    return value;
  }
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : canonicalize(item)));
  if (typeof value === 'object') {
    const result: { [key: string]: JsonValue } = {};
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member !== undefined) result[key] = canonicalize(member);
    }
    return result;
  }
  throw new TypeError(`cannot serialize a value of type ${typeof value}`);
}

/** Serializes `value` canonically; `indent` > 0 gives the human-readable form written to disk. */
export function canonicalStringify(value: unknown, indent = 0): string {
  return JSON.stringify(canonicalize(value), null, indent);
}
