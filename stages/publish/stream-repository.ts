/**
 * The stream's archive-mode ostree repository at `prod/streams/<stream>/repo`: the release's
 * commits pulled in (`ostree pull-local` from the cache's repository), each arch's ref set, the
 * commits signed, and the summary regenerated (and signed) when its refs or signature are not
 * what a client needs. A directory destination is worked on in place (ostree writes every object,
 * ref and summary atomically). For a remote destination the same repository is built in a staging
 * directory, seeded with what the destination has (other refs and their commits, detached
 * metadata, the summary), and uploaded: objects only when absent (they are content-addressed),
 * detached metadata by digest, then config, refs, summary and summary.sig last.
 */
import type { Stats } from 'node:fs';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import PQueue from 'p-queue';
import { isDigest, sha256File } from '../../lib/cache/hash.ts';
import type { ToolExec } from '../../lib/exec.ts';
import {
  OstreeClientCheck,
  repositoryRefs,
  signOstreeCommit,
  summaryRefs,
  updateSummary,
} from '../../lib/signing/ostree-signatures.ts';
import type { SigningKey } from '../../lib/signing/signing-key.ts';
import { ensureArchiveRepository } from '../../lib/tools/ostree.ts';
import type { PublishWriter } from './publish-writer.ts';

/** Uploads of repository objects in flight at once. */
const OBJECT_UPLOADS_IN_FLIGHT = 8;

/** What {@link publishStreamRepository} needs. */
export interface StreamRepositoryOptions {
  readonly exec: ToolExec;
  readonly log: (line: string) => void;
  readonly writer: PublishWriter;
  /** The repository's destination key (`prod/streams/<stream>/repo`). */
  readonly repositoryKey: string;
  /** The repository holding the commits (the cache's). */
  readonly sourceRepository: string;
  /** Each arch's commit and ref. */
  readonly commits: readonly { readonly checksum: string; readonly ref: string }[];
  /** The key to sign commits and the summary with. */
  readonly key: SigningKey | undefined;
  /** A directory of the node's for staging and scratch clients. */
  readonly workDir: string;
}

/** Publishes the stream's repository into the writer's destination. */
export async function publishStreamRepository(options: StreamRepositoryOptions): Promise<void> {
  const local = options.writer.destination.localPath(options.repositoryKey);
  if (local !== undefined) await publishInPlace(local, options);
  else await publishThroughStaging(options);
}

/** The repository of a directory destination, updated where it is; the files ostree wrote are counted. */
async function publishInPlace(repository: string, options: StreamRepositoryOptions): Promise<void> {
  const before = await repositoryFiles(repository);
  await prepareRepository(repository, options, (relative) =>
    options.writer.beforeLocalWrite(`${options.repositoryKey}/${relative}`),
  );
  const after = await repositoryFiles(repository);
  let present = 0;
  for (const [relative, stats] of after) {
    const earlier = before.get(relative);
    const isObject = relative.startsWith('objects/') && !relative.endsWith('.commitmeta');
    if (
      earlier &&
      earlier.ino === stats.ino &&
      earlier.mtimeMs === stats.mtimeMs &&
      earlier.size === stats.size
    ) {
      if (isObject) present++;
      else options.writer.skip(`${options.repositoryKey}/${relative}`);
      continue;
    }
    options.writer.recordLocalWrite(`${options.repositoryKey}/${relative}`, stats.size, isObject);
  }
  options.writer.repositoryObjectsPresent(present);
}

/**
 * Brings `repository` to the release: commits pulled, refs set, commits signed, summary current.
 * `announce` is told before each step that writes.
 */
async function prepareRepository(
  repository: string,
  options: StreamRepositoryOptions,
  announce: (relative: string) => Promise<void>,
): Promise<void> {
  const { exec, key, log } = options;
  await announce('config');
  await ensureArchiveRepository(exec, repository);
  for (const commit of options.commits) {
    await announce(`objects/${objectPath(commit.checksum, 'commit')}`);
    await exec('ostree', ['pull-local', `--repo=${repository}`, options.sourceRepository, commit.checksum]);
    const current = await exec('ostree', ['rev-parse', `--repo=${repository}`, commit.ref], {
      okExitCodes: [0, 1],
      quietStdout: true,
    });
    if (current.exitCode !== 0 || current.stdout.trim() !== commit.checksum) {
      await announce(`refs/heads/${commit.ref}`);
      await exec('ostree', [
        'refs',
        `--repo=${repository}`,
        `--create=${commit.ref}`,
        '--force',
        commit.checksum,
      ]);
      log(`${commit.ref} -> ${commit.checksum}`);
    }
  }
  const client = key
    ? new OstreeClientCheck(exec, key, repository, path.join(options.workDir, 'ostree-client'))
    : undefined;
  if (key && client) {
    log('checking the signatures with a gpg-verifying client (its errors below mean: not signed yet)');
    for (const commit of options.commits) {
      if (await client.commitIsSigned(commit.checksum)) continue;
      await announce(`objects/${objectPath(commit.checksum, 'commitmeta')}`);
      await signOstreeCommit(exec, key, repository, commit.checksum);
      log(`signed commit ${commit.checksum} with ${key.fingerprint}`);
    }
  }
  const refs = await repositoryRefs(exec, repository);
  const summarized = await summaryRefs(exec, repository);
  const current = summarized !== undefined && sameRefs(refs, summarized);
  if (current && (!client || (await client.summaryIsSigned()))) return;
  await announce('summary');
  await updateSummary(exec, repository, key);
  log(`summary of ${refs.size} ref(s) updated${key ? `, signed with ${key.fingerprint}` : ''}`);
}

/** The repository of a remote destination: built in a staging directory seeded from the destination, then uploaded. */
async function publishThroughStaging(options: StreamRepositoryOptions): Promise<void> {
  const { exec, writer, repositoryKey, log } = options;
  const { destination } = writer;
  const staging = path.join(options.workDir, 'stream-repository');
  await ensureArchiveRepository(exec, staging);
  const ours = new Set(options.commits.map((commit) => commit.ref));
  // Refs of other arches stay in the summary: their commit objects come along so ostree can list them.
  const refsPrefix = `${repositoryKey}/refs/heads/`;
  for (const refKey of [...(await destination.list(refsPrefix))].sort()) {
    const ref = refKey.slice(refsPrefix.length);
    if (ours.has(ref)) continue;
    const checksum = (await destination.read(refKey))?.toString('utf8').trim() ?? '';
    if (!isDigest(checksum)) continue;
    const fetched = await fetchObject(options, staging, checksum, 'commit');
    if (!fetched) {
      log(
        `the destination's ref ${ref} names ${checksum}, which it does not hold: the ref is left out of the summary`,
      );
      continue;
    }
    await fetchObject(options, staging, checksum, 'commitmeta');
    await exec('ostree', ['refs', `--repo=${staging}`, `--create=${ref}`, '--force', checksum]);
  }
  // Signatures already published are kept (and checked) rather than added again.
  for (const commit of options.commits) await fetchObject(options, staging, commit.checksum, 'commitmeta');
  // `ostree summary -u` records `indexed-deltas` in the config: the published config is the starting point.
  for (const name of ['config', 'summary', 'summary.sig']) {
    await destination.download(`${repositoryKey}/${name}`, path.join(staging, name));
  }
  await prepareRepository(staging, options, async () => {});
  await uploadRepository(staging, options);
}

/** Downloads object `checksum.kind` from the destination into `staging`; false when it is absent. */
async function fetchObject(
  options: StreamRepositoryOptions,
  staging: string,
  checksum: string,
  kind: 'commit' | 'commitmeta',
): Promise<boolean> {
  const relative = `objects/${objectPath(checksum, kind)}`;
  await mkdir(path.dirname(path.join(staging, relative)), { recursive: true });
  return options.writer.destination.download(
    `${options.repositoryKey}/${relative}`,
    path.join(staging, relative),
  );
}

/** Uploads the staging repository: absent objects, changed detached metadata, then config, refs and the summary. */
async function uploadRepository(staging: string, options: StreamRepositoryOptions): Promise<void> {
  const { writer, repositoryKey } = options;
  const files = await repositoryFiles(staging);
  const present = await writer.destination.list(`${repositoryKey}/objects/`);
  const queue = new PQueue({ concurrency: OBJECT_UPLOADS_IN_FLIGHT });
  let alreadyThere = 0;
  const metadata: string[] = [];
  for (const [relative, stats] of files) {
    if (!relative.startsWith('objects/')) continue;
    if (relative.endsWith('.commitmeta')) {
      metadata.push(relative);
      continue;
    }
    const key = `${repositoryKey}/${relative}`;
    if (present.has(key)) {
      alreadyThere++;
      continue;
    }
    const file = path.join(staging, relative);
    void queue.add(async () =>
      writer.putRepositoryObject(key, { file, size: stats.size }, await fileDigest(file)),
    );
  }
  await queue.onIdle();
  writer.repositoryObjectsPresent(alreadyThere);
  const last = [
    ...metadata.sort(),
    'config',
    ...[...files.keys()].filter((relative) => relative.startsWith('refs/heads/')).sort(),
    'summary',
    'summary.sig',
  ];
  for (const relative of last) {
    const stats = files.get(relative);
    if (!stats) continue;
    const file = path.join(staging, relative);
    await writer.put(`${repositoryKey}/${relative}`, { file, size: stats.size }, await fileDigest(file));
  }
}

/** `xx/yyyy….<kind>`: where an object lives under `objects/`. */
function objectPath(checksum: string, kind: string): string {
  return `${checksum.slice(0, 2)}/${checksum.slice(2)}.${kind}`;
}

/** Whether two ref maps are equal. */
function sameRefs(left: ReadonlyMap<string, string>, right: ReadonlyMap<string, string>): boolean {
  return left.size === right.size && [...left].every(([ref, checksum]) => right.get(ref) === checksum);
}

/** The files of a repository that are published (not its lock, tmp/ or state/), by relative path. */
async function repositoryFiles(repository: string): Promise<Map<string, Stats>> {
  const files = new Map<string, Stats>();
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(path.join(repository, relative), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (relative === '' && ['tmp', 'state', '.lock', 'extensions'].includes(entry.name)) continue;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) files.set(child, await lstat(path.join(repository, child)));
    }
  };
  await walk('');
  return files;
}

/** sha256 of a repository file (streamed: a file object can be a whole initramfs). */
async function fileDigest(file: string): Promise<string> {
  return (await sha256File(file)).digest;
}
