/**
 * Tree manifests: how a directory output is stored. Every regular file is a blob; the manifest
 * lists each entry (directory, file with its executable bit, size and digest, or symlink with its
 * target) by path relative to the tree, sorted, serialized as canonical JSON and stored as a blob
 * itself, so that the manifest's digest identifies the whole tree.
 */
import { z } from 'zod';
import { canonicalStringify } from '../util/canonical-json.ts';
import { DIGEST_PATTERN } from './hash.ts';

/** Version of the manifest format. */
export const TREE_MANIFEST_SCHEMA_VERSION = 1;

const relativePathSchema = z
  .string()
  .min(1)
  .refine(isSafeRelativePath, 'expected a relative path without empty, "." or ".." segments');

/** A directory of the tree (listed so that empty directories survive a round trip). */
export const treeDirectoryEntrySchema = z
  .object({ type: z.literal('directory'), path: relativePathSchema })
  .strict();

/** A regular file of the tree: its content is the blob `digest`. */
export const treeFileEntrySchema = z
  .object({
    type: z.literal('file'),
    path: relativePathSchema,
    executable: z.boolean(),
    size: z.number().int().nonnegative(),
    digest: z.string().regex(DIGEST_PATTERN),
  })
  .strict();

/** A symbolic link of the tree, recreated with the same target (never followed). */
export const treeSymlinkEntrySchema = z
  .object({ type: z.literal('symlink'), path: relativePathSchema, target: z.string().min(1) })
  .strict();

/** One entry of a tree manifest. */
export const treeEntrySchema = z.discriminatedUnion('type', [
  treeDirectoryEntrySchema,
  treeFileEntrySchema,
  treeSymlinkEntrySchema,
]);

/** Zod schema of a whole manifest, including the ordering and containment rules. */
export const treeManifestSchema = z
  .object({
    schemaVersion: z.literal(TREE_MANIFEST_SCHEMA_VERSION),
    entries: z.array(treeEntrySchema),
  })
  .strict()
  .superRefine((manifest, context) => {
    const problem = findStructureProblem(manifest.entries);
    if (problem) context.addIssue({ code: 'custom', message: problem, path: ['entries'] });
  });

/** One entry of a tree manifest. */
export type TreeEntry = z.output<typeof treeEntrySchema>;
/** A parsed tree manifest. */
export type TreeManifest = z.output<typeof treeManifestSchema>;

/** Builds a manifest from entries in any order. */
export function createTreeManifest(entries: readonly TreeEntry[]): TreeManifest {
  const sorted = [...entries].sort((left, right) => compareCodeUnits(left.path, right.path));
  return { schemaVersion: TREE_MANIFEST_SCHEMA_VERSION, entries: sorted };
}

/** The canonical bytes of a manifest: what is hashed and stored. */
export function serializeTreeManifest(manifest: TreeManifest): string {
  return canonicalStringify(manifest);
}

/** Compares strings by UTF-16 code unit, the order used by canonical JSON. */
export function compareCodeUnits(left: string, right: string): number {
  if (left < right) return -1;
  return left > right ? 1 : 0;
}

/** Whether `value` is a forward-slash relative path with no empty, `.` or `..` segment. */
function isSafeRelativePath(value: string): boolean {
  if (value.startsWith('/') || value.includes('\0') || value.includes('\\')) return false;
  return value.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/**
 * Why the entry list cannot be materialized safely, or undefined: paths must be strictly sorted
 * (so unique), and no entry may lie under a file or a symlink (which could point outside the tree).
 */
function findStructureProblem(entries: readonly TreeEntry[]): string | undefined {
  const leaves = new Set<string>();
  for (const [index, entry] of entries.entries()) {
    const previous = entries[index - 1];
    if (previous && compareCodeUnits(previous.path, entry.path) >= 0) {
      return `entries are not strictly sorted by path at '${entry.path}'`;
    }
    if (entry.type !== 'directory') leaves.add(entry.path);
  }
  for (const entry of entries) {
    const segments = entry.path.split('/');
    for (let length = 1; length < segments.length; length += 1) {
      const ancestor = segments.slice(0, length).join('/');
      if (leaves.has(ancestor)) return `'${entry.path}' lies under the file or symlink '${ancestor}'`;
    }
  }
  return undefined;
}
