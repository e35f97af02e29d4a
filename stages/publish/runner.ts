/**
 * The Publish runner. Its fingerprint reads the destination cheaply (releases.json and the stream
 * metadata) and names the signing key by fingerprint, so the node is served from the cache while
 * the destination holds this release as it was left, and publishes again when the destination was
 * changed or removed, or the key changed (everything is then signed again). Publishing itself is
 * idempotent (publish-release.ts): a re-run sends only what is missing.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256Bytes } from '../../lib/cache/hash.ts';
import type { PublishDestination } from '../../lib/release/destinations/destination.ts';
import { DirectoryDestination } from '../../lib/release/destinations/directory.ts';
import { publishedPaths, releaseIndexSchema, streamMetadataSchema } from '../../lib/release/formats.ts';
import {
  defineRunner,
  type FingerprintContext,
  type NodeProps,
  type RunnerContext,
  type RunnerOutput,
} from '../../lib/runner.ts';
import { resolveSigningKey, signingKeyFingerprint } from '../../lib/signing/signing-key.ts';
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import { type PublishConfig, publishKind } from './index.ts';
import { type Publication, publishRelease } from './publish-release.ts';
import type { PublishHooks } from './publish-writer.ts';
import { planPublication } from './release-plan.ts';

/** Props of the node as its runner receives them. */
type PublishNodeProps = NodeProps<PublishConfig>;

/** The file name of the publication output. */
export const PUBLICATION_FILE = 'publication.json';

/** The destination the props name (a directory is relative to the project). */
export async function openDestination(
  context: Pick<FingerprintContext<PublishNodeProps>, 'props' | 'projectDir' | 'nodePath' | 'signal'> &
    Partial<Pick<RunnerContext<PublishNodeProps>, 'keepInputsTrusted'>>,
): Promise<PublishDestination> {
  const { destination } = context.props;
  if ('directory' in destination) {
    // The images it hardlinks from the cache stay trusted by the next run.
    return new DirectoryDestination(
      path.resolve(context.projectDir, destination.directory),
      context.keepInputsTrusted ? { keepInputsTrusted: context.keepInputsTrusted } : {},
    );
  }
  const { s3 } = destination;
  // The AWS SDK (0.1 s to load) only for an S3 destination: a directory's null run never needs it.
  const { S3Destination } = await import('../../lib/release/destinations/s3.ts');
  return new S3Destination(
    {
      bucket: s3.bucket,
      prefix: s3.prefix,
      region: s3.region ?? process.env.AWS_REGION ?? 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: s3.forcePathStyle,
    },
    context.nodePath,
    context.signal,
  );
}

/**
 * The fingerprint. When the destination holds this release (its release index lists the version
 * with these commits, and the stream metadata has every arch), it is the digests of the release
 * index and the stream metadata and the signing key's fingerprint: the node is served from the
 * cache until someone changes them, or the key changes. Otherwise (nothing published yet, a
 * destination removed or unreadable) it is fresh every time, so the node runs; an absent
 * destination must never match the record of the run that first published into it. It is taken
 * again after a run (`fingerprintChangesWhenRun`), so the run after a first publish is a hit.
 */
async function fingerprintPublish(context: FingerprintContext<PublishNodeProps>): Promise<JsonValue> {
  const destination = await openDestination(context);
  let documents: JsonValue;
  try {
    documents = await publishedDocuments(context, destination);
  } catch (error) {
    context.signal.throwIfAborted();
    documents = { unavailable: error instanceof Error ? error.name : 'error' };
  }
  const published = documents !== null && typeof documents === 'object' && 'releaseIndex' in documents;
  // Resolving the key may generate the throwaway key (once); its material never leaves this call.
  const signingKey = await signingKeyFingerprint(context.exec, {
    mode: context.props.signing,
    environment: process.env,
    cacheDirectory: context.cacheDirectory,
    nodePath: context.nodePath,
  });
  return {
    destination: destination.description,
    documents,
    signingKey: signingKey ?? null,
    ...(published ? {} : { nonce: randomUUID() }),
  };
}

/**
 * The digests of the destination's release index and stream metadata when they show this release
 * published (the version with the commits of the node's inputs, every arch in the stream
 * metadata); else what is missing, as text.
 */
async function publishedDocuments(
  context: FingerprintContext<PublishNodeProps>,
  destination: PublishDestination,
): Promise<JsonValue> {
  const { stream } = context.props;
  const version = context.inputs[context.props.release.$input]?.metadata.version;
  const commits = new Map<string, string>();
  for (const reference of context.props.commits) {
    const input = context.inputs[reference.$input];
    if (input && typeof input.metadata.arch === 'string') commits.set(input.metadata.arch, input.digest);
  }
  if (typeof version !== 'string') return 'the release input names no version';
  const indexBytes = await destination.read(publishedPaths.releaseIndex(stream));
  const streamBytes = await destination.read(publishedPaths.streamMetadata(stream));
  if (indexBytes === undefined || streamBytes === undefined) return 'not published';
  const index = releaseIndexSchema.safeParse(parseJson(indexBytes));
  const metadata = streamMetadataSchema.safeParse(parseJson(streamBytes));
  if (!index.success || !metadata.success) return 'unreadable documents';
  const entry = index.data.releases.find((release) => release.version === version);
  const indexed = new Map(entry?.commits.map((commit) => [commit.architecture, commit.checksum]));
  for (const [arch, checksum] of commits) {
    if (indexed.get(arch) !== checksum) return `${version} ${arch} not in the release index`;
    if (metadata.data.architectures[arch] === undefined) return `${arch} not in the stream metadata`;
  }
  return { releaseIndex: sha256Bytes(indexBytes), streamMetadata: sha256Bytes(streamBytes) };
}

/** JSON of some bytes, or undefined. */
function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Publishes the node's release; `hooks` lets a test stop it after some writes. */
export async function runPublish(
  context: RunnerContext<PublishNodeProps>,
  hooks: PublishHooks = {},
): Promise<{ publication: RunnerOutput }> {
  const plan = await planPublication({
    nodePath: context.nodePath,
    props: context.props,
    inputs: context.inputs,
    ostreeRepo: context.ostreeRepo,
  });
  const destination = await openDestination(context);
  const key = await resolveSigningKey(context.exec, {
    mode: context.props.signing,
    environment: process.env,
    workDir: context.workDir,
    cacheDirectory: context.cacheDirectory,
    nodePath: context.nodePath,
  });
  let publication: Publication;
  try {
    publication = await publishRelease(plan, {
      nodePath: context.nodePath,
      exec: context.exec,
      log: context.log,
      workDir: path.join(context.workDir, 'publish'),
      destination,
      key,
      hooks,
    });
  } finally {
    await key?.release();
  }
  const file = path.join(context.workDir, PUBLICATION_FILE);
  await writeFile(file, `${JSON.stringify(publication, null, 2)}\n`);
  return {
    publication: {
      storage: 'file',
      path: file,
      metadata: {
        stream: publication.stream,
        version: publication.version,
        // As the pipeline named it (project-relative directory, or s3://bucket/prefix).
        destination:
          'directory' in context.props.destination
            ? context.props.destination.directory
            : destination.description,
        bytesSent: publication.bytesSent,
        objectsWritten: publication.objectsWritten,
      },
    },
  };
}

/** The Publish runner. */
export default defineRunner(publishKind, {
  // Idempotent: a retry sends only what the failed attempt did not.
  retryable: true,
  timeoutSeconds: 6 * 3600,
  fingerprint: fingerprintPublish,
  // The publish writes the documents the fingerprint reads: re-key it so the next run is a hit.
  fingerprintChangesWhenRun: true,
  run: (context) => runPublish(context),
});
