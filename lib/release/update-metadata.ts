/**
 * A stream's update metadata (`updates/<stream>.json`: barriers, dead-ends, rollouts), built from
 * typed entries and, optionally, the document as it was: pure, so the same inputs always give the
 * same bytes (the UpdateMetadata runner is cached by its inputs, and builds are reproducible).
 * The document is written as fedora-coreos-streams writes it (key order, `start_percentage` as a
 * float: `1.0`), so the reference document round-trips byte for byte.
 */
import { FcosError } from '../errors.ts';
import type { Rollout, UpdateEntry, UpdateEntryMetadata, UpdateMetadataDocument } from './formats.ts';

/** One release's update metadata as typed props give it (camelCase; written in the real snake_case). */
export interface UpdateEntryInput {
  /** The release's version. */
  readonly version: string;
  /** Every update path to a later release goes through this one. @default none */
  readonly barrier?: { readonly reason: string };
  /** Machines on this release get no update and are told why. @default none */
  readonly deadend?: { readonly reason: string };
  /** A staged rollout. @default none */
  readonly rollout?: {
    /** Start, Unix seconds. */
    readonly startEpoch: number;
    /** Share of the fleet (0–1) offered the release at the start. */
    readonly startPercentage: number;
    /** Minutes until the whole fleet is offered it. @default none (stays at startPercentage) */
    readonly durationMinutes?: number;
  };
}

/** What {@link buildUpdateMetadata} takes. */
export interface UpdateMetadataInput {
  /** The stream. */
  readonly stream: string;
  /**
   * Entries in release order. One for a version of `existing` replaces that entry where it stands
   * (its whole metadata: a barrier not repeated is gone); the others are appended.
   */
  readonly entries: readonly UpdateEntryInput[];
  /** The document to start from (its entries come first). @default none */
  readonly existing?: UpdateMetadataDocument;
  /**
   * The time (Unix seconds) rollouts are judged finished at and the document's `last-modified`.
   * @default the start of the newest rollout (see {@link buildUpdateMetadata})
   */
  readonly asOf?: number;
  /** Construct path for errors. @default none */
  readonly constructPath?: string;
}

/** The update entries cannot form a document: a version twice, out of release order, another stream. */
export class UpdateMetadataError extends FcosError {}

/**
 * Builds the update metadata document. The existing document's entries come first, then
 * `entries` (replacing an existing entry of the same version in place, appending the others); the
 * result must be in release order ({@link compareReleaseVersions}) with each version once.
 *
 * Clean-up: a finished rollout collapses to `{start_percentage: 1.0}`, as fedora-coreos-streams
 * does by hand. "Finished" never reads the wall clock (the output must depend on the inputs only):
 * a rollout is finished when it has a start and a duration and `start_epoch + 60 · duration_minutes`
 * is at or before `asOf`. Without `asOf`, the reference time is the start of the newest rollout in
 * the document (the largest `start_epoch`), so a rollout counts as finished once it had ended when
 * a later rollout started; the newest rollout itself is never collapsed that way (unless its
 * duration is 0). A rollout without a duration never ends (its threshold stays at
 * `start_percentage`), and one without a start is left as it is.
 *
 * `last-modified` is `asOf` when given, else the later of the newest rollout start and the
 * existing document's `last-modified`, else the epoch (1970-01-01T00:00:00Z).
 */
export function buildUpdateMetadata(input: UpdateMetadataInput): UpdateMetadataDocument {
  const errorOptions = input.constructPath === undefined ? {} : { constructPath: input.constructPath };
  if (input.existing && input.existing.stream !== input.stream) {
    throw new UpdateMetadataError(
      `the existing update metadata is for stream '${input.existing.stream}', not '${input.stream}'`,
      { ...errorOptions, field: 'from' },
    );
  }
  const merged = mergeEntries(input, errorOptions);
  const newestStart = newestRolloutStart(merged.map((entry) => entry.entry));
  const asOf = input.asOf ?? newestStart;
  const releases = merged.map(({ entry }) =>
    asOf !== undefined && isFinishedRollout(entry.metadata.rollout, asOf)
      ? { ...entry, metadata: { ...entry.metadata, rollout: { start_percentage: 1 } } }
      : entry,
  );
  return {
    ...input.existing,
    stream: input.stream,
    metadata: { ...input.existing?.metadata, 'last-modified': lastModified(input, newestStart) },
    releases,
  };
}

/** An entry of the merged list and where it came from, for error fields. */
interface MergedEntry {
  readonly entry: UpdateEntry;
  /** `from` for an existing entry, `releases.<n>.version` for a given one. */
  readonly field: string;
}

/** The existing entries with the given ones replacing or appended, checked for duplicates and order. */
function mergeEntries(input: UpdateMetadataInput, errorOptions: { constructPath?: string }): MergedEntry[] {
  const merged: MergedEntry[] = [];
  const positionOfVersion = new Map<string, number>();
  for (const entry of input.existing?.releases ?? []) {
    if (positionOfVersion.has(entry.version)) {
      throw new UpdateMetadataError(`the existing update metadata lists version ${entry.version} twice`, {
        ...errorOptions,
        field: 'from',
      });
    }
    positionOfVersion.set(entry.version, merged.length);
    merged.push({ entry, field: 'from' });
  }
  const givenAt = new Map<string, number>();
  input.entries.forEach((given, index) => {
    const field = `releases.${index}.version`;
    const earlier = givenAt.get(given.version);
    if (earlier !== undefined) {
      throw new UpdateMetadataError(`version ${given.version} is listed twice (also releases.${earlier})`, {
        ...errorOptions,
        field,
      });
    }
    const previous = input.entries[index - 1];
    if (previous && compareReleaseVersions(previous.version, given.version) > 0) {
      throw new UpdateMetadataError(
        `version ${given.version} is older than ${previous.version} listed before it: list releases oldest first`,
        { ...errorOptions, field },
      );
    }
    givenAt.set(given.version, index);
    const entry = toUpdateEntry(given);
    const position = positionOfVersion.get(given.version);
    if (position === undefined) {
      positionOfVersion.set(given.version, merged.length);
      merged.push({ entry, field });
    } else {
      merged[position] = { entry: { ...merged[position]!.entry, metadata: entry.metadata }, field };
    }
  });
  for (let position = 1; position < merged.length; position++) {
    const before = merged[position - 1]!;
    const after = merged[position]!;
    if (compareReleaseVersions(before.entry.version, after.entry.version) > 0) {
      const field = after.field === 'from' ? before.field : after.field;
      throw new UpdateMetadataError(
        `version ${after.entry.version} comes after ${before.entry.version} but is older: update metadata lists releases oldest first`,
        { ...errorOptions, field },
      );
    }
  }
  return merged;
}

/** A typed entry in the real snake_case format. */
export function toUpdateEntry(given: UpdateEntryInput): UpdateEntry {
  const metadata: UpdateEntryMetadata = {};
  if (given.barrier) metadata.barrier = { reason: given.barrier.reason };
  if (given.deadend) metadata.deadend = { reason: given.deadend.reason };
  if (given.rollout) {
    const { startEpoch, startPercentage, durationMinutes } = given.rollout;
    metadata.rollout = {
      ...(durationMinutes === undefined ? {} : { duration_minutes: durationMinutes }),
      start_epoch: startEpoch,
      start_percentage: startPercentage,
    };
  }
  return { version: given.version, metadata };
}

/** The largest `start_epoch` of the entries' rollouts, if any has one. */
function newestRolloutStart(entries: readonly UpdateEntry[]): number | undefined {
  let newest: number | undefined;
  for (const entry of entries) {
    const start = entry.metadata.rollout?.start_epoch;
    if (start !== undefined && (newest === undefined || start > newest)) newest = start;
  }
  return newest;
}

/** When a rollout offers the release to the whole fleet (Unix seconds), if it has a start and a duration. */
export function rolloutEnd(rollout: Rollout | undefined): number | undefined {
  if (rollout?.start_epoch === undefined || rollout.duration_minutes === undefined) return undefined;
  return rollout.start_epoch + 60 * rollout.duration_minutes;
}

/** Whether `rollout` had ended at `asOf` (see {@link buildUpdateMetadata}). */
function isFinishedRollout(rollout: Rollout | undefined, asOf: number): boolean {
  const end = rolloutEnd(rollout);
  return end !== undefined && end <= asOf;
}

/** The document's `last-modified`, from the inputs only. */
function lastModified(input: UpdateMetadataInput, newestStart: number | undefined): string {
  if (input.asOf !== undefined) return utcTime(input.asOf);
  const existing = input.existing?.metadata['last-modified'];
  const existingSeconds = existing === undefined ? undefined : Date.parse(existing) / 1000;
  const candidates = [newestStart, existingSeconds].filter((value): value is number => value !== undefined);
  return utcTime(candidates.length === 0 ? 0 : Math.max(...candidates));
}

/** Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`. */
function utcTime(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Orders versions as releases follow each other: dot-separated parts compared numerically when
 * both are digits (`40.20240110.2.0` < `40.20240110.2.10`), as text otherwise; a version that is a
 * prefix of another comes first.
 */
export function compareReleaseVersions(left: string, right: string): number {
  const leftParts = left.split('.');
  const rightParts = right.split('.');
  for (let index = 0; index < Math.min(leftParts.length, rightParts.length); index++) {
    const a = leftParts[index]!;
    const b = rightParts[index]!;
    if (a === b) continue;
    if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
      const difference = BigInt(a) - BigInt(b);
      if (difference !== 0n) return difference < 0n ? -1 : 1;
      continue;
    }
    return a < b ? -1 : 1;
  }
  return leftParts.length - rightParts.length;
}

/** Known keys first, in the order fedora-coreos-streams writes them; unknown keys after, as they were. */
function ordered(value: object, keys: readonly string[]): Record<string, unknown> {
  const record = value as Record<string, unknown>;
  const result: Record<string, unknown> = {};
  for (const key of keys) if (record[key] !== undefined) result[key] = record[key];
  for (const [key, member] of Object.entries(record)) if (!(key in result)) result[key] = member;
  return result;
}

/**
 * The document as fedora-coreos-streams writes `updates/<stream>.json`: two-space indent, its key
 * order, `start_percentage` always with a fraction (`1.0`, `0.0`: it is a float), a final newline.
 */
export function renderUpdateMetadata(document: UpdateMetadataDocument): string {
  const shaped = ordered({ ...document, releases: document.releases.map(shapeEntry) }, [
    'stream',
    'metadata',
    'releases',
  ]);
  const text = JSON.stringify(shaped, null, 2);
  // Keys inside JSON strings have their quotes escaped, so only real start_percentage keys match.
  return `${text.replace(/("start_percentage": )(-?\d+)(?=,?\n)/g, '$1$2.0')}\n`;
}

/** One entry with its keys in the written order. */
function shapeEntry(entry: UpdateEntry): Record<string, unknown> {
  const metadata = ordered(
    {
      ...entry.metadata,
      ...(entry.metadata.rollout
        ? {
            rollout: ordered(entry.metadata.rollout, ['duration_minutes', 'start_epoch', 'start_percentage']),
          }
        : {}),
    },
    ['barrier', 'deadend', 'rollout'],
  );
  return ordered({ ...entry, metadata }, ['version', 'metadata']);
}
