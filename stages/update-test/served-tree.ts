/**
 * The tree an update test serves with fcos-serve, in the publish layout and made with the
 * publish stage's own pieces: the stream's archive repository (`publishStreamRepository`: commits
 * pulled from the cache's repository, the ref on the newest, commits and summary signed), each
 * release's release.json and its releases.json entry (`releaseIndexEntryFor`, `appendRelease`),
 * `updates/<stream>.json` (`buildUpdateMetadata`) with the scenario's rollout of the target, and
 * the public key.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ToolExec } from '../../lib/exec.ts';
import { DirectoryDestination } from '../../lib/release/destinations/directory.ts';
import { publishedPaths, type Release, type ReleaseIndex } from '../../lib/release/formats.ts';
import { releaseIndexEntryFor } from '../../lib/release/release-document.ts';
import { appendRelease } from '../../lib/release/release-index.ts';
import {
  buildUpdateMetadata,
  renderUpdateMetadata,
  type UpdateEntryInput,
} from '../../lib/release/update-metadata.ts';
import { exportPublicKey } from '../../lib/signing/file-signatures.ts';
import type { SigningKey } from '../../lib/signing/signing-key.ts';
import { documentBytes } from '../publish/publish-release.ts';
import { PublishWriter } from '../publish/publish-writer.ts';
import { publishStreamRepository } from '../publish/stream-repository.ts';

/** One release served: its version and commit. */
export interface ServedRelease {
  /** The version (`41.20261101.2.0`). */
  readonly version: string;
  /** The commit checksum. */
  readonly checksum: string;
  /** The commit's ref (`fedora/x86_64/coreos/testing`). */
  readonly ref: string;
  /** Its arch. */
  readonly arch: string;
  /** The commit's timestamp, Unix seconds (dates the documents). */
  readonly timestamp: number;
}

/** What {@link writeServedTree} needs. */
export interface ServedTreeOptions {
  readonly exec: ToolExec;
  readonly log: (line: string) => void;
  /** The directory fcos-serve serves (made if missing). */
  readonly root: string;
  /** A scratch directory (the repository's client checks). */
  readonly workDir: string;
  /** The stream. */
  readonly stream: string;
  /** The base URL the guest reaches the server at (release.json locations). */
  readonly baseUrl: string;
  /** The repository holding the commits (the cache's). */
  readonly sourceRepository: string;
  /** The releases, oldest first; the ref ends on the last one. */
  readonly releases: readonly ServedRelease[];
  /** The update metadata entries (the target's rollout). */
  readonly updates: readonly UpdateEntryInput[];
  /** The key the commits are signed with. */
  readonly key: SigningKey;
}

/** What was written. */
export interface ServedTree {
  /** The release index as written. */
  readonly releaseIndex: ReleaseIndex;
  /** The public key, ASCII-armoured (the guest's gpgkeypath). */
  readonly publicKey: string;
}

/** Writes the served tree into `options.root`. */
export async function writeServedTree(options: ServedTreeOptions): Promise<ServedTree> {
  const { stream, root } = options;
  await mkdir(root, { recursive: true });
  const destination = new DirectoryDestination(root);
  const writer = new PublishWriter(destination, {}, options.log);
  const newest = Math.max(...options.releases.map((release) => release.timestamp));
  const lastModified = utcTime(newest);
  await publishStreamRepository({
    exec: options.exec,
    log: options.log,
    writer,
    repositoryKey: publishedPaths.ostreeRepo(stream),
    sourceRepository: options.sourceRepository,
    commits: options.releases.map((release) => ({ checksum: release.checksum, ref: release.ref })),
    key: options.key,
    workDir: options.workDir,
  });
  let index: ReleaseIndex | undefined;
  for (const served of options.releases) {
    const release: Release = {
      release: served.version,
      stream,
      architectures: { [served.arch]: { commit: served.checksum, media: {} } },
    };
    await writeDocument(root, publishedPaths.release(stream, served.version), documentBytes(release));
    index = appendRelease(index, stream, releaseIndexEntryFor(release, options.baseUrl), lastModified);
  }
  await writeDocument(root, publishedPaths.releaseIndex(stream), documentBytes(index));
  const updates = buildUpdateMetadata({ stream, entries: options.updates });
  await writeDocument(root, publishedPaths.updateMetadata(stream), renderUpdateMetadata(updates));
  const publicKey = await exportPublicKey(options.exec, options.key);
  await writeDocument(root, publishedPaths.signingKey, publicKey);
  return { releaseIndex: index!, publicKey };
}

/** Writes one document under the root. */
async function writeDocument(root: string, key: string, text: string): Promise<void> {
  const file = path.join(root, key);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
}

/** Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`. */
function utcTime(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
