/**
 * Publish with real tools and servers: a fabricated release (small real files, real ostree commits
 * in a temporary cache repository, meta.json and release.json made by lib/release) published by
 * the runner into a directory and into S3 (s3rver behind a recording proxy). The layout and
 * documents are checked against lib/release/formats.ts, the signatures with gpg and the public
 * key the destination publishes, the stream repository by pulling it with gpg-verify; publishing
 * again sends nothing; a publish stopped after N writes leaves a consistent tree and a rerun
 * completes it; the release rules (append-only, superset, immutable files) stop a publish with an
 * error naming the node.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Construct } from 'constructs';
import { execa } from 'execa';
import S3rver from 's3rver';
import { DUMMY_ACCOUNT } from 's3rver/lib/models/account.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Artifact } from '../lib/artifacts.ts';
import { ValidationError } from '../lib/errors.ts';
import { runTool, type ToolExec } from '../lib/exec.ts';
import { Pipeline } from '../lib/pipeline.ts';
import type { BuildMeta } from '../lib/release/build-meta.ts';
import {
  buildsIndexSchema,
  publishedPaths,
  type Release,
  type ReleaseFormat,
  releaseIndexSchema,
  releaseSchema,
  type StreamMetadata,
  streamMetadataSchema,
  updateMetadataSchema,
} from '../lib/release/formats.ts';
import { releaseFromBuilds } from '../lib/release/release-document.ts';
import type { ResolvedArtifact, RunnerContext } from '../lib/runner.ts';
import { importPublicKeys, stopAgent, throwawayHomeOf, verifyFileSignature } from '../lib/signing/index.ts';
import { PublishConflictError } from '../stages/publish/errors.ts';
import { Publish } from '../stages/publish/index.ts';
import publishRunner, { runPublish } from '../stages/publish/runner.ts';
import { RecordingProxy } from './doubles/http-double.ts';
import {
  makeTempDir,
  nodesWith,
  REPO_ROOT,
  readEvents,
  runIn,
  synthIn,
  writeProgram,
} from './helpers/temp-project.ts';

const STREAM = 'testing';
const BASE_URL = 'http://127.0.0.1:8080';
const NODE_PATH = 'Releases/Publish';

const exec: ToolExec = (file, args, options) => runTool(file, args, options);

// The runner reads the FCOS_SIGNING_* environment: these tests use the cache's throwaway key.
for (const name of Object.keys(process.env)) if (name.startsWith('FCOS_SIGNING_')) delete process.env[name];

/** One project: its cache (ostree repository, throwaway key) and the inputs made so far. */
interface Project {
  readonly directory: string;
  readonly cache: string;
  readonly repository: string;
  readonly inputsDirectory: string;
}

/** A fabricated build of one arch: meta.json, its image files, its commit. */
interface FabricatedBuild {
  readonly arch: string;
  readonly meta: BuildMeta;
  readonly metaFile: string;
  readonly files: readonly string[];
  readonly commit: string;
  readonly ref: string;
}

/** A fabricated release and the node inputs that publish it. */
interface FabricatedRelease {
  readonly version: string;
  readonly release: Release;
  readonly builds: readonly FabricatedBuild[];
  readonly inputs: Record<string, ResolvedArtifact>;
}

/** A new project with an empty cache repository. */
async function makeProject(): Promise<Project> {
  const directory = await makeTempDir('fcos-publish-');
  const cache = path.join(directory, 'cache');
  const repository = path.join(cache, 'ostree', 'repo');
  await mkdir(path.dirname(repository), { recursive: true });
  await exec('ostree', ['init', '--mode=archive', `--repo=${repository}`]);
  const inputsDirectory = path.join(directory, 'inputs');
  await mkdir(inputsDirectory);
  return { directory, cache, repository, inputsDirectory };
}

/** sha256 of a file. */
async function sha256Of(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/** The ref of an arch's commit. */
function refOf(arch: string): string {
  return `fedora/${arch}/coreos/${STREAM}`;
}

/** Commits a tiny tree for `arch` and `version` into the cache repository; returns its checksum. */
async function commitFor(
  project: Project,
  arch: string,
  version: string,
  timestamp: number,
): Promise<string> {
  const tree = await makeTempDir('fcos-tree-');
  await mkdir(path.join(tree, 'usr/lib'), { recursive: true });
  await writeFile(path.join(tree, 'usr/lib/os-release'), `NAME="Fedora CoreOS"\nVERSION="${version}"\n`);
  await writeFile(path.join(tree, 'usr/lib/arch'), `${arch}\n`);
  await writeFile(path.join(tree, 'usr/lib/shared'), 'the same in every commit\n');
  const result = await exec('ostree', [
    `--repo=${project.repository}`,
    'commit',
    `--branch=${refOf(arch)}`,
    `--tree=dir=${tree}`,
    '--parent=none',
    `--timestamp=@${timestamp}`,
    '--owner-uid=0',
    '--owner-gid=0',
    '--no-xattrs',
    `--add-metadata-string=version=${version}`,
    `--subject=${version}`,
  ]);
  return result.stdout.trim();
}

/** A build of `arch`: two image files (content varies with `seed`), meta.json, a commit. */
async function fabricateBuild(
  project: Project,
  arch: string,
  version: string,
  timestamp: number,
  seed: string,
): Promise<FabricatedBuild> {
  const directory = path.join(project.inputsDirectory, `${version}-${arch}-${seed}`);
  await mkdir(directory, { recursive: true });
  const commit = await commitFor(project, arch, version, timestamp);
  const images: Record<string, { path: string; sha256: string; size: number }> = {};
  const files: string[] = [];
  for (const [name, format, size] of [
    ['qemu', 'qcow2.xz', 24_576],
    ['metal', 'raw.xz', 40_000],
  ] as const) {
    const fileName = `fedora-coreos-${version}-${name}.${arch}.${format}`;
    const file = path.join(directory, fileName);
    await writeFile(
      file,
      Buffer.concat([Buffer.from(`${name} ${arch} ${version} ${seed}\n`), Buffer.alloc(size, 1)]),
    );
    images[name] = { path: fileName, sha256: await sha256Of(file), size: (await stat(file)).size };
    files.push(file);
  }
  const meta: BuildMeta = {
    buildid: version,
    name: 'fedora-coreos',
    'ostree-commit': commit,
    'ostree-version': version,
    'ostree-timestamp': new Date(timestamp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'coreos-assembler.basearch': arch,
    images,
    ...(arch === 'x86_64'
      ? { amis: [{ name: 'us-east-1', hvm: `ami-${seed}0001`, snapshot: 'snap-1' }] }
      : {}),
  };
  const metaFile = path.join(directory, 'meta.json');
  await writeFile(metaFile, `${JSON.stringify(meta, null, 2)}\n`);
  return { arch, meta, metaFile, files, commit, ref: refOf(arch) };
}

/** A file input. */
async function fileInput(
  type: string,
  file: string,
  metadata: ResolvedArtifact['metadata'] = {},
): Promise<ResolvedArtifact> {
  return { type, digest: await sha256Of(file), storage: 'file', path: file, metadata };
}

/** A release of `version` for `arches`, with its node inputs (and update metadata naming it). */
async function fabricateRelease(
  project: Project,
  version: string,
  arches: readonly string[],
  options: { timestamp: number; seed?: string },
): Promise<FabricatedRelease> {
  const builds: FabricatedBuild[] = [];
  for (const arch of arches) {
    builds.push(await fabricateBuild(project, arch, version, options.timestamp, options.seed ?? 'a'));
  }
  const release = releaseFromBuilds(
    builds.map((build) => build.meta),
    { stream: STREAM, baseUrl: BASE_URL },
  );
  const directory = path.join(
    project.inputsDirectory,
    `${version}-${arches.join('+')}-${options.seed ?? 'a'}`,
  );
  await mkdir(directory, { recursive: true });
  const releaseFile = path.join(directory, 'release.json');
  await writeFile(releaseFile, `${JSON.stringify(release, null, 2)}\n`);
  const updatesFile = path.join(directory, 'updates.json');
  await writeFile(
    updatesFile,
    `${JSON.stringify({
      stream: STREAM,
      metadata: { 'last-modified': '2023-11-14T22:13:20Z' },
      releases: [{ version, metadata: { rollout: { start_percentage: 1 } } }],
    })}\n`,
  );
  const inputs: Record<string, ResolvedArtifact> = {
    release: await fileInput('release', releaseFile, { stream: STREAM, version, arches: [...arches] }),
    updates: await fileInput('update-metadata', updatesFile, { stream: STREAM }),
  };
  let fileIndex = 0;
  for (const [index, build] of builds.entries()) {
    inputs[`builds.${index}`] = await fileInput('build', build.metaFile, {
      arch: build.arch,
      stream: STREAM,
    });
    inputs[`commits.${index}`] = {
      type: 'ostree-commit',
      digest: build.commit,
      storage: 'ostree-commit',
      path: project.repository,
      metadata: { ref: build.ref, version, arch: build.arch },
    };
    for (const file of build.files) {
      inputs[`files.${fileIndex++}`] = await fileInput('platform-image', file, { arch: build.arch });
    }
  }
  return { version, release, builds, inputs };
}

/** The runner context publishing `release` to `destination`. */
async function contextFor(
  project: Project,
  release: FabricatedRelease,
  destination: Record<string, unknown>,
  log: string[] = [],
): Promise<RunnerContext> {
  const references = (prefix: string) =>
    Object.keys(release.inputs)
      .filter((field) => field.startsWith(`${prefix}.`))
      .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))
      .map(($input) => ({ $input }));
  const workRoot = path.join(project.cache, 'work');
  await mkdir(workRoot, { recursive: true });
  const workDir = path.join(workRoot, `publish-${randomBytes(4).toString('hex')}`);
  await mkdir(workDir);
  return {
    nodePath: NODE_PATH,
    props: {
      release: { $input: 'release' },
      updates: { $input: 'updates' },
      destination: destination as never,
      signing: 'throwaway',
      baseUrl: BASE_URL,
      builds: references('builds'),
      commits: references('commits'),
      files: references('files'),
      stream: STREAM,
    },
    inputs: release.inputs,
    declaredOutputs: { publication: { type: 'publication', attributes: { stream: STREAM } } },
    projectDir: project.directory,
    signal: new AbortController().signal,
    workDir,
    ostreeRepo: project.repository,
    cacheDirectory: project.cache,
    log: (line) => log.push(line),
    exec: (file, args, options) => runTool(file, args, { ...options, log: (line) => log.push(line) }),
  };
}

/** What the runner's publication output says. */
interface PublicationJson {
  readonly written: string[];
  readonly skipped: string[];
  readonly bytesSent: number;
  readonly objectsWritten: number;
  readonly versions: string[];
  readonly signingKey: string | null;
  readonly repositoryObjects: { written: number; present: number };
}

/** What a publish gives back. */
interface Published {
  readonly publication: PublicationJson;
  readonly metadata: Record<string, unknown>;
  readonly log: string[];
}

/**
 * Runs the Publish runner; returns its publication and the output's metadata. An S3 destination
 * is published from a child process (publish-child.ts): the AWS SDK does not load under vitest.
 */
async function publish(
  project: Project,
  release: FabricatedRelease,
  destination: Record<string, unknown>,
  hooks: { beforeWrite?: (key: string) => void } = {},
): Promise<Published> {
  const log: string[] = [];
  const context = await contextFor(project, release, destination, log);
  try {
    if ('s3' in destination) return (await inChild('run', context)) as Published;
    const { publication } = await runPublish(context as never, hooks);
    if (publication.storage !== 'file') throw new Error('the publication is not a file');
    return {
      publication: JSON.parse(await readFile(publication.path, 'utf8')) as PublicationJson,
      metadata: publication.metadata as Record<string, unknown>,
      log,
    };
  } finally {
    await rm(context.workDir, { recursive: true, force: true });
  }
}

/** Runs the runner (or its fingerprint) on `context` in a child process; its error is rethrown with its name and fields. */
async function inChild(mode: 'run' | 'fingerprint', context: RunnerContext): Promise<unknown> {
  const { signal: _signal, log: _log, exec: _exec, ...spec } = context;
  const specFile = path.join(path.dirname(context.workDir), `${path.basename(context.workDir)}.json`);
  await writeFile(specFile, JSON.stringify(spec));
  const child = await execa(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'test/helpers/publish-child.ts'), mode, specFile],
    { env: process.env, reject: false, cwd: REPO_ROOT },
  );
  const line = child.stdout.trim().split('\n').pop() ?? '';
  let result: { error?: { name: string; message: string; constructPath?: string; field?: string } };
  try {
    result = JSON.parse(line) as typeof result;
  } catch {
    throw new Error(`the publish child printed no result (exit ${child.exitCode}): ${child.stderr}`);
  }
  if (result.error) throw Object.assign(new Error(result.error.message), result.error);
  return mode === 'fingerprint' ? (result as { fingerprint: unknown }).fingerprint : result;
}

/** Every file of a directory tree (the repository's lock and scratch space aside): path → sha256 and mtime. */
async function treeSnapshot(root: string): Promise<Map<string, { sha256: string; mtimeMs: number }>> {
  const files = new Map<string, { sha256: string; mtimeMs: number }>();
  const walk = async (relative: string): Promise<void> => {
    for (const entry of await readdir(path.join(root, relative), { withFileTypes: true })) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (/(^|\/)repo\/(tmp|state)$/.test(child) || child.endsWith('repo/.lock')) continue;
      if (entry.isDirectory()) await walk(child);
      else {
        const file = path.join(root, child);
        files.set(child, { sha256: await sha256Of(file), mtimeMs: (await stat(file)).mtimeMs });
      }
    }
  };
  await walk('');
  return files;
}

/** The destination key of a URL under the base URL. */
function keyOfUrl(url: string): string {
  expect(url.startsWith(`${BASE_URL}/`)).toBe(true);
  return url.slice(BASE_URL.length + 1);
}

/** A listed file: its key, sha256 and signature's key. */
interface ListedFile {
  readonly key: string;
  readonly sha256: string;
  readonly signature: string;
}

/** Every file of a set of formats (`format → role → file`). */
function filesOfFormats(formats: Readonly<Record<string, ReleaseFormat>>): ListedFile[] {
  return Object.values(formats).flatMap((roles) =>
    Object.values(roles).map((file) => ({
      key: keyOfUrl(file.location),
      sha256: file.sha256,
      signature: keyOfUrl(file.signature),
    })),
  );
}

/** Every file a release.json lists. */
function releaseFiles(release: Release): ListedFile[] {
  return Object.values(release.architectures).flatMap((arch) =>
    Object.values(arch.media).flatMap((media) => filesOfFormats(media.artifacts ?? {})),
  );
}

/** Every file stream metadata lists. */
function streamFiles(stream: StreamMetadata): ListedFile[] {
  return Object.values(stream.architectures).flatMap((arch) =>
    Object.values(arch.artifacts).flatMap((artifacts) => filesOfFormats(artifacts.formats)),
  );
}

/**
 * Checks that nothing the directory publishes points at what is missing: the stream metadata's
 * files, each indexed release's release.json and its files (with signatures), and the commits
 * of the indexed releases in the stream repository.
 */
async function expectConsistent(root: string): Promise<void> {
  const read = async (key: string) => JSON.parse(await readFile(path.join(root, key), 'utf8')) as unknown;
  const exists = (key: string) => existsSync(path.join(root, key));
  const expectFile = async (key: string, sha256: string) => {
    expect(exists(key), key).toBe(true);
    expect(await sha256Of(path.join(root, key)), key).toBe(sha256);
  };
  if (exists(publishedPaths.streamMetadata(STREAM))) {
    const stream = streamMetadataSchema.parse(await read(publishedPaths.streamMetadata(STREAM)));
    for (const file of streamFiles(stream)) {
      await expectFile(file.key, file.sha256);
      expect(exists(file.signature), file.signature).toBe(true);
    }
    expect(exists(publishedPaths.releaseIndex(STREAM))).toBe(true);
  }
  if (exists(publishedPaths.releaseIndex(STREAM))) {
    const index = releaseIndexSchema.parse(await read(publishedPaths.releaseIndex(STREAM)));
    const repository = path.join(root, publishedPaths.ostreeRepo(STREAM));
    for (const entry of index.releases) {
      const release = releaseSchema.parse(await read(keyOfUrl(entry.metadata)));
      for (const file of releaseFiles(release)) await expectFile(file.key, file.sha256);
      for (const commit of entry.commits) {
        await exec('ostree', ['show', `--repo=${repository}`, commit.checksum]);
      }
    }
  }
}

/** The builds sorted by arch, as the documents list them. */
function byArch(builds: readonly FabricatedBuild[]): FabricatedBuild[] {
  return [...builds].sort((a, b) => a.arch.localeCompare(b.arch));
}

/** Checks the whole layout of a directory where `release` was published (and is the newest). */
async function expectPublished(root: string, release: FabricatedRelease, cache: string): Promise<void> {
  const { version } = release;
  const read = async (key: string) => JSON.parse(await readFile(path.join(root, key), 'utf8')) as unknown;
  expect(releaseSchema.parse(await read(publishedPaths.release(STREAM, version)))).toEqual(release.release);
  const index = releaseIndexSchema.parse(await read(publishedPaths.releaseIndex(STREAM)));
  expect(index.releases.at(-1)).toEqual({
    version,
    metadata: `${BASE_URL}/prod/streams/${STREAM}/builds/${version}/release.json`,
    commits: byArch(release.builds).map((build) => ({ architecture: build.arch, checksum: build.commit })),
  });
  const builds = buildsIndexSchema.parse(await read(publishedPaths.buildsIndex(STREAM)));
  expect(builds.builds[0]).toEqual({
    id: version,
    arches: byArch(release.builds).map((build) => build.arch),
  });
  const stream = streamMetadataSchema.parse(await read(publishedPaths.streamMetadata(STREAM)));
  expect(stream.architectures.x86_64?.artifacts.qemu?.release).toBe(version);
  // last-modified is the newest commit's time, not the clock: republishing changes no byte.
  expect(stream.metadata['last-modified']).toBe(release.builds[0]!.meta['ostree-timestamp']);
  expect(stream.architectures.x86_64?.images?.aws).toEqual({
    regions: { 'us-east-1': { release: version, image: release.builds[0]!.meta.amis![0]!.hvm } },
  });
  updateMetadataSchema.parse(await read(publishedPaths.updateMetadata(STREAM)));
  for (const build of release.builds) {
    const directory = publishedPaths.archDirectory(STREAM, version, build.arch);
    expect(await readFile(path.join(root, directory, 'meta.json'), 'utf8')).toBe(
      await readFile(build.metaFile, 'utf8'),
    );
  }
  await expectConsistent(root);

  // Signatures: gpg with only the published public key, against the published files.
  const home = path.join(await makeTempDir('fcos-verify-'), 'gnupg');
  await mkdir(home, { mode: 0o700 });
  const [fingerprint] = await importPublicKeys(exec, home, path.join(root, publishedPaths.signingKey));
  const throwaway = await exec('gpg', ['--homedir', throwawayHomeOf(cache), '--with-colons', '--list-keys'], {
    quietStdout: true,
  });
  expect(throwaway.stdout).toContain(`:${fingerprint}:`);
  for (const file of releaseFiles(release.release)) {
    expect(
      await verifyFileSignature(
        exec,
        { gnupgHome: home, fingerprint: fingerprint! },
        path.join(root, file.key),
        path.join(root, file.signature),
      ),
    ).toEqual({ valid: true, signer: fingerprint });
  }
  await stopAgent(home);

  // The stream repository: a client with the published key pulls every arch with GPG verification.
  const client = path.join(await makeTempDir('fcos-client-'), 'repo');
  await exec('ostree', ['init', '--mode=archive', `--repo=${client}`]);
  await exec('ostree', [
    `--repo=${client}`,
    'remote',
    'add',
    '--set=gpg-verify=true',
    '--set=gpg-verify-summary=true',
    `--gpg-import=${path.join(root, publishedPaths.signingKey)}`,
    'origin',
    `file://${path.join(root, publishedPaths.ostreeRepo(STREAM))}`,
  ]);
  for (const build of release.builds) {
    await exec('ostree', [`--repo=${client}`, 'pull', 'origin', build.ref]);
    const pulled = await exec('ostree', [`--repo=${client}`, 'rev-parse', `origin:${build.ref}`]);
    expect(pulled.stdout.trim()).toBe(build.commit);
  }
}

/** The fingerprint the runner computes for publishing `release` to `destination`. */
async function fingerprintOf(
  project: Project,
  release: FabricatedRelease,
  destination: Record<string, unknown>,
) {
  const context = await contextFor(project, release, destination);
  try {
    if ('s3' in destination) return await inChild('fingerprint', context);
    return await publishRunner.fingerprint!(context as never);
  } finally {
    await rm(context.workDir, { recursive: true, force: true });
  }
}

/** A construct standing in for a producer of kind `kind` with `props` (as Release and Build are read). */
function producer(scope: Construct, id: string, kind: string, props: Record<string, unknown> = {}) {
  return Object.assign(new Construct(scope, id), { kind, props });
}

describe('the Publish construct', () => {
  it("takes the builds, commits, files and base URL from the Release's and Builds' props", () => {
    const pipeline = new Pipeline({ name: 'publish' });
    const builds = ['x86_64', 'aarch64'].map((arch) => {
      const compose = producer(pipeline, `Compose-${arch}`, 'RpmOstreeCompose');
      const commit = new Artifact(compose, 'commit', 'ostree-commit', { arch: arch as 'x86_64' });
      const image = new Artifact(
        producer(pipeline, `Image-${arch}`, 'PlatformImage'),
        'image',
        'platform-image',
        {
          arch: arch as 'x86_64',
          platform: 'qemu',
          sectorSize: 512,
        },
      );
      const build = producer(pipeline, `Build-${arch}`, 'Build', { stream: STREAM, commit, images: [image] });
      const archive = new Artifact(build, 'ostree', 'blob', {});
      Object.assign(build, { ostreeArchive: archive });
      return {
        artifact: new Artifact(build, 'build', 'build', { arch: arch as 'x86_64', stream: STREAM }),
        commit,
        image,
        archive,
      };
    });
    const release = new Artifact(
      producer(pipeline, 'Release', 'Release', {
        stream: STREAM,
        builds: builds.map((build) => build.artifact),
        baseUrl: 'https://example.com/fcos/',
      }),
      'release',
      'release',
      { stream: STREAM },
    );
    const publish = new Publish(pipeline, 'Publish', {
      release,
      destination: { s3: { bucket: 'fcos-releases', prefix: 'fcos', endpoint: 'http://127.0.0.1:9000' } },
    });
    expect(publish.props.builds).toEqual(builds.map((build) => build.artifact));
    expect(publish.props.commits).toEqual(builds.map((build) => build.commit));
    expect(publish.props.files).toEqual(builds.flatMap((build) => [build.image, build.archive]));
    expect(publish.props.baseUrl).toBe('https://example.com/fcos');
    expect(publish.props.signing).toBe('environment');
    expect(publish.props.stream).toBe(STREAM);
    expect(publish.props.destination).toEqual({
      s3: {
        bucket: 'fcos-releases',
        prefix: 'fcos/',
        endpoint: 'http://127.0.0.1:9000',
        forcePathStyle: true,
      },
    });
    expect(publish.resources).toEqual({ class: 'net' });
    expect(publish.publication.attributes).toEqual({ stream: STREAM });
    expect(publish.validateNode()).toEqual([]);

    const local = new Publish(pipeline, 'Local', {
      release,
      destination: { directory: 'fcos.out/publish' },
      signing: 'throwaway',
    });
    expect(local.props.destination).toEqual({ directory: 'fcos.out/publish' });
    expect(local.props.baseUrl).toBe('https://example.com/fcos');
    expect(local.resources).toEqual({ class: 'io' });
  });

  it('reports a release without builds, and builds or update metadata of another stream', () => {
    const pipeline = new Pipeline({ name: 'publish' });
    const release = new Artifact(producer(pipeline, 'Made', 'Other'), 'release', 'release', {
      stream: STREAM,
    });
    expect(() => new Publish(pipeline, 'Bare', { release, destination: { directory: 'out' } })).toThrow(
      ValidationError,
    );
    expect(() => new Publish(pipeline, 'Bare2', { release, destination: { directory: 'out' } })).toThrow(
      /'Bare2', field 'builds': the release has no builds/,
    );
    const other = producer(pipeline, 'Other', 'Build');
    const publish = new Publish(pipeline, 'Mixed', {
      release,
      destination: { directory: 'out' },
      builds: [new Artifact(other, 'build', 'build', { arch: 'x86_64', stream: 'stable' })],
      commits: [new Artifact(other, 'commit', 'ostree-commit', { arch: 'x86_64' })],
      updates: new Artifact(other, 'updates', 'update-metadata', { stream: 'stable' }),
    });
    expect(publish.validateNode().map((issue) => `${issue.field}: ${issue.message}`)).toEqual([
      `builds.0: the build 'build' of 'Other' is of stream stable, but the release is of ${STREAM}`,
      `updates: the update-metadata 'updates' of 'Other' is of stream stable, but the release is of ${STREAM}`,
    ]);
  });
});

describe('Publish into a directory', () => {
  it('lays out the release, signs it, and publishing again sends nothing and changes no byte', async () => {
    const project = await makeProject();
    const release = await fabricateRelease(project, '41.20231114.2.0', ['x86_64', 'aarch64'], {
      timestamp: 1_700_000_000,
    });
    const destination = { directory: 'public' };
    const root = path.join(project.directory, 'public');
    // Nothing published: a fresh fingerprint every time (the node runs).
    const before = await fingerprintOf(project, release, destination);
    expect(before).toMatchObject({ documents: 'not published', nonce: expect.any(String) });
    expect(await fingerprintOf(project, release, destination)).not.toEqual(before);

    const first = await publish(project, release, destination);
    await expectPublished(root, release, project.cache);
    expect(first.metadata).toEqual({
      stream: STREAM,
      version: release.version,
      destination: 'public',
      bytesSent: first.publication.bytesSent,
      objectsWritten: first.publication.objectsWritten,
    });
    expect(first.publication.bytesSent).toBeGreaterThan(4 * 24_576);
    expect(first.publication.written).toEqual(
      expect.arrayContaining([
        publishedPaths.streamMetadata(STREAM),
        publishedPaths.releaseIndex(STREAM),
        publishedPaths.signingKey,
        `${publishedPaths.archDirectory(STREAM, release.version, 'aarch64')}/fedora-coreos-${release.version}-qemu.aarch64.qcow2.xz.sig`,
      ]),
    );
    expect(first.publication.repositoryObjects.written).toBeGreaterThan(4);
    expect(first.publication.versions).toEqual([release.version]);
    expect(first.publication.signingKey).toMatch(/^[0-9A-F]{40}$/);
    // The publication names the key by fingerprint only: no key material anywhere in it or the log.
    expect(JSON.stringify(first)).not.toMatch(/PGP (PRIVATE|PUBLIC) KEY/);

    // Published: the documents' digests and the key's fingerprint, stable while nothing changes.
    const after = await fingerprintOf(project, release, destination);
    expect(after).toEqual({
      destination: root,
      documents: {
        releaseIndex: await sha256Of(path.join(root, publishedPaths.releaseIndex(STREAM))),
        streamMetadata: await sha256Of(path.join(root, publishedPaths.streamMetadata(STREAM))),
      },
      signingKey: first.publication.signingKey,
    });
    expect(await fingerprintOf(project, release, destination)).toEqual(after);

    const snapshot = await treeSnapshot(root);
    const second = await publish(project, release, destination);
    expect(second.publication.written).toEqual([]);
    expect(second.publication.bytesSent).toBe(0);
    expect(second.publication.objectsWritten).toBe(0);
    expect(second.publication.written).toEqual([]);
    expect(await treeSnapshot(root)).toEqual(snapshot);
    expect(await fingerprintOf(project, release, destination)).toEqual(after);

    // A deleted destination gives a fresh fingerprint again, and is published again whole.
    await rm(root, { recursive: true });
    expect(await fingerprintOf(project, release, destination)).toMatchObject({ nonce: expect.any(String) });
    const third = await publish(project, release, destination);
    expect(third.publication.written.sort()).toEqual(first.publication.written.sort());
    await expectPublished(root, release, project.cache);
  });

  it('writes in order (stream metadata last) and a publish stopped after any write is consistent and completes on rerun', async () => {
    const project = await makeProject();
    const release = await fabricateRelease(project, '41.20231115.2.0', ['x86_64'], {
      timestamp: 1_700_086_400,
    });
    const order: string[] = [];
    const reference = 'reference';
    await publish(project, release, { directory: reference }, { beforeWrite: (key) => void order.push(key) });
    const streamKey = publishedPaths.streamMetadata(STREAM);
    expect(order.at(-1)).toBe(streamKey);
    const position = (predicate: (key: string) => boolean) => order.findIndex(predicate);
    const lastBuildFile = order.findLastIndex((key) => key.includes('/builds/41.'));
    const firstRepository = position((key) => key.includes('/repo/'));
    const lastRepository = order.findLastIndex((key) => key.includes('/repo/'));
    expect(lastBuildFile).toBeLessThan(firstRepository);
    expect(lastRepository).toBeLessThan(position((key) => key === publishedPaths.releaseIndex(STREAM)));
    expect(order.indexOf(publishedPaths.release(STREAM, release.version))).toBe(lastBuildFile);

    const stable = (files: Map<string, { sha256: string }>) =>
      new Map(
        [...files]
          .filter(([key]) => !/(\.sig|\.commitmeta|\/summary)$/.test(key))
          .map(([key, { sha256 }]) => [key, sha256]),
      );
    const expected = await treeSnapshot(path.join(project.directory, reference));
    // Stopped at the first write, inside the repository, before the release index, before the stream metadata.
    const stops = [
      0,
      firstRepository + 1,
      position((key) => key === publishedPaths.releaseIndex(STREAM)),
      order.length - 1,
    ];
    for (const stop of stops) {
      const directory = `stopped-${stop}`;
      const root = path.join(project.directory, directory);
      let writes = 0;
      const stopped = publish(
        project,
        release,
        { directory },
        {
          beforeWrite: () => {
            if (writes++ === stop) throw new Error(`stopped before write ${stop}`);
          },
        },
      );
      await expect(stopped).rejects.toThrow(`stopped before write ${stop}`);
      if (existsSync(root)) {
        await expectConsistent(root);
        expect(existsSync(path.join(root, streamKey))).toBe(false);
      }
      const rerun = await publish(project, release, { directory });
      expect(rerun.publication.written).toContain(streamKey);
      await expectPublished(root, release, project.cache);
      const finished = await treeSnapshot(root);
      expect([...finished.keys()].sort()).toEqual([...expected.keys()].sort());
      expect(stable(finished)).toEqual(stable(expected));
    }
  });

  it('refuses to change a published build or rewrite the release index, naming the node', async () => {
    const project = await makeProject();
    const destination = { directory: 'public' };
    const root = path.join(project.directory, 'public');
    const first = await fabricateRelease(project, '41.20231116.2.0', ['x86_64'], {
      timestamp: 1_700_172_800,
    });
    await publish(project, first, destination);

    // The same version with other image content: the published file never changes.
    const changed = await fabricateRelease(project, '41.20231116.2.0', ['x86_64'], {
      timestamp: 1_700_172_800,
      seed: 'b',
    });
    const snapshot = await treeSnapshot(root);
    const refused = publish(project, changed, destination);
    await expect(refused).rejects.toThrow(PublishConflictError);
    await expect(refused).rejects.toMatchObject({ constructPath: NODE_PATH, field: 'release' });
    await expect(refused).rejects.toThrow(
      /\/x86_64\/fedora-coreos-41\.20231116\.2\.0-\w+\.x86_64\.\w+\.xz is already published with sha256 [0-9a-f]{64}, but the x86_64 build of 41\.20231116\.2\.0 has [0-9a-f]{64}: a published build never changes/,
    );
    // Refused before the first write.
    expect(await treeSnapshot(root)).toEqual(snapshot);

    // A newer release, then the older one again: the index is append-only.
    const newer = await fabricateRelease(project, '41.20231117.2.0', ['x86_64'], {
      timestamp: 1_700_259_200,
    });
    const published = await publish(project, newer, destination);
    expect(published.publication.versions).toEqual(['41.20231116.2.0', '41.20231117.2.0']);
    await expectPublished(root, newer, project.cache);
    await expect(publish(project, first, destination)).rejects.toThrow(
      /public: releases\.json: cannot add release 41\.20231116\.2\.0: it is already in the index and is not the newest release \(41\.20231117\.2\.0 is\)/,
    );
  });
});

describe('Publish in a pipeline', () => {
  it('publishes what Build and Release made, is served from the cache while the destination is unchanged, and again once it is removed', async () => {
    const doubles = pathToFileURL(path.join(REPO_ROOT, 'test/kinds/release-doubles.ts')).href;
    const version = '41.20251121.2.0';
    const directory = await writeProgram(`import { TestCommit, TestImage } from '${doubles}';
const { Build, Release, UpdateMetadata, Publish } = stages;
const pipeline = new Pipeline({ name: 'publish' });
const commit = new TestCommit(pipeline, 'Commit', { version: '${version}' });
const qemu = new TestImage(pipeline, 'Qemu', { commit: commit.commit, platform: 'qemu' });
const metal = new TestImage(pipeline, 'Metal', { commit: commit.commit, platform: 'metal', extension: 'raw.xz' });
const build = new Build(pipeline, 'Build', { stream: '${STREAM}', commit: commit.commit, images: [qemu.image, metal.image] });
const release = new Release(pipeline, 'Release', { stream: '${STREAM}', builds: [build.build] });
const updates = new UpdateMetadata(pipeline, 'Updates', {
  stream: '${STREAM}',
  releases: [{ version: release.release, rollout: { startEpoch: 1700000000, startPercentage: 1 } }],
});
new Publish(new Construct(pipeline, 'Releases'), 'Publish', {
  release: release.release,
  updates: updates.updates,
  destination: { directory: 'public' },
  signing: 'throwaway',
});
`);
    const synth = await synthIn(directory);
    expect(synth.stderr).toBe('');
    const pipelineJson = JSON.parse(await readFile(path.join(directory, 'fcos.out/pipeline.json'), 'utf8'));
    const node = pipelineJson.nodes['Releases/Publish'];
    expect(Object.keys(node.inputs).sort()).toEqual([
      'builds.0',
      'commits.0',
      'files.0',
      'files.1',
      'files.2',
      'release',
      'updates',
    ]);

    const first = await runIn(directory);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const root = path.join(directory, 'public');
    const index = releaseIndexSchema.parse(
      JSON.parse(await readFile(path.join(root, publishedPaths.releaseIndex(STREAM)), 'utf8')),
    );
    expect(index.releases.map((entry) => entry.version)).toEqual([version]);
    const archDirectory = path.join(root, publishedPaths.archDirectory(STREAM, version, 'x86_64'));
    const published = (await readdir(archDirectory)).sort();
    expect(published).toContain('meta.json');
    // The images and the commit archive, each with its signature.
    expect(published.filter((name) => name.endsWith('.sig'))).toHaveLength(3);
    await expectConsistent(root);
    const publication = JSON.parse(
      await readFile(path.join(directory, 'fcos.out/artifacts/Releases/Publish/publication.json'), 'utf8'),
    ) as PublicationJson;
    expect(publication.versions).toEqual([version]);
    const log = await readFile(path.join(directory, 'fcos.out/logs/Releases/Publish.log'), 'utf8');
    expect(log).not.toMatch(/PGP PRIVATE KEY/);
    expect(log).toContain(`signed with ${publication.signingKey}`);

    // The publish was keyed again by the destination it wrote: the next run is served from the cache.
    const second = await runIn(directory);
    expect(second.code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'finish')).toEqual([]);
    expect(nodesWith(await readEvents(directory), 'cached')).toContain('Releases/Publish');
    const destinationBefore = await treeSnapshot(root);

    // Forced to run: it finds everything in place and sends nothing.
    const third = await runIn(directory, '--force', 'Releases/Publish');
    expect(third.code, third.stdout + third.stderr).toBe(0);
    expect(nodesWith(await readEvents(directory), 'finish')).toEqual(['Releases/Publish']);
    const again = JSON.parse(
      await readFile(path.join(directory, 'fcos.out/artifacts/Releases/Publish/publication.json'), 'utf8'),
    ) as PublicationJson;
    expect(again.bytesSent).toBe(0);
    expect(again.objectsWritten).toBe(0);
    expect(await treeSnapshot(root)).toEqual(destinationBefore);

    await rm(root, { recursive: true });
    const fourth = await runIn(directory);
    expect(fourth.code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'finish')).toEqual(['Releases/Publish']);
    await expectConsistent(root);
    expect(existsSync(path.join(root, publishedPaths.streamMetadata(STREAM)))).toBe(true);
  });
});

describe('Publish into S3', () => {
  const BUCKET = 'fcos-releases';
  const ACCESS_KEY_ID = 'AKIDPUBLISHTEST01';
  let server: S3rver;
  let proxy: RecordingProxy;
  let endpoint: string;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    const directory = await makeTempDir('fcos-s3rver-');
    DUMMY_ACCOUNT.createKeyPair(ACCESS_KEY_ID, 'publish-test-secret');
    server = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory,
      configureBuckets: [{ name: BUCKET }],
    });
    const { port } = await server.run();
    proxy = new RecordingProxy(`http://127.0.0.1:${port}`);
    endpoint = await proxy.start();
    const environment: Record<string, string> = {
      AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: 'publish-test-secret',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_REGION: 'us-east-1',
    };
    for (const [name, value] of Object.entries(environment)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    for (const name of ['AWS_SESSION_TOKEN', 'AWS_PROFILE']) {
      saved[name] = process.env[name];
      delete process.env[name];
    }
  });

  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await proxy?.stop();
    server?.httpServer?.closeAllConnections();
    await server?.close();
  });

  /** An object of the bucket, as text (s3rver serves anonymous reads, as a public bucket would). */
  async function objectText(key: string): Promise<string> {
    const response = await fetch(`${endpoint}/${BUCKET}/${key}`);
    expect(response.status, key).toBe(200);
    return response.text();
  }

  it('uploads the release with digests, and a second publish uploads nothing', async () => {
    const project = await makeProject();
    const release = await fabricateRelease(project, '41.20231118.2.0', ['x86_64', 'aarch64'], {
      timestamp: 1_700_345_600,
    });
    const destination = { s3: { bucket: BUCKET, prefix: 'fcos/', endpoint, forcePathStyle: true } };
    const before = await fingerprintOf(project, release, destination);
    const puts = () =>
      proxy.requests.filter((request) => request.method === 'PUT' || request.method === 'POST');
    const putsBefore = puts().length;

    const first = await publish(project, release, destination);
    expect(first.publication.bytesSent).toBeGreaterThan(4 * 24_576);
    expect(puts().length - putsBefore).toBe(first.publication.objectsWritten);
    const stream = streamMetadataSchema.parse(
      JSON.parse(await objectText(`fcos/${publishedPaths.streamMetadata(STREAM)}`)),
    );
    expect(stream.architectures.aarch64?.artifacts.metal?.release).toBe(release.version);
    expect(
      releaseSchema.parse(
        JSON.parse(await objectText(`fcos/${publishedPaths.release(STREAM, release.version)}`)),
      ),
    ).toEqual(release.release);
    const index = releaseIndexSchema.parse(
      JSON.parse(await objectText(`fcos/${publishedPaths.releaseIndex(STREAM)}`)),
    );
    expect(index.releases.map((entry) => entry.version)).toEqual([release.version]);
    expect(await objectText(`fcos/${publishedPaths.signingKey}`)).toContain('BEGIN PGP PUBLIC KEY BLOCK');
    const summaryKey = `fcos/${publishedPaths.ostreeRepo(STREAM)}/summary`;
    expect((await objectText(summaryKey)).length).toBeGreaterThan(0);
    await objectText(`${summaryKey}.sig`);

    // The stream repository over HTTP from the bucket: a client pulls every arch with GPG verification.
    const keyFile = path.join(project.directory, 'signing-key.asc');
    await writeFile(keyFile, await objectText(`fcos/${publishedPaths.signingKey}`));
    const client = path.join(project.directory, 'client-repo');
    await exec('ostree', ['init', '--mode=archive', `--repo=${client}`]);
    await exec('ostree', [
      `--repo=${client}`,
      'remote',
      'add',
      '--set=gpg-verify=true',
      '--set=gpg-verify-summary=true',
      `--gpg-import=${keyFile}`,
      'origin',
      `${endpoint}/${BUCKET}/fcos/${publishedPaths.ostreeRepo(STREAM)}`,
    ]);
    for (const build of release.builds) {
      await exec('ostree', [`--repo=${client}`, 'pull', 'origin', build.ref]);
    }

    const after = await fingerprintOf(project, release, destination);
    expect(before).toMatchObject({ nonce: expect.any(String) });
    expect(after).toMatchObject({ signingKey: first.publication.signingKey });
    expect(after).not.toHaveProperty('nonce');
    const putsAfterFirst = puts().length;
    const second = await publish(project, release, destination);
    expect(second.publication.written).toEqual([]);
    expect(second.publication.bytesSent).toBe(0);
    expect(second.publication.objectsWritten).toBe(0);
    expect(second.publication.repositoryObjects.present).toBe(first.publication.repositoryObjects.written);
    expect(puts().length).toBe(putsAfterFirst);
    expect(await fingerprintOf(project, release, destination)).toEqual(after);
  });

  it('adds an arch to the newest release (a superset) and refuses to rewrite the index, naming the node', async () => {
    const project = await makeProject();
    const destination = { s3: { bucket: BUCKET, prefix: 'superset/', endpoint, forcePathStyle: true } };
    const x86 = await fabricateRelease(project, '41.20231119.2.0', ['x86_64'], { timestamp: 1_700_432_000 });
    await publish(project, x86, destination);
    const both = await fabricateRelease(project, '41.20231119.2.0', ['x86_64', 'aarch64'], {
      timestamp: 1_700_432_000,
    });
    const superset = await publish(project, both, destination);
    // Only the new arch's files and the documents naming it were sent; x86_64's are kept.
    expect(superset.publication.skipped).toEqual(
      expect.arrayContaining([`${publishedPaths.archDirectory(STREAM, both.version, 'x86_64')}/meta.json`]),
    );
    expect(superset.publication.written.some((key) => key.includes('/x86_64/'))).toBe(false);
    const index = releaseIndexSchema.parse(
      JSON.parse(await objectText(`superset/${publishedPaths.releaseIndex(STREAM)}`)),
    );
    expect(index.releases).toHaveLength(1);
    expect(index.releases[0]!.commits.map((commit) => commit.architecture)).toEqual(['x86_64', 'aarch64']);

    // Without x86_64 it is no superset: refused before any write.
    const aarch64Only = await fabricateRelease(project, '41.20231119.2.0', ['aarch64'], {
      timestamp: 1_700_432_000,
    });
    const refused = publish(project, aarch64Only, destination);
    await expect(refused).rejects.toMatchObject({ name: 'PublishConflictError', constructPath: NODE_PATH });
    await expect(refused).rejects.toThrow(/re-adding must keep every arch/);

    // A newer release of x86_64 alone: the repository's summary keeps the aarch64 ref it already had.
    const newer = await fabricateRelease(project, '41.20231120.2.0', ['x86_64'], {
      timestamp: 1_700_518_400,
    });
    await publish(project, newer, destination);
    const client = path.join(project.directory, 'client-repo');
    await exec('ostree', ['init', '--mode=archive', `--repo=${client}`]);
    await writeFile(
      path.join(project.directory, 'key.asc'),
      await objectText(`superset/${publishedPaths.signingKey}`),
    );
    await exec('ostree', [
      `--repo=${client}`,
      'remote',
      'add',
      '--set=gpg-verify=true',
      '--set=gpg-verify-summary=true',
      `--gpg-import=${path.join(project.directory, 'key.asc')}`,
      'origin',
      `${endpoint}/${BUCKET}/superset/${publishedPaths.ostreeRepo(STREAM)}`,
    ]);
    const refs = await exec('ostree', [`--repo=${client}`, 'remote', 'refs', 'origin']);
    expect(refs.stdout.trim().split('\n').sort()).toEqual([
      `origin:${refOf('aarch64')}`,
      `origin:${refOf('x86_64')}`,
    ]);
    for (const build of [...both.builds.filter((build) => build.arch === 'aarch64'), ...newer.builds]) {
      await exec('ostree', [`--repo=${client}`, 'pull', 'origin', build.ref]);
      expect(
        (await exec('ostree', [`--repo=${client}`, 'rev-parse', `origin:${build.ref}`])).stdout.trim(),
      ).toBe(build.commit);
    }
  });
});
