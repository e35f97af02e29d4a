/**
 * The Build runner: reads the commit's timestamp and archives the commit with the ostree CLI,
 * finds the parent release in the stream's release index, writes meta.json from its inputs'
 * metadata (meta-document.ts) and validates it against cosa's schema before returning it. Its
 * fingerprint is the parent it would pick from the release index: a new release of the stream
 * changes the parent, publishing this build itself does not.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../../lib/cache/hash.ts';
import { defineRunner, type NodeProps, type RunnerContext, requireInput } from '../../lib/runner.ts';
import { canonicalStringify } from '../../lib/util/canonical-json.ts';
import { liveMetadataSchema } from '../live-image/metadata.ts';
import { commitTimestamp, writeCommitArchive } from './commit-archive.ts';
import { BuildError } from './errors.ts';
import { type BuildConfig, buildKind } from './index.ts';
import {
  cloudImageMetadataSchema,
  commitMetadataSchema,
  parseInputMetadata,
  platformImageMetadataSchema,
} from './input-metadata.ts';
import { type BuildFile, metaDocument } from './meta-document.ts';
import {
  type ParentRelease,
  parentRelease,
  parsePreviousReleases,
  readPreviousReleases,
} from './previous-releases.ts';

/** Props of the node as its runner receives them. */
type BuildNodeProps = NodeProps<BuildConfig>;

/** The file name of the Build's output. */
export const META_FILE = 'meta.json';

/** The parent release from the props' release index, if there is an index and a parent in it. */
async function findParent(
  context: RunnerContext<BuildNodeProps>,
  version: string,
  arch: string,
): Promise<ParentRelease | undefined> {
  const location = context.props.previousReleases;
  if (location === undefined) return undefined;
  const text = await readPreviousReleases(location, context);
  if (text === undefined) {
    context.log(`no release index at ${location}: the build has no parent`);
    return undefined;
  }
  const parent = parentRelease(parsePreviousReleases(text, location, context.nodePath), version, arch);
  context.log(
    parent === undefined
      ? `${location} has no other release with a ${arch} commit: the build has no parent`
      : `parent release: ${parent.version} (${parent.commit})`,
  );
  return parent;
}

/** The live files of the `live` input by meta.json's names, hashed; none without the prop. */
async function liveFilesOf(
  context: RunnerContext<BuildNodeProps>,
  commit: string,
): Promise<Record<string, BuildFile> | undefined> {
  const { props, nodePath } = context;
  if (props.live === undefined) return undefined;
  const input = requireInput(context, props.live);
  const metadata = parseInputMetadata(liveMetadataSchema, input.metadata, {
    nodePath,
    field: 'live',
    producer: 'LiveImage',
  });
  if (metadata.commit !== commit)
    throw new BuildError(`the live image is of commit ${metadata.commit}, not of ${commit}`, {
      constructPath: nodePath,
      field: 'live',
    });
  const files: Record<string, BuildFile> = {};
  for (const [name, file] of Object.entries(metadata.files)) {
    const { digest, size } = await sha256File(path.join(input.path, file));
    files[name] = { path: file, sha256: digest, size };
  }
  return files;
}

/** Writes meta.json and the commit archive. */
async function runBuild(context: RunnerContext<BuildNodeProps>) {
  const { props, nodePath, exec } = context;
  const commitInput = requireInput(context, props.commit);
  const commitMetadata = parseInputMetadata(commitMetadataSchema, commitInput.metadata, {
    nodePath,
    field: 'commit',
    producer: 'RpmOstreeCompose',
  });
  const images = props.images.map((reference) =>
    parseInputMetadata(platformImageMetadataSchema, requireInput(context, reference).metadata, {
      nodePath,
      field: reference.$input,
      producer: 'PlatformImage',
    }),
  );
  const cloudImages = props.cloudImages.map((reference) =>
    parseInputMetadata(cloudImageMetadataSchema, requireInput(context, reference).metadata, {
      nodePath,
      field: reference.$input,
      producer: 'Upload',
    }),
  );
  const checksum = commitInput.digest;
  const liveFiles = await liveFilesOf(context, checksum);
  const timestamp = await commitTimestamp(exec, commitInput.path, checksum, nodePath);
  const osName = images[0]!.osName;
  const archiveFile = path.join(
    context.workDir,
    `${osName}-${commitMetadata.version}-ostree.${commitMetadata.arch}.tar`,
  );
  await writeCommitArchive(exec, {
    nodePath,
    sourceRepo: commitInput.path,
    checksum,
    ref: commitMetadata.ref,
    timestamp: Date.parse(timestamp) / 1000,
    workDir: path.join(context.workDir, 'archive'),
    file: archiveFile,
  });
  const archive = await sha256File(archiveFile);
  const meta = metaDocument({
    nodePath,
    commit: checksum,
    commitMetadata,
    commitTimestamp: timestamp,
    ostreeArchive: { path: path.basename(archiveFile), sha256: archive.digest, size: archive.size },
    images,
    cloudImages,
    liveFiles,
    parent: await findParent(context, commitMetadata.version, commitMetadata.arch),
  });
  // ajv (40 ms to load) only when a Build runs: every null run imports this runner for its fingerprint.
  const { cosaMetaProblems } = await import('../../lib/release/cosa-meta-validation.ts');
  const problems = cosaMetaProblems(meta);
  if (problems.length > 0) {
    throw new BuildError(
      `meta.json does not validate against coreos-assembler's schema:\n${problems.map((line) => `  - ${line}`).join('\n')}`,
      { constructPath: nodePath },
    );
  }
  const metaFile = path.join(context.workDir, META_FILE);
  await writeFile(metaFile, `${canonicalStringify(meta, 2)}\n`);
  context.log(
    `meta.json: ${props.stream} ${commitMetadata.version} ${commitMetadata.arch}, ${images.length} images`,
  );
  return {
    build: {
      storage: 'file' as const,
      path: metaFile,
      metadata: {
        version: commitMetadata.version,
        arch: commitMetadata.arch,
        stream: props.stream,
        commit: checksum,
      },
    },
    ostree: {
      storage: 'file' as const,
      path: archiveFile,
      metadata: { commit: checksum, ref: commitMetadata.ref, sha256: archive.digest, size: archive.size },
    },
  };
}

export default defineRunner(buildKind, {
  /** The release index's digest (null without one): a new release of the stream may be the new parent. */
  async fingerprint(context) {
    const location = context.props.previousReleases;
    if (location === undefined) return null;
    const text = await readPreviousReleases(location, context);
    if (text === undefined) return { parent: null };
    // The parent this build would record, not the index's digest: publishing this very build
    // appends it to the index, and that must not make the next run rebuild an identical meta.json.
    const commit = parseInputMetadata(
      commitMetadataSchema,
      requireInput(context, context.props.commit).metadata,
      {
        nodePath: context.nodePath,
        field: 'commit',
        producer: 'RpmOstreeCompose',
      },
    );
    const parent = parentRelease(
      parsePreviousReleases(text, location, context.nodePath),
      commit.version,
      commit.arch,
    );
    return { parent: parent ? { version: parent.version, commit: parent.commit } : null };
  },
  run: runBuild,
});
