/**
 * Validation of a meta.json against coreos-assembler's own schema (`schema/cosa-meta-v1.schema.json`,
 * draft-07), so what a Build writes is what cosa's tooling accepts. ajv rather than hand-written
 * checks: it is the standard draft-07 validator and reports every failing path at once. The cosa
 * schema gives nested schemas `$id`s such as `#/image/digest` that repeat (cosa's Go validator
 * ignores them); ajv would refuse them as ambiguous, so they are dropped before compiling. Every
 * `$ref` of the schema is a `#/definitions/...` pointer from the root, which does not need them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import type { JsonValue } from '../util/canonical-json.ts';
import { PACKAGE_ROOT } from '../util/package-root.ts';

/** Where the schema is: shipped with the package (`files` of package.json lists `schema`). */
export const COSA_META_SCHEMA_FILE = path.join(PACKAGE_ROOT, 'schema/cosa-meta-v1.schema.json');

let validator: ValidateFunction | undefined;

/** Every problem of `meta` against cosa's meta.json schema, as `<path>: <message>` lines; empty when valid. */
export function cosaMetaProblems(meta: unknown): string[] {
  validator ??= compileValidator();
  if (validator(meta)) return [];
  return (validator.errors ?? []).map((error) => {
    const where = error.instancePath === '' ? '(top level)' : error.instancePath;
    const detail =
      error.keyword === 'additionalProperties'
        ? ` '${String((error.params as { additionalProperty?: string }).additionalProperty)}'`
        : '';
    return `${where}: ${error.message ?? error.keyword}${detail}`;
  });
}

/** Compiles the schema once, without its nested `$id`s (see the file header). */
function compileValidator(): ValidateFunction {
  const schema = JSON.parse(readFileSync(COSA_META_SCHEMA_FILE, 'utf8')) as JsonValue;
  // `strict: false`: the schema uses cosa's own informational keyword `optional`.
  const ajv = new Ajv({ strict: false, allErrors: true });
  return ajv.compile(withoutNestedIds(schema, true) as object);
}

/** A copy of `schema` without `$id` below the root. */
function withoutNestedIds(schema: JsonValue, root: boolean): JsonValue {
  if (Array.isArray(schema)) return schema.map((item) => withoutNestedIds(item, false));
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key]) => root || key !== '$id')
      .map(([key, value]) => [key, withoutNestedIds(value, false)]),
  );
}
