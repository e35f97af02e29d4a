/**
 * Publishing one release, object by object, in the order that keeps every reader safe: the build
 * files (images and their signatures, meta.json, release.json), then the stream's ostree
 * repository, then the indexes (releases.json, builds.json), the update metadata and the public
 * key, and the stream metadata (`streams/<stream>.json`) last, so nothing points at a file that is
 * not there yet. Everything that could be refused (a published file with other content, an index
 * that is not append-only) is checked before the first write. Every write is skipped when the
 * destination holds the same digest, and a signature is kept when it verifies for the same file
 * and key (a signature is not reproducible), so publishing an unchanged release sends nothing.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import PQueue from 'p-queue';
import type { z } from 'zod';
import { sha256Bytes, sha256File } from '../../lib/cache/hash.ts';
import type { ToolExec } from '../../lib/exec.ts';
import { addBuild } from '../../lib/release/builds-index.ts';
import type { PublishDestination } from '../../lib/release/destinations/destination.ts';
import { BuildsIndexError, ReleaseIndexError } from '../../lib/release/errors.ts';
import {
  type BuildsIndex,
  buildsIndexSchema,
  publishedPaths,
  type ReleaseIndex,
  releaseIndexSchema,
} from '../../lib/release/formats.ts';
import { releaseIndexEntryFor } from '../../lib/release/release-document.ts';
import { appendRelease } from '../../lib/release/release-index.ts';
import { streamMetadataFromRelease } from '../../lib/release/stream-metadata.ts';
import {
  exportPublicKey,
  importPublicKeys,
  signFile,
  verifyFileSignature,
} from '../../lib/signing/file-signatures.ts';
import { createPrivateHomeDirectory, gpgArguments, openGnupgHome } from '../../lib/signing/gnupg-home.ts';
import type { SigningKey } from '../../lib/signing/signing-key.ts';
import { PublishConflictError } from './errors.ts';
import { type PublishHooks, PublishWriter, type WriteTally } from './publish-writer.ts';
import type { PlannedFile, PublishPlan } from './release-plan.ts';
import { publishStreamRepository } from './stream-repository.ts';

/** What {@link publishRelease} works with. */
export interface PublishContext {
  /** Construct path of the node, for errors. */
  readonly nodePath: string;
  /** Runs tools. */
  readonly exec: ToolExec;
  /** The node's log. */
  readonly log: (line: string) => void;
  /** A directory of the node's (signatures, staging, scratch homes). */
  readonly workDir: string;
  /** Where to publish. */
  readonly destination: PublishDestination;
  /** The key to sign with, or undefined. */
  readonly key: SigningKey | undefined;
  /**
   * Test hooks.
   * @default {}
   */
  readonly hooks?: PublishHooks;
}

/** What a publish did: the Publish node's output (`publication.json`). */
export interface Publication extends WriteTally {
  /** The stream. */
  readonly stream: string;
  /** The version published. */
  readonly version: string;
  /** The destination (`/path` or `s3://bucket/prefix`). */
  readonly destination: string;
  /** The fingerprint of the signing key, or null when nothing was signed. */
  readonly signingKey: string | null;
  /** The stream's versions in the release index after the publish, oldest first. */
  readonly versions: readonly string[];
}

/** Publishes `plan` into the context's destination; returns what it wrote and skipped. */
export async function publishRelease(plan: PublishPlan, context: PublishContext): Promise<Publication> {
  const { destination, key, log, nodePath } = context;
  const { stream, version, lastModified } = plan;
  const writer = new PublishWriter(destination, context.hooks ?? {}, log);
  log(
    `publishing ${stream} ${version} to ${destination.description}${key ? `, signed with ${key.fingerprint}` : ''}`,
  );

  // Everything that could be refused, before the first write.
  const indexKey = publishedPaths.releaseIndex(stream);
  const existingIndex = await readDocument<ReleaseIndex>(destination, indexKey, releaseIndexSchema, nodePath);
  const index = refusedAs(destination, indexKey, nodePath, () =>
    appendRelease(
      existingIndex,
      stream,
      releaseIndexEntryFor(plan.release.document, plan.baseUrl),
      lastModified,
    ),
  );
  const buildsKey = publishedPaths.buildsIndex(stream);
  const existingBuilds = await readDocument<BuildsIndex>(destination, buildsKey, buildsIndexSchema, nodePath);
  const builds = refusedAs(destination, buildsKey, nodePath, () =>
    addBuild(
      existingBuilds,
      version,
      plan.arches.map((arch) => arch.arch),
      lastModified,
    ),
  );
  for (const arch of plan.arches) {
    for (const file of [...arch.files, arch.meta]) {
      const stored = await destination.stat(file.key);
      if (stored?.sha256 !== undefined && stored.sha256 !== file.sha256) {
        throw new PublishConflictError(
          `${destination.description}: ${file.key} is already published with sha256 ${stored.sha256}, but the ${arch.arch} build of ${version} has ${file.sha256}: a published build never changes (publish it as a new version)`,
          { constructPath: nodePath, key: file.key },
        );
      }
    }
  }

  // 1. The build files, each with its signature, then meta.json of each arch, then release.json.
  // Signing reads the whole file (3.7 s for a 1 GiB disk here): one file per core at a time.
  const files = new PQueue({ concurrency: availableParallelism() });
  const published: Promise<void>[] = [];
  for (const arch of plan.arches) {
    for (const file of arch.files) {
      published.push(
        files.add(async () => {
          await writer.put(file.key, { file: file.path, size: file.size }, file.sha256);
          if (key) await publishSignature(file, key, writer, context);
        }),
      );
    }
  }
  try {
    await Promise.all(published);
  } catch (error) {
    // Nothing more is written after a failure: drop what has not started, let the rest finish.
    files.clear();
    await files.onIdle();
    throw error;
  }
  for (const arch of plan.arches) {
    await writer.put(arch.meta.key, { file: arch.meta.path, size: arch.meta.size }, arch.meta.sha256);
  }
  const releaseFile = plan.release.file;
  await writer.put(releaseFile.key, { file: releaseFile.path, size: releaseFile.size }, releaseFile.sha256);

  // 2. The stream's ostree repository.
  await publishStreamRepository({
    exec: context.exec,
    log,
    writer,
    repositoryKey: publishedPaths.ostreeRepo(stream),
    sourceRepository: plan.sourceRepository,
    commits: plan.arches.map((arch) => arch.commit),
    key,
    workDir: context.workDir,
  });

  // 3. The indexes, the update metadata, the public key.
  await putDocument(writer, indexKey, index, index === existingIndex);
  await putDocument(writer, buildsKey, builds, builds === existingBuilds);
  if (plan.updates) {
    const { file } = plan.updates;
    await writer.put(file.key, { file: file.path, size: file.size }, file.sha256);
  }
  if (key) await publishPublicKey(key, writer, context);

  // 4. The stream metadata, last: from now on installers and clouds see the release.
  const streamKey = publishedPaths.streamMetadata(stream);
  await putDocument(writer, streamKey, streamMetadataFromRelease(plan.release.document, lastModified), false);

  const tally = writer.tally();
  log(
    `published ${stream} ${version}: ${tally.objectsWritten} object(s), ${tally.bytesSent} bytes written; ${tally.skipped.length} file(s) and ${tally.repositoryObjects.present} repository object(s) already there`,
  );
  return {
    stream,
    version,
    destination: destination.description,
    signingKey: key?.fingerprint ?? null,
    versions: index.releases.map((release) => release.version),
    ...tally,
  };
}

/** Runs a pure index update, turning its refusal into a conflict error naming the node and key. */
function refusedAs<T>(destination: PublishDestination, key: string, nodePath: string, update: () => T): T {
  try {
    return update();
  } catch (error) {
    if (error instanceof ReleaseIndexError || error instanceof BuildsIndexError) {
      throw new PublishConflictError(`${destination.description}: ${error.message}`, {
        constructPath: nodePath,
        key,
        cause: error,
      });
    }
    throw error;
  }
}

/** A JSON document of the destination, validated; undefined when absent. */
async function readDocument<T>(
  destination: PublishDestination,
  key: string,
  schema: z.ZodType<T>,
  nodePath: string,
): Promise<T | undefined> {
  const bytes = await destination.read(key);
  if (bytes === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new PublishConflictError(
      `${destination.description}: ${key} is not JSON: ${(error as Error).message}`,
      {
        constructPath: nodePath,
        key,
      },
    );
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PublishConflictError(
      `${destination.description}: ${key} is not a valid document (${issue?.path.map(String).join('.') || '(root)'}: ${issue?.message}): repair or remove it`,
      { constructPath: nodePath, key },
    );
  }
  return parsed.data;
}

/** The bytes of a published JSON document: two-space indentation and a final newline. */
export function documentBytes(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** Writes a document unless it is unchanged (`unchanged`: the update returned the existing one). */
async function putDocument(
  writer: PublishWriter,
  key: string,
  document: unknown,
  unchanged: boolean,
): Promise<void> {
  if (unchanged) {
    writer.skip(key);
    return;
  }
  const bytes = documentBytes(document);
  await writer.put(key, { bytes }, sha256Bytes(bytes));
}

/** `<file>.sig`: kept when the destination's verifies for this file and key, else made and written. */
async function publishSignature(
  file: PlannedFile,
  key: SigningKey,
  writer: PublishWriter,
  context: PublishContext,
): Promise<void> {
  const signatureKey = `${file.key}.sig`;
  const directory = path.join(context.workDir, 'signatures');
  await mkdir(directory, { recursive: true });
  const local = path.join(directory, `${signatureKey.replaceAll('/', '_')}`);
  if (
    (await writer.destination.download(signatureKey, local)) &&
    (await verifyFileSignature(context.exec, key, file.path, local)).valid
  ) {
    writer.skip(signatureKey);
    return;
  }
  await signFile(context.exec, key, file.path, local);
  const { digest, size } = await sha256File(local);
  await writer.put(signatureKey, { file: local, size }, digest);
}

/**
 * `signing-key.asc`: the signing key's public part, added to the keys already published (files
 * signed by an earlier key stay verifiable); left as it is when it holds the key already.
 */
async function publishPublicKey(
  key: SigningKey,
  writer: PublishWriter,
  context: PublishContext,
): Promise<void> {
  const { exec } = context;
  const fileKey = publishedPaths.signingKey;
  const ours = await exportPublicKey(exec, key);
  const existing = await writer.destination.read(fileKey);
  let armored = ours;
  if (existing !== undefined) {
    const directory = path.join(context.workDir, 'published-keys');
    await createPrivateHomeDirectory(path.join(directory, 'gnupg'));
    const home = await openGnupgHome(path.join(directory, 'gnupg'), true);
    try {
      const existingFile = path.join(directory, 'existing.asc');
      await writeFile(existingFile, existing);
      const published = await importPublicKeys(exec, home.path, existingFile).catch(() => [] as string[]);
      if (published.includes(key.fingerprint)) {
        writer.skip(fileKey);
        return;
      }
      const oursFile = path.join(directory, 'ours.asc');
      await writeFile(oursFile, ours);
      await importPublicKeys(exec, home.path, oursFile);
      const merged = await exec('gpg', gpgArguments(home.path, '--armor', '--export'), {
        quietStdout: true,
      });
      armored = merged.stdout;
    } finally {
      await home.dispose();
    }
  }
  await writer.put(fileKey, { bytes: armored }, sha256Bytes(armored));
}
