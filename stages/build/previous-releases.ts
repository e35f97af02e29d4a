/**
 * The stream's existing release index, read from a project file or an http(s) URL, and the parent
 * of a new build found in it: the newest release of another version that has a commit for the
 * build's arch (what cosa records as `fedora-coreos.parent-version` / `parent-commit`, the
 * starting point of the upgrade test).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type ReleaseIndex, releaseIndexSchema } from '../../lib/release/formats.ts';
import { BuildError } from './errors.ts';

/** Time limit of fetching a release index over http(s): it is read on every run (fingerprint). */
const FETCH_TIMEOUT_MS = 30_000;

/** The previous release of a build: its version and its commit for the build's arch. */
export interface ParentRelease {
  /** Version of the parent release. */
  readonly version: string;
  /** Its commit for the build's arch. */
  readonly commit: string;
}

/** Where the release index is read from, for errors. */
interface Where {
  readonly nodePath: string;
  readonly projectDir: string;
  readonly signal: AbortSignal;
}

/** The text of the release index at `location`, or undefined when there is none (no file, HTTP 404). */
export async function readPreviousReleases(location: string, where: Where): Promise<string | undefined> {
  if (/^https?:\/\//.test(location)) {
    let response: Response;
    try {
      response = await fetch(location, {
        signal: AbortSignal.any([where.signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]),
      });
    } catch (error) {
      where.signal.throwIfAborted();
      throw new BuildError(`cannot fetch the release index ${location}: ${(error as Error).message}`, {
        constructPath: where.nodePath,
        field: 'previousReleases',
        cause: error,
      });
    }
    if (response.status === 404) return undefined;
    if (!response.ok) {
      throw new BuildError(`cannot fetch the release index ${location}: HTTP ${response.status}`, {
        constructPath: where.nodePath,
        field: 'previousReleases',
      });
    }
    return response.text();
  }
  try {
    return await readFile(path.resolve(where.projectDir, location), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BuildError(`cannot read the release index ${location}: ${(error as Error).message}`, {
      constructPath: where.nodePath,
      field: 'previousReleases',
      cause: error,
    });
  }
}

/** The release index parsed from its text; a BuildError naming the bad field. */
export function parsePreviousReleases(text: string, location: string, nodePath: string): ReleaseIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new BuildError(`the release index ${location} is not JSON: ${(error as Error).message}`, {
      constructPath: nodePath,
      field: 'previousReleases',
    });
  }
  const parsed = releaseIndexSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new BuildError(
    `the release index ${location} is not a releases.json (${issue?.path.join('.')}: ${issue?.message})`,
    { constructPath: nodePath, field: 'previousReleases' },
  );
}

/** The newest release of `index` whose version is not `version` and which has a commit for `arch`. */
export function parentRelease(index: ReleaseIndex, version: string, arch: string): ParentRelease | undefined {
  for (const release of [...index.releases].reverse()) {
    if (release.version === version) continue;
    const commit = release.commits.find((candidate) => candidate.architecture === arch);
    if (commit !== undefined) return { version: release.version, commit: commit.checksum };
  }
  return undefined;
}
