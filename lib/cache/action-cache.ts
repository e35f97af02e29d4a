/**
 * The action cache: what running a node with given inputs produced. A record, keyed by the
 * action key (sha256 of the key material), lists the node's outputs as blob or tree digests and
 * is stored at `<root>/actions/<first 2>/<key>.json`, written atomically. Its mtime is its last
 * use, for LRU eviction. A per-node index (`<root>/nodes/<sha256 of path>.json`) remembers the
 * last key material of each node, so that a miss can be explained by what changed.
 */
import { readFileSync, utimesSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ARTIFACT_STORAGES } from '../runner.ts';
import { canonicalStringify, type JsonValue, jsonValueSchema } from '../util/canonical-json.ts';
import { InvalidActionKeyError, InvalidActionRecordError } from './errors.ts';
import { isErrno, readdirIfExists } from './fs-helpers.ts';
import { DIGEST_PATTERN, sha256Bytes } from './hash.ts';
import { STAGING_DIRECTORY, writeFileAtomic } from './staging.ts';
import { compareCodeUnits } from './tree-manifest.ts';

/** Version of the action record format. */
export const ACTION_RECORD_SCHEMA_VERSION = 2;
/** An action key: the sha256 (64 lowercase hex digits) of the canonical key material. */
export const ACTION_KEY_PATTERN = /^[0-9a-f]{64}$/;

const digestSchema = z.string().regex(DIGEST_PATTERN, 'expected a sha256 digest (64 lowercase hex digits)');
const jsonObjectSchema = z.record(z.string(), jsonValueSchema);

/**
 * One output of an action, by how it is stored: a file blob, a tree manifest blob, or an ostree
 * commit checksum (which names a commit, not a blob), with
 * its size in bytes and any extra JSON metadata (arch, platform ...) as further members.
 */
export const actionOutputSchema = z
  .object({
    digest: digestSchema,
    storage: z.enum(ARTIFACT_STORAGES),
    size: z.number().int().nonnegative(),
  })
  .catchall(jsonValueSchema);

/** Zod schema of an action record. */
export const actionRecordSchema = z
  .object({
    schemaVersion: z.literal(ACTION_RECORD_SCHEMA_VERSION),
    key: z.string().regex(ACTION_KEY_PATTERN, 'expected an action key (64 lowercase hex digits)'),
    node: z.string().min(1).describe('Construct path of the node that ran.'),
    kind: z.string().min(1).describe('Kind of the node (DiskImage ...).'),
    outputs: z.record(z.string(), actionOutputSchema),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime(),
    durationMs: z.number().nonnegative(),
    logDigest: digestSchema.optional().describe('Blob holding the log of the run.'),
    keyMaterial: jsonObjectSchema.describe('The inputs that produced the key, to explain misses.'),
  })
  .strict();

/** One output of an action record. */
export type ActionOutput = z.output<typeof actionOutputSchema>;
/** An action record. */
export type ActionRecord = z.output<typeof actionRecordSchema>;

/** A record with its last use, as listed by {@link ActionCache.list}. */
export interface ActionCacheEntry {
  /** The record. */
  readonly record: ActionRecord;
  /** Last time it was written or touched (its file's mtime). */
  readonly lastUsedAt: Date;
}

/** A record file that could not be used and was deleted, as {@link ActionCache.list} reports it. */
export interface DeletedActionRecord {
  /** The key it was stored under. */
  readonly key: string;
  /** Why it could not be used. */
  readonly reason: string;
}

/** Options of {@link ActionCache.get} and {@link ActionCache.list}. */
export interface ReadRecordOptions {
  /** Told of each record that does not parse (or is stored under the wrong key), before it is deleted. */
  readonly onDeleted?: (deleted: DeletedActionRecord) => void;
}

/** What the per-node index remembers of a node's last run. */
export interface NodeIndexEntry {
  /** Action key of the last record written for the node. */
  readonly key: string;
  /** Key material of that run. */
  readonly keyMaterial: Record<string, JsonValue>;
  /** When the index entry was written, ISO 8601. */
  readonly updatedAt: string;
}

const nodeIndexSchema = z
  .object({
    schemaVersion: z.literal(1),
    node: z.string(),
    key: z.string().regex(ACTION_KEY_PATTERN),
    keyMaterial: jsonObjectSchema,
    updatedAt: z.iso.datetime(),
  })
  .strict();

/** Options of an {@link ActionCache}. */
export interface ActionCacheOptions {
  /**
   * Flush records to disk before renaming them into place.
   * @default true
   */
  readonly fsync?: boolean;
}

/** Throws {@link InvalidActionKeyError} unless `key` has the form of an action key. */
export function assertActionKey(key: string): void {
  if (!ACTION_KEY_PATTERN.test(key)) throw new InvalidActionKeyError(key);
}

/** Action records and the per-node index under one cache root. */
export class ActionCache {
  /** Root directory of the cache. */
  readonly root: string;
  /** `<root>/actions`. */
  readonly actionsDirectory: string;
  /** `<root>/nodes`. */
  readonly nodesDirectory: string;
  private readonly stagingDirectory: string;
  private readonly fsync: boolean;

  constructor(root: string, options: ActionCacheOptions = {}) {
    this.root = path.resolve(root);
    this.actionsDirectory = path.join(this.root, 'actions');
    this.nodesDirectory = path.join(this.root, 'nodes');
    this.stagingDirectory = path.join(this.root, STAGING_DIRECTORY);
    this.fsync = options.fsync ?? true;
  }

  /** Where the record of `key` is stored. */
  recordPath(key: string): string {
    assertActionKey(key);
    return path.join(this.actionsDirectory, key.slice(0, 2), `${key}.json`);
  }

  /**
   * The record of `key`, or undefined on a miss. A record that does not parse, or is stored under
   * the wrong key, is deleted (told to `onDeleted`) and reported as a miss.
   */
  async get(key: string, options: ReadRecordOptions = {}): Promise<ActionRecord | undefined> {
    const file = this.recordPath(key);
    const json = await readJsonIfExists(file);
    if (json === undefined) return undefined;
    const parsed = actionRecordSchema.safeParse(json.value);
    if (parsed.success && parsed.data.key === key) return parsed.data;
    await rm(file, { force: true });
    options.onDeleted?.({ key, reason: whyUnusable(json.value, parsed, key) });
    return undefined;
  }

  /** Validates and stores a record (replacing any record of the same key); resolves to it parsed. */
  async put(record: ActionRecord): Promise<ActionRecord> {
    const parsed = actionRecordSchema.safeParse(record);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
      throw new InvalidActionRecordError(String(record.key), `${where}${issue?.message ?? 'invalid'}`);
    }
    const file = this.recordPath(parsed.data.key);
    await this.writeJson(file, parsed.data);
    return parsed.data;
  }

  /** Marks the record of `key` as just used (LRU); resolves to whether it exists. */
  async touch(key: string): Promise<boolean> {
    const now = new Date();
    try {
      utimesSync(this.recordPath(key), now, now); // synchronous: see readJsonIfExists
      return true;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    }
  }

  /** Deletes the record of `key`; resolves to whether it existed. */
  async remove(key: string): Promise<boolean> {
    try {
      await rm(this.recordPath(key));
      return true;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    }
  }

  /**
   * Every valid record with its last use, least recently used first. Corrupt records are deleted
   * (each told to `onDeleted`).
   */
  async list(options: ReadRecordOptions = {}): Promise<ActionCacheEntry[]> {
    const entries: ActionCacheEntry[] = [];
    for (const shard of await readdirIfExists(this.actionsDirectory)) {
      const shardDirectory = path.join(this.actionsDirectory, shard);
      for (const name of await readdirIfExists(shardDirectory)) {
        const key = name.endsWith('.json') ? name.slice(0, -'.json'.length) : '';
        if (!ACTION_KEY_PATTERN.test(key) || !key.startsWith(shard)) continue;
        const record = await this.get(key, options);
        if (!record) continue;
        const lastUsedAt = await modifiedAt(this.recordPath(key));
        if (lastUsedAt) entries.push({ record, lastUsedAt });
      }
    }
    return entries.sort(
      (left, right) =>
        left.lastUsedAt.getTime() - right.lastUsedAt.getTime() ||
        compareCodeUnits(left.record.key, right.record.key),
    );
  }

  /** Where the index entry of the node at `nodePath` is stored. */
  nodeIndexPath(nodePath: string): string {
    return path.join(this.nodesDirectory, `${sha256Bytes(nodePath)}.json`);
  }

  /** The last key and key material recorded for a node, or undefined (a corrupt entry is deleted). */
  async getLastForNode(nodePath: string): Promise<NodeIndexEntry | undefined> {
    const file = this.nodeIndexPath(nodePath);
    const json = await readJsonIfExists(file);
    if (json === undefined) return undefined;
    const parsed = nodeIndexSchema.safeParse(json.value);
    if (parsed.success && parsed.data.node === nodePath) {
      const { key, keyMaterial, updatedAt } = parsed.data;
      return { key, keyMaterial, updatedAt };
    }
    await rm(file, { force: true });
    return undefined;
  }

  /** Records `key` and its key material as the last run of the node at `nodePath`. */
  async setLastForNode(nodePath: string, key: string, keyMaterial: Record<string, unknown>): Promise<void> {
    assertActionKey(key);
    const entry = nodeIndexSchema.parse({
      schemaVersion: 1,
      node: nodePath,
      key,
      keyMaterial: JSON.parse(canonicalStringify(keyMaterial)),
      updatedAt: new Date().toISOString(),
    });
    await this.writeJson(this.nodeIndexPath(nodePath), entry);
  }

  /** Writes `value` as indented canonical JSON to `file`, atomically. */
  private async writeJson(file: string, value: unknown): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    await mkdir(this.stagingDirectory, { recursive: true });
    await writeFileAtomic(file, `${canonicalStringify(value, 2)}\n`, {
      stagingDirectory: this.stagingDirectory,
      fsync: this.fsync,
    });
  }
}

/** Why a record file's content cannot be used as the record of `key`, as a phrase. */
function whyUnusable(
  value: unknown,
  parsed: ReturnType<typeof actionRecordSchema.safeParse>,
  key: string,
): string {
  if (value === undefined) return 'not JSON (truncated or overwritten)';
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return `not an action record (${where}${issue?.message ?? 'invalid'})`;
  }
  return `stored under ${key} but it is the record of ${parsed.data.key}`;
}

/** Parsed JSON of `file` (`value` undefined when it is not JSON), or undefined when it is missing. */
async function readJsonIfExists(file: string): Promise<{ value: unknown } | undefined> {
  let text: string;
  try {
    // Synchronous on purpose: records are small, and a run served from the cache reads thousands;
    // a direct read costs microseconds where a trip through libuv's thread pool costs tens.
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  try {
    return { value: JSON.parse(text) };
  } catch {
    return { value: undefined };
  }
}

/** The mtime of `file`, or undefined when it is gone. */
async function modifiedAt(file: string): Promise<Date | undefined> {
  try {
    return (await stat(file)).mtime;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}
