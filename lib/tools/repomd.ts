/**
 * The cheap identity of a remote RPM repository: the sha256 of its `repodata/repomd.xml` (which
 * changes whenever any package or metadata changes), fetched over HTTP(S) or read from a file://
 * URL; through a metalink, the repomd.xml checksum the metalink publishes. A compose's fingerprint
 * is made of these, so an unchanged repository costs one small download, not a dnf run.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FcosError } from '../errors.ts';

/** A remote repository as the Manifest's output metadata lists it. */
export interface RemoteRepositoryUrls {
  /** Repository id. */
  readonly name: string;
  /** Base URLs, tried in order. */
  readonly baseurl: readonly string[];
  /** Metalink URL, if any. */
  readonly metalink: string | null;
  /** Mirror list URL, if any. */
  readonly mirrorlist: string | null;
}

/** A repository whose metadata cannot be fetched. */
export class UnreachableRepositoryError extends FcosError {}

/** Seconds one metadata request may take. */
const REQUEST_TIMEOUT_SECONDS = 30;

/** Fetches `url` as text (file:// read from disk). */
async function fetchText(url: string, signal: AbortSignal): Promise<string> {
  if (url.startsWith('file:')) return readFile(fileURLToPath(url), 'utf8');
  const response = await fetch(url, {
    signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_SECONDS * 1000)]),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
  return response.text();
}

/** `repodata/repomd.xml` under a base URL. */
function repomdUrl(baseurl: string): string {
  return `${baseurl.replace(/\/+$/, '')}/repodata/repomd.xml`;
}

/** The identity of `repository`: `sha256:<hex>` of its repomd.xml (or the one its metalink names). */
export async function repositoryFingerprint(
  repository: RemoteRepositoryUrls,
  signal: AbortSignal,
): Promise<string> {
  const failures: string[] = [];
  if (repository.metalink) {
    try {
      const metalink = await fetchText(repository.metalink, signal);
      const published = /<hash type="sha256">([0-9a-f]{64})<\/hash>/.exec(metalink)?.[1];
      if (published) return `sha256:${published}`;
      failures.push(`${repository.metalink}: no sha256 of repomd.xml in the metalink`);
    } catch (error) {
      failures.push(`${repository.metalink}: ${(error as Error).message}`);
    }
  }
  const bases = [...repository.baseurl];
  if (repository.mirrorlist) {
    try {
      bases.push(
        ...(await fetchText(repository.mirrorlist, signal))
          .split('\n')
          .filter((line) => /^\w+:\/\//.test(line.trim())),
      );
    } catch (error) {
      failures.push(`${repository.mirrorlist}: ${(error as Error).message}`);
    }
  }
  for (const base of bases) {
    signal.throwIfAborted();
    try {
      return `sha256:${createHash('sha256')
        .update(await fetchText(repomdUrl(base), signal))
        .digest('hex')}`;
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      failures.push(`${repomdUrl(base)}: ${cause ?? (error as Error).message}`);
    }
  }
  throw new UnreachableRepositoryError(
    `repository '${repository.name}' is unreachable (${failures.join('; ') || 'no baseurl, metalink or mirrorlist'}): check the network and its .repo file`,
    { field: 'repos' },
  );
}
