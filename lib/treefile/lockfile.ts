/**
 * rpm-ostree lockfiles as coreos-assembler keeps them next to the treefile:
 * `manifest-lock.<arch>.json` (generated: every package pinned by `evra`, with an optional
 * `digest`), then `manifest-lock.overrides.yaml` and `manifest-lock.overrides.<arch>.yaml`
 * (hand-written pins and fast-tracks, by `evr` or `evra`), merged in that order with the later
 * file's entry replacing a package's earlier one. Also writes `manifest-lock.<arch>.json` from a
 * compose's package list, byte-stable, for `fcos-run --update-lockfiles`.
 */
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { PackageIdentity } from '../tools/rpm.ts';
import { canonicalStringify, type JsonValue, jsonValueSchema } from '../util/canonical-json.ts';
import { parseYamlOrJson } from './document.ts';
import { displayPath, LockfileError } from './errors.ts';
import type { ReadRecorder } from './flatten.ts';

const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** Zod schema of one locked package: exactly one of `evra` and `evr`. */
export const lockedPackageSchema = z
  .object({
    evra: z.string().min(1).optional(),
    evr: z.string().min(1).optional(),
    digest: z.string().regex(DIGEST_PATTERN, 'expected sha256:<64 hex digits>').optional(),
    metadata: z.record(z.string(), jsonValueSchema).optional(),
  })
  .strict()
  .refine((entry) => (entry.evra === undefined) !== (entry.evr === undefined), {
    message: 'give exactly one of evra and evr',
  });

/** Zod schema of a lockfile (`packages`, optional `metadata`). */
export const lockfileSchema = z
  .object({
    packages: z.record(z.string().min(1), lockedPackageSchema),
    metadata: z.record(z.string(), jsonValueSchema).optional(),
  })
  .strict();

/** A lockfile, as rpm-ostree reads it. */
export type Lockfile = z.output<typeof lockfileSchema>;

/** One locked package. */
export type LockedPackage = z.output<typeof lockedPackageSchema>;

/** Name of the generated lockfile of `arch`. */
export function lockfileName(arch: string): string {
  return `manifest-lock.${arch}.json`;
}

/** The lockfiles of `arch` in `directory`, in merge order (later entries win). */
export function lockfilePaths(directory: string, arch: string): string[] {
  return [
    path.join(directory, lockfileName(arch)),
    path.join(directory, 'manifest-lock.overrides.yaml'),
    path.join(directory, `manifest-lock.overrides.${arch}.yaml`),
  ];
}

/** Where lockfiles are read from, for messages. */
export interface LockfileOptions {
  /** Construct path of the Manifest node. */
  readonly constructPath: string;
  /** Project directory: files are named relative to it in messages. */
  readonly projectDir: string;
  /**
   * Receives every file read.
   * @default undefined
   */
  readonly reads?: ReadRecorder;
}

/** Reads and validates one lockfile; a file of only comments is an empty lockfile. */
export async function readLockfile(file: string, options: LockfileOptions): Promise<Lockfile> {
  const shown = displayPath(file, options.projectDir);
  options.reads?.set(file, 'file');
  const origin = { constructPath: options.constructPath, file: shown };
  let value: unknown;
  try {
    value = parseYamlOrJson(await readFile(file, 'utf8'), origin);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new LockfileError(`${message} (malformed lockfile)`, origin, error);
  }
  if (value === null || value === undefined) return { packages: {} };
  const result = lockfileSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const at = issue?.path.map(String).join('.') ?? '';
  const detail =
    issue?.code === 'unrecognized_keys'
      ? `unknown key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((key) => `'${key}'`).join(', ')}`
      : (issue?.message ?? 'invalid');
  throw new LockfileError(`${shown}: malformed lockfile: ${at ? `key '${at}': ` : ''}${detail}`, {
    ...origin,
    ...(at ? { field: at } : {}),
  });
}

/** The merged lockfiles of `arch` in `directory` (overrides win), or undefined when there is none. */
export async function readLockfiles(
  directory: string,
  arch: string,
  options: LockfileOptions,
): Promise<Lockfile | undefined> {
  const lockfiles: Lockfile[] = [];
  for (const file of lockfilePaths(directory, arch)) {
    if (existsSync(file)) lockfiles.push(await readLockfile(file, options));
  }
  if (lockfiles.length === 0) return undefined;
  return mergeLockfiles(lockfiles);
}

/** Merges lockfiles in order: a package's entry in a later one replaces the earlier; `metadata` of the first that has one. */
export function mergeLockfiles(lockfiles: readonly Lockfile[]): Lockfile {
  const packages: Record<string, LockedPackage> = {};
  for (const lockfile of lockfiles) Object.assign(packages, lockfile.packages);
  const metadata = lockfiles.find((lockfile) => lockfile.metadata !== undefined)?.metadata;
  return metadata === undefined ? { packages } : { packages, metadata };
}

/** A package of a compose, to pin: its identity and, optionally, the sha256 of its RPM. */
export interface PackageToLock extends PackageIdentity {
  /**
   * sha256 of the RPM file, `sha256:<hex>` or bare hex.
   * @default undefined (no digest pinned)
   */
  readonly digest?: string;
}

/** Options of {@link renderLockfile}. */
export interface RenderLockfileOptions {
  /**
   * `metadata.generated`: when the package set was resolved (ISO 8601); omitted for byte-stability when absent.
   * @default undefined
   */
  readonly generated?: string;
  /**
   * `metadata.rpmmd_repos`: per repository, when its metadata was generated.
   * @default undefined
   */
  readonly rpmmdRepos?: Readonly<Record<string, { readonly generated: string }>>;
  /**
   * Construct path of the node writing it, for errors.
   * @default ''
   */
  readonly constructPath?: string;
}

/** `[epoch:]version-release.arch`, the epoch left out when 0, as rpm-ostree writes `evra`. */
export function formatEvra(identity: PackageIdentity): string {
  const epoch = identity.epoch === 0 ? '' : `${identity.epoch}:`;
  return `${epoch}${identity.version}-${identity.release}.${identity.arch}`;
}

/** `sha256:<hex>` from either form, or an error naming the package. */
function normalizeDigest(digest: string, name: string, constructPath: string): string {
  const prefixed = digest.startsWith('sha256:') ? digest : `sha256:${digest}`;
  if (!DIGEST_PATTERN.test(prefixed)) {
    throw new LockfileError(`package '${name}': digest '${digest}' is not a sha256 digest`, {
      constructPath,
      field: `packages.${name}.digest`,
    });
  }
  return prefixed;
}

/** The bytes of `manifest-lock.<arch>.json` for `packages`: sorted keys, 2-space indent, final newline. */
export function renderLockfile(
  packages: readonly PackageToLock[],
  options: RenderLockfileOptions = {},
): string {
  const constructPath = options.constructPath ?? '';
  const entries: Record<string, LockedPackage> = {};
  for (const identity of packages) {
    if (Object.hasOwn(entries, identity.name)) {
      throw new LockfileError(
        `package '${identity.name}' is listed twice (${entries[identity.name]?.evra} and ${formatEvra(identity)}): a lockfile pins one version per name`,
        { constructPath, field: `packages.${identity.name}` },
      );
    }
    entries[identity.name] = {
      evra: formatEvra(identity),
      ...(identity.digest !== undefined
        ? { digest: normalizeDigest(identity.digest, identity.name, constructPath) }
        : {}),
    };
  }
  const metadata: Record<string, JsonValue> = {};
  if (options.generated !== undefined) metadata.generated = options.generated;
  if (options.rpmmdRepos !== undefined) {
    metadata.rpmmd_repos = Object.fromEntries(
      Object.entries(options.rpmmdRepos).map(([name, repo]) => [name, { generated: repo.generated }]),
    );
  }
  const lockfile = Object.keys(metadata).length > 0 ? { packages: entries, metadata } : { packages: entries };
  return `${canonicalStringify(lockfile, 2)}\n`;
}

/** Writes `manifest-lock.<arch>.json` in `directory` (atomically); returns its path. */
export async function writeLockfile(
  directory: string,
  arch: string,
  packages: readonly PackageToLock[],
  options: RenderLockfileOptions = {},
): Promise<string> {
  const file = path.join(directory, lockfileName(arch));
  const staging = `${file}.${process.pid}.tmp`;
  await writeFile(staging, renderLockfile(packages, options));
  await rename(staging, file);
  return file;
}
