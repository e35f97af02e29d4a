/**
 * One treefile document: parsed from YAML or JSON (YAML is a superset of JSON) and validated with
 * the strict {@link treefileSchema}, so that a misspelt key fails with the file and the key.
 */

import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { TreefileSchemaError } from './errors.ts';
import { treefileSchema } from './schema.ts';

/** A validated treefile document, before its includes are resolved. */
export type TreefileDocument = z.output<typeof treefileSchema>;

/** Where a document comes from, for messages. */
export interface DocumentOrigin {
  /** Construct path of the Manifest node. */
  readonly constructPath: string;
  /** The file as shown to the user (`manifests/base.yaml`, `<inline treefile>`). */
  readonly file: string;
}

/** Parses YAML/JSON text into a plain value, failing with the file and line of a syntax error. */
export function parseYamlOrJson(text: string, origin: DocumentOrigin): unknown {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const [error] = document.errors;
  if (error) {
    const line = error.linePos?.[0]?.line;
    throw new TreefileSchemaError(
      `${origin.file}${line === undefined ? '' : `:${line}`}: not valid YAML/JSON: ${error.message.split('\n')[0]}`,
      { constructPath: origin.constructPath, file: origin.file },
    );
  }
  return document.toJS({ maxAliasCount: 1000 });
}

/** Renders a zod path (`['packages', 3]`) as the dotted key `packages.3`. */
function dottedKey(segments: readonly PropertyKey[]): string {
  return segments.map(String).join('.');
}

/** Checks `value` against the treefile schema, failing with the file and every unknown or bad key. */
export function validateTreefileDocument(value: unknown, origin: DocumentOrigin): TreefileDocument {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TreefileSchemaError(`${origin.file}: a treefile must be a mapping of keys to values`, origin);
  }
  const result = treefileSchema.safeParse(value);
  if (result.success) return result.data;
  const problems: string[] = [];
  let firstKey: string | undefined;
  for (const issue of result.error.issues) {
    const at = dottedKey(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((key) => `'${at ? `${at}.` : ''}${key}'`).join(', ');
      problems.push(`unknown key${issue.keys.length === 1 ? '' : 's'} ${keys}`);
      firstKey ??= at ? `${at}.${issue.keys[0]}` : issue.keys[0];
    } else {
      problems.push(`key '${at}': ${issue.message}`);
      firstKey ??= at;
    }
  }
  throw new TreefileSchemaError(`${origin.file}: ${problems.join('; ')}`, {
    ...origin,
    ...(firstKey !== undefined ? { field: firstKey } : {}),
  });
}
