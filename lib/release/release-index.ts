/**
 * Adding a release to a stream's release index (`<stream>/releases.json`), with the rules of
 * Fedora CoreOS's release tooling: oldest first, append-only, versions unique. The newest entry
 * may be published again only as a superset of itself (the same release.json URL, every commit
 * it had, possibly more arches), which is how arches published at different times join one
 * release. Pure: the caller reads and writes the file.
 */
import { ReleaseIndexError } from './errors.ts';
import type { ReleaseIndex, ReleaseIndexEntry } from './formats.ts';

/**
 * The index with `entry` appended (or merged into the newest entry of the same version);
 * `lastModified` is set only when the index changed, so publishing twice gives the same bytes.
 */
export function appendRelease(
  index: ReleaseIndex | undefined,
  stream: string,
  entry: ReleaseIndexEntry,
  lastModified: string,
): ReleaseIndex {
  checkCommitsOfEntry(entry);
  if (index === undefined) {
    return { stream, metadata: { 'last-modified': lastModified }, releases: [entry] };
  }
  if (index.stream !== stream) {
    throw new ReleaseIndexError(entry.version, `the index is of stream '${index.stream}', not '${stream}'`);
  }
  const position = index.releases.findIndex((existing) => existing.version === entry.version);
  if (position < 0) {
    return withReleases(index, [...index.releases, entry], lastModified);
  }
  const newest = index.releases[index.releases.length - 1]!;
  if (position !== index.releases.length - 1) {
    throw new ReleaseIndexError(
      entry.version,
      `it is already in the index and is not the newest release (${newest.version} is): the index is append-only`,
    );
  }
  const merged = mergeIntoNewest(newest, entry);
  if (merged === newest) return index;
  return withReleases(index, [...index.releases.slice(0, -1), merged], lastModified);
}

/** The newest entry extended by `entry`'s new arches, or `newest` itself when nothing is new. */
function mergeIntoNewest(newest: ReleaseIndexEntry, entry: ReleaseIndexEntry): ReleaseIndexEntry {
  if (newest.metadata !== entry.metadata) {
    throw new ReleaseIndexError(
      entry.version,
      `it is already the newest release with metadata ${newest.metadata}, and may be added again only with the same URL (got ${entry.metadata})`,
    );
  }
  const given = new Map(entry.commits.map((commit) => [commit.architecture, commit.checksum]));
  for (const existing of newest.commits) {
    const checksum = given.get(existing.architecture);
    if (checksum === undefined) {
      throw new ReleaseIndexError(
        entry.version,
        `it is already the newest release with a ${existing.architecture} commit, which the new entry lacks: re-adding must keep every arch`,
      );
    }
    if (checksum !== existing.checksum) {
      throw new ReleaseIndexError(
        entry.version,
        `its ${existing.architecture} commit is ${existing.checksum} in the index; a release's commit never changes (got ${checksum})`,
      );
    }
  }
  const known = new Set(newest.commits.map((commit) => commit.architecture));
  const added = entry.commits.filter((commit) => !known.has(commit.architecture));
  if (added.length === 0) return newest;
  return { ...newest, commits: [...newest.commits, ...added] };
}

/** Refuses an entry naming an arch twice (its commits would contradict each other). */
function checkCommitsOfEntry(entry: ReleaseIndexEntry): void {
  const seen = new Set<string>();
  for (const commit of entry.commits) {
    if (seen.has(commit.architecture)) {
      throw new ReleaseIndexError(entry.version, `the entry names arch ${commit.architecture} twice`);
    }
    seen.add(commit.architecture);
  }
}

/** A copy of the index with other releases and a new last-modified time. */
function withReleases(
  index: ReleaseIndex,
  releases: ReleaseIndexEntry[],
  lastModified: string,
): ReleaseIndex {
  return { ...index, metadata: { ...index.metadata, 'last-modified': lastModified }, releases };
}
