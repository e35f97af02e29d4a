/**
 * One treefile document: parsed from YAML or JSON (YAML is a superset of JSON) and validated with
 * the strict {@link treefileSchema}, so that a misspelt key fails with the file and the key.
 *
 * rpm-ostree's own checks of a document (rust/src/treefile.rs `treefile_parse_stream`,
 * `take_archful_pkgs`, `migrate_legacy_fields`) are made here too: any `packages-<suffix>` key
 * must be a list of strings; an unknown key is an error in a YAML file and ignored in a JSON file
 * (rpm-ostree reads files not named `.yaml`/`.yml` as JSON and drops their unknown keys; we warn);
 * the legacy underscore keys (`gpg_key` ...) become their kebab-case key, and a file giving both
 * forms fails.
 */

import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { TreefileSchemaError } from './errors.ts';
import { LEGACY_KEYS, RETIRED_KEYS, TREEFILE_KEYS, treefileSchema } from './schema.ts';

/** A validated treefile document, before its includes are resolved. */
export type TreefileDocument = z.output<typeof treefileSchema>;

/** Where a document comes from, for messages. */
export interface DocumentOrigin {
  /** Construct path of the Manifest node. */
  readonly constructPath: string;
  /** The file as shown to the user (`manifests/base.yaml`, `<inline treefile>`). */
  readonly file: string;
}

/** A validated document and what validation has to say about it. */
export interface ValidatedDocument {
  /** The document: legacy keys migrated, unknown keys of a JSON file dropped. */
  readonly document: TreefileDocument;
  /** Every `packages-<suffix>` key with its list, whatever the suffix. */
  readonly archPackages: Readonly<Record<string, readonly string[]>>;
  /** Problems that are not errors (unknown keys of a JSON file), one line each. */
  readonly warnings: readonly string[];
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

/**
 * Whether rpm-ostree reads `file` as JSON: every name not ending in `.yaml` or `.yml`
 * (rust/src/utils.rs `InputFormat::detect_from_filename`). An inline treefile is checked like YAML.
 */
export function isJsonTreefile(file: string | undefined): boolean {
  return file !== undefined && !/\.ya?ml$/.test(file);
}

/** Renders a zod path (`['packages', 3]`) as the dotted key `packages.3`. */
function dottedKey(segments: readonly PropertyKey[]): string {
  return segments.map(String).join('.');
}

/** `unknown key 'x'` with rpm-ostree's reason when the key is one it retired. */
function describeUnknownKey(key: string, at: string): string {
  const reason = at === '' ? RETIRED_KEYS[key] : undefined;
  return `'${at ? `${at}.` : ''}${key}'${reason === undefined ? '' : ` (${reason})`}`;
}

/** Options of {@link validateTreefileDocument}. */
export interface ValidateOptions {
  /**
   * Read as a JSON treefile: unknown top-level keys are dropped with a warning, as rpm-ostree drops them.
   * @default false
   */
  readonly json?: boolean;
}

/** Checks `value` against the treefile schema, failing with the file and every unknown or bad key. */
export function validateTreefileDocument(
  value: unknown,
  origin: DocumentOrigin,
  options: ValidateOptions = {},
): ValidatedDocument {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TreefileSchemaError(`${origin.file}: a treefile must be a mapping of keys to values`, origin);
  }
  const archPackages: Record<string, readonly string[]> = {};
  const rest: Record<string, unknown> = {};
  const warnings: string[] = [];
  const unknown: string[] = [];
  for (const [key, entry] of Object.entries(value)) {
    if (TREEFILE_KEYS.includes(key)) {
      rest[key] = entry;
    } else if (key.startsWith('packages-')) {
      if (!Array.isArray(entry) || entry.some((item) => typeof item !== 'string')) {
        throw new TreefileSchemaError(`${origin.file}: key '${key}': expected a list of strings`, {
          ...origin,
          field: key,
        });
      }
      archPackages[key] = entry as string[];
    } else {
      unknown.push(key);
    }
  }
  if (unknown.length > 0 && options.json) {
    warnings.push(
      `${origin.file}: unknown key${unknown.length === 1 ? '' : 's'} ${unknown.map((key) => describeUnknownKey(key, '')).join(', ')} ignored, as rpm-ostree ignores unknown keys of a JSON treefile`,
    );
  } else {
    for (const key of unknown) rest[key] = (value as Record<string, unknown>)[key];
  }
  const result = treefileSchema.safeParse(rest);
  if (!result.success) throw schemaError(result.error.issues, origin);
  return { document: migrateLegacyKeys(result.data, origin), archPackages, warnings };
}

/** The error for zod's issues: every unknown or bad key, the first one as the field. */
function schemaError(issues: readonly z.core.$ZodIssue[], origin: DocumentOrigin): TreefileSchemaError {
  const problems: string[] = [];
  let firstKey: string | undefined;
  for (const issue of issues) {
    const at = dottedKey(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((key) => describeUnknownKey(key, at)).join(', ');
      problems.push(`unknown key${issue.keys.length === 1 ? '' : 's'} ${keys}`);
      firstKey ??= at ? `${at}.${issue.keys[0]}` : issue.keys[0];
    } else {
      problems.push(`key '${at}': ${issue.message}`);
      firstKey ??= at;
    }
  }
  return new TreefileSchemaError(`${origin.file}: ${problems.join('; ')}`, {
    ...origin,
    ...(firstKey !== undefined ? { field: firstKey } : {}),
  });
}

/** The document with each legacy underscore key moved to its kebab-case key (rpm-ostree's `migrate_legacy_fields`). */
function migrateLegacyKeys(document: TreefileDocument, origin: DocumentOrigin): TreefileDocument {
  const migrated: Record<string, unknown> = { ...document };
  for (const [legacy, current] of Object.entries(LEGACY_KEYS)) {
    if (migrated[legacy] === undefined) continue;
    if (migrated[current] !== undefined) {
      throw new TreefileSchemaError(
        `${origin.file}: key '${legacy}': cannot use both the new and the legacy form ('${current}' and '${legacy}')`,
        { ...origin, field: legacy },
      );
    }
    migrated[current] = migrated[legacy];
    delete migrated[legacy];
  }
  return migrated as TreefileDocument;
}
