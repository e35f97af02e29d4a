/**
 * Publish benchmark (issue #11: "publish of an unchanged release (target: no bytes sent)"). A
 * fabricated release of two arches (four image files, 64 MiB in all, and a small real ostree commit
 * per arch in a temporary cache repository) is published, signed with the cache's throwaway key,
 * by the Publish runner into a directory and into s3rver on 127.0.0.1, twice each. For each
 * publish it prints the wall time, the bytes and objects the runner reports writing, and what the
 * destination itself saw: files created or replaced in the directory; bytes of request bodies and
 * objects created at the S3 server. The second publish is of the unchanged release: its target is
 * 0 bytes sent and 0 objects written, reported as a PASS/FAIL line (printed, never thrown, so the
 * rest of `npm run bench` runs). Also the fingerprint a warm `fcos-run` takes of the published node.
 * s3rver runs in this process behind a counting proxy; the AWS SDK loads directly under tsx.
 * The AWS SDK is loaded before the S3 publishes are timed (a process loads it once).
 * Run alone: `npx tsx --conditions=fcos-cdk-source bench/publish.ts` (about 10 s).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import S3rver from 's3rver';
import { DUMMY_ACCOUNT } from 's3rver/lib/models/account.js';
import { runTool, type ToolExec } from '../lib/exec.ts';
import type { BuildMeta } from '../lib/release/build-meta.ts';
import { releaseFromBuilds } from '../lib/release/release-document.ts';
import type { NodeProps, ResolvedArtifact, RunnerContext } from '../lib/runner.ts';
import { ensureThrowawayKey } from '../lib/signing/index.ts';
import type { PublishConfig } from '../stages/publish/index.ts';
import type { Publication } from '../stages/publish/publish-release.ts';
import publishRunner, { runPublish } from '../stages/publish/runner.ts';
import { printTable } from './report.ts';

const MIB = 1024 * 1024;
const STREAM = 'testing';
const VERSION = '41.20240601.2.0';
const BASE_URL = 'http://127.0.0.1:8080';
const NODE_PATH = 'Releases/Publish';
const ARCHES = ['x86_64', 'aarch64'] as const;
/** The image files of each arch: 8 + 24 MiB, 64 MiB over both arches (24 MiB goes up multipart). */
const IMAGES = [
  { platform: 'qemu', format: 'qcow2.xz', bytes: 8 * MIB },
  { platform: 'metal', format: 'raw.xz', bytes: 24 * MIB },
] as const;
const BUCKET = 'fcos-bench-publish';
const ACCESS_KEY_ID = 'AKIDFCOSBENCHPUBLISH';
/** The commit timestamp of the fabricated builds (the documents' `last-modified` derives from it). */
const COMMIT_EPOCH = 1_717_200_000;

/** Props of the Publish node as its runner receives them. */
type PublishNodeProps = NodeProps<PublishConfig>;

const exec: ToolExec = (file, args, options) => runTool(file, args, options);

/** The fabricated project: its cache (ostree repository, throwaway key) and the node's inputs. */
interface Fabricated {
  readonly directory: string;
  readonly cache: string;
  readonly repository: string;
  readonly inputs: Record<string, ResolvedArtifact>;
  readonly imageBytes: number;
}

/** sha256 of a file, hex. */
async function sha256Of(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/** Writes `bytes` random bytes to `file` (incompressible, like an image compressed with xz). */
async function writeRandomFile(file: string, bytes: number): Promise<void> {
  const handle = await open(file, 'w');
  try {
    for (let written = 0; written < bytes; written += MIB) {
      await handle.write(randomBytes(Math.min(MIB, bytes - written)));
    }
  } finally {
    await handle.close();
  }
}

/** A file input of the node. */
async function fileInput(
  type: string,
  file: string,
  metadata: ResolvedArtifact['metadata'],
): Promise<ResolvedArtifact> {
  return { type, digest: await sha256Of(file), storage: 'file', path: file, metadata };
}

/** Commits a tiny tree for `arch` into the cache repository; returns its checksum. */
async function commitFor(repository: string, directory: string, arch: string): Promise<string> {
  const tree = path.join(directory, `tree-${arch}`);
  await mkdir(path.join(tree, 'usr/lib'), { recursive: true });
  await writeFile(path.join(tree, 'usr/lib/os-release'), `NAME="Fedora CoreOS"\nVERSION="${VERSION}"\n`);
  await writeFile(path.join(tree, 'usr/lib/arch'), `${arch}\n`);
  const result = await exec('ostree', [
    `--repo=${repository}`,
    'commit',
    `--branch=${refOf(arch)}`,
    `--tree=dir=${tree}`,
    '--parent=none',
    `--timestamp=@${COMMIT_EPOCH}`,
    '--owner-uid=0',
    '--owner-gid=0',
    '--no-xattrs',
    `--add-metadata-string=version=${VERSION}`,
    `--subject=${VERSION}`,
  ]);
  return result.stdout.trim();
}

/** The ref of an arch's commit. */
function refOf(arch: string): string {
  return `fedora/${arch}/coreos/${STREAM}`;
}

/**
 * A release of two arches as a Publish node's inputs: per arch the image files, meta.json and a
 * commit in the cache repository; release.json made by lib/release; update metadata naming it.
 */
async function fabricateRelease(directory: string): Promise<Fabricated> {
  const cache = path.join(directory, 'cache');
  const repository = path.join(cache, 'ostree', 'repo');
  await mkdir(path.dirname(repository), { recursive: true });
  await exec('ostree', ['init', '--mode=archive', `--repo=${repository}`]);
  const inputs: Record<string, ResolvedArtifact> = {};
  const metas: BuildMeta[] = [];
  let fileIndex = 0;
  let imageBytes = 0;
  for (const [archIndex, arch] of ARCHES.entries()) {
    const buildDirectory = path.join(directory, 'inputs', arch);
    await mkdir(buildDirectory, { recursive: true });
    const commit = await commitFor(repository, directory, arch);
    const images: NonNullable<BuildMeta['images']> = {};
    for (const image of IMAGES) {
      const fileName = `fedora-coreos-${VERSION}-${image.platform}.${arch}.${image.format}`;
      const file = path.join(buildDirectory, fileName);
      await writeRandomFile(file, image.bytes);
      const input = await fileInput('platform-image', file, { arch });
      inputs[`files.${fileIndex++}`] = input;
      images[image.platform] = { path: fileName, sha256: input.digest, size: image.bytes };
      imageBytes += image.bytes;
    }
    const meta: BuildMeta = {
      buildid: VERSION,
      name: 'fedora-coreos',
      'ostree-commit': commit,
      'ostree-version': VERSION,
      'ostree-timestamp': new Date(COMMIT_EPOCH * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'coreos-assembler.basearch': arch,
      images,
    };
    metas.push(meta);
    const metaFile = path.join(buildDirectory, 'meta.json');
    await writeFile(metaFile, `${JSON.stringify(meta, null, 2)}\n`);
    inputs[`builds.${archIndex}`] = await fileInput('build', metaFile, { arch, stream: STREAM });
    inputs[`commits.${archIndex}`] = {
      type: 'ostree-commit',
      digest: commit,
      storage: 'ostree-commit',
      path: repository,
      metadata: { ref: refOf(arch), version: VERSION, arch },
    };
  }
  const releaseFile = path.join(directory, 'inputs', 'release.json');
  const release = releaseFromBuilds(metas, { stream: STREAM, baseUrl: BASE_URL });
  await writeFile(releaseFile, `${JSON.stringify(release, null, 2)}\n`);
  inputs.release = await fileInput('release', releaseFile, {
    stream: STREAM,
    version: VERSION,
    arches: [...ARCHES],
  });
  const updatesFile = path.join(directory, 'inputs', 'updates.json');
  await writeFile(
    updatesFile,
    `${JSON.stringify({
      stream: STREAM,
      metadata: { 'last-modified': '2024-06-01T00:00:00Z' },
      releases: [{ version: VERSION, metadata: { rollout: { start_percentage: 1 } } }],
    })}\n`,
  );
  inputs.updates = await fileInput('update-metadata', updatesFile, { stream: STREAM });
  return { directory, cache, repository, inputs, imageBytes };
}

/** The runner context publishing the fabricated release to `destination`, with a new work directory. */
async function contextFor(
  release: Fabricated,
  destination: PublishNodeProps['destination'],
): Promise<RunnerContext<PublishNodeProps>> {
  const references = (prefix: string) =>
    Object.keys(release.inputs)
      .filter((field) => field.startsWith(`${prefix}.`))
      .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))
      .map(($input) => ({ $input }));
  const workRoot = path.join(release.cache, 'work');
  await mkdir(workRoot, { recursive: true });
  return {
    nodePath: NODE_PATH,
    props: {
      release: { $input: 'release' },
      updates: { $input: 'updates' },
      destination,
      signing: 'throwaway',
      baseUrl: BASE_URL,
      builds: references('builds'),
      commits: references('commits'),
      files: references('files'),
      stream: STREAM,
    },
    inputs: release.inputs,
    declaredOutputs: { publication: { type: 'publication', attributes: { stream: STREAM } } },
    projectDir: release.directory,
    signal: new AbortController().signal,
    workDir: await mkdtemp(path.join(workRoot, 'publish-')),
    ostreeRepo: release.repository,
    cacheDirectory: release.cache,
    // The node's log is not what is measured: dropped.
    log: () => {},
    exec,
  };
}

/** What the destination saw of one publish. */
interface Observed {
  /** Bytes that reached the destination (files created or replaced; request bodies sent to S3). */
  readonly bytes: number;
  /** Objects created or replaced (files; objects the S3 server stored). */
  readonly objects: number;
}

/** One publish: its wall time, the runner's publication, what the destination saw. */
interface Measured {
  readonly ms: number;
  readonly publication: Publication;
  readonly observed: Observed;
}

/** A destination under measurement: its props, and how to observe what a publish did to it. */
interface BenchDestination {
  readonly name: string;
  readonly props: PublishNodeProps['destination'];
  /** Starts observing; the returned function ends it and says what was seen. */
  observe(): Promise<() => Promise<Observed>>;
}

/** Runs the Publish runner once; times it (the work directory is removed after, untimed). */
async function publishOnce(release: Fabricated, destination: BenchDestination): Promise<Measured> {
  const context = await contextFor(release, destination.props);
  const finish = await destination.observe();
  try {
    const start = performance.now();
    const { publication } = await runPublish(context);
    const ms = performance.now() - start;
    const observed = await finish();
    if (publication.storage !== 'file') throw new Error('the publication is not a file');
    return { ms, observed, publication: JSON.parse(await readFile(publication.path, 'utf8')) as Publication };
  } finally {
    await rm(context.workDir, { recursive: true, force: true });
  }
}

/** Milliseconds the runner's fingerprint takes (what a warm `fcos-run` does before serving the node from the cache). */
async function fingerprintMs(release: Fabricated, destination: BenchDestination): Promise<number> {
  const context = await contextFor(release, destination.props);
  try {
    const start = performance.now();
    await publishRunner.fingerprint!(context);
    return performance.now() - start;
  } finally {
    await rm(context.workDir, { recursive: true, force: true });
  }
}

/** Every file under `root`: relative path → inode, mtime and size. */
async function fileStates(
  root: string,
): Promise<Map<string, { ino: number; mtimeMs: number; size: number }>> {
  const files = new Map<string, { ino: number; mtimeMs: number; size: number }>();
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(path.join(root, relative), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) await walk(child);
      else {
        const stats = await lstat(path.join(root, child));
        files.set(child, { ino: stats.ino, mtimeMs: stats.mtimeMs, size: stats.size });
      }
    }
  };
  await walk('');
  return files;
}

/**
 * A directory destination, observed by its files: a file is written when it is new or its inode,
 * mtime or size changed (ostree's lock and scratch files excepted: they are not published).
 */
function directoryDestination(root: string): BenchDestination {
  const unpublished = /(^|\/)repo\/(tmp|state|\.lock)(\/|$)/;
  return {
    name: 'directory',
    props: { directory: root },
    observe: async () => {
      const before = await fileStates(root);
      return async () => {
        let bytes = 0;
        let objects = 0;
        for (const [file, state] of await fileStates(root)) {
          if (unpublished.test(file)) continue;
          const earlier = before.get(file);
          if (earlier?.ino === state.ino && earlier.mtimeMs === state.mtimeMs && earlier.size === state.size)
            continue;
          bytes += state.size;
          objects++;
        }
        return { bytes, objects };
      };
    },
  };
}

/** A running s3rver behind a proxy that counts the request body bytes sent to it. */
interface S3Bench {
  readonly destination: BenchDestination;
  stop(): Promise<void>;
}

/** One record of an s3rver notification (the fields read here). */
interface S3rverEvent {
  readonly Records: ReadonlyArray<{ readonly eventName: string }>;
}

/**
 * Starts s3rver on 127.0.0.1 and a counting proxy in front of it. What the server saw: request
 * body bytes through the proxy (every PUT and POST, multipart parts included), objects from its
 * ObjectCreated notifications (s3rver is a Koa application: an EventEmitter).
 */
async function startS3(directory: string): Promise<S3Bench> {
  const secret = randomBytes(16).toString('hex');
  DUMMY_ACCOUNT.createKeyPair(ACCESS_KEY_ID, secret);
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: BUCKET }],
  });
  const { port } = await server.run();
  let bodyBytes = 0;
  let objectsCreated = 0;
  (server as unknown as EventEmitter).on('event', (event: S3rverEvent) => {
    for (const record of event.Records) if (record.eventName.startsWith('ObjectCreated:')) objectsCreated++;
  });
  const proxy = http.createServer((request, response) => {
    request.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
    });
    const upstream = http.request(
      { host: '127.0.0.1', port, method: request.method, path: request.url, headers: request.headers },
      (reply) => {
        response.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const saved: Record<string, string | undefined> = {};
  const environment: Record<string, string | undefined> = {
    AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: secret,
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    // The SDK's notice that Node 20 support ends: noise in a benchmark's output.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
  };
  for (const [name, value] of Object.entries(environment)) {
    saved[name] = process.env[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return {
    destination: {
      name: 's3rver',
      props: { s3: { bucket: BUCKET, prefix: 'fcos/', endpoint, forcePathStyle: true } },
      observe: async () => {
        const [bytesBefore, objectsBefore] = [bodyBytes, objectsCreated];
        return async () => ({ bytes: bodyBytes - bytesBefore, objects: objectsCreated - objectsBefore });
      },
    },
    stop: async () => {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      server.httpServer.closeAllConnections();
      await server.close();
    },
  };
}

/** Bytes as MiB (or plain bytes under 1 MiB, where 0.00 MiB would hide a small write). */
function formatBytes(bytes: number): string {
  return bytes >= MIB ? `${(bytes / MIB).toFixed(2)} MiB` : `${bytes} B`;
}

/** Publishes the release into `destination` twice; prints the numbers and the verdict on the unchanged publish. */
async function measureDestination(release: Fabricated, destination: BenchDestination): Promise<void> {
  const first = await publishOnce(release, destination);
  const second = await publishOnce(release, destination);
  const fingerprint = await fingerprintMs(release, destination);
  const summary = (measured: Measured): string =>
    `${(measured.ms / 1000).toFixed(2)} s; ` +
    `${formatBytes(measured.publication.bytesSent)} sent (destination saw ${formatBytes(measured.observed.bytes)}); ` +
    `${measured.publication.objectsWritten} objects written (destination saw ${measured.observed.objects}); ` +
    `${measured.publication.skipped.length} files and ${measured.publication.repositoryObjects.present} repository objects found in place`;
  printTable(
    `publish of a 2-arch release (${IMAGES.length * ARCHES.length} images, ${formatBytes(release.imageBytes)}, signed) into ${destination.name}`,
    [
      ['first publish', summary(first)],
      ['second publish, unchanged (target: 0 B, 0 objects)', summary(second)],
      [
        'fingerprint after (a warm fcos-run then serves the node from the cache)',
        `${fingerprint.toFixed(0)} ms`,
      ],
    ],
  );
  const misses = [
    second.publication.bytesSent !== 0 && `runner sent ${second.publication.bytesSent} B`,
    second.publication.objectsWritten !== 0 &&
      `runner wrote ${second.publication.objectsWritten} objects (${second.publication.written.join(', ')})`,
    second.observed.bytes !== 0 && `destination received ${second.observed.bytes} B`,
    second.observed.objects !== 0 && `destination saw ${second.observed.objects} objects written`,
  ].filter((miss): miss is string => typeof miss === 'string');
  console.log(
    misses.length === 0
      ? `  PASS ${destination.name}: the unchanged publish sent 0 bytes and wrote 0 objects`
      : `  FAIL ${destination.name}: the unchanged publish is not a no-op: ${misses.join('; ')}`,
  );
}

/** {@link measureDestination}, a failed publish printed as a FAIL line (the other benchmarks still run). */
async function measureOrReport(release: Fabricated, destination: BenchDestination): Promise<void> {
  try {
    await measureDestination(release, destination);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    console.log(`\n  FAIL ${destination.name}: the publish failed: ${message}`);
  }
}

/** Runs the benchmark and prints its numbers; a missed target or a failed publish is printed, not thrown. */
export async function main(): Promise<void> {
  // The throwaway key of the temporary cache signs, whatever FCOS_SIGNING_* this shell has.
  const savedSigning = Object.entries(process.env).filter(([name]) => name.startsWith('FCOS_SIGNING_'));
  for (const [name] of savedSigning) delete process.env[name];
  const directory = await mkdtemp(path.join(os.tmpdir(), 'fcos-bench-publish-'));
  try {
    const release = await fabricateRelease(directory);
    // Generated once per cache, not per publish: made before the clock starts.
    await ensureThrowawayKey(exec, release.cache);
    await measureOrReport(release, directoryDestination(path.join(directory, 'public')));
    const s3 = await startS3(path.join(directory, 's3rver'));
    try {
      // Loaded once per process (about a second here): not part of either publish's time.
      const sdkStart = performance.now();
      await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]);
      console.log(
        `\n  (AWS SDK loaded in ${((performance.now() - sdkStart) / 1000).toFixed(2)} s, before the S3 publishes)`,
      );
      await measureOrReport(release, s3.destination);
    } finally {
      await s3.stop();
    }
  } finally {
    for (const [name, value] of savedSigning) process.env[name] = value;
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
