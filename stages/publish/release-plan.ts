/**
 * What one Publish puts where, worked out from its inputs before anything is written: release.json,
 * each arch's meta.json and the files it lists (matched to the input files by sha256), each arch's
 * commit and ref, the update metadata, and the `last-modified` time of the documents (the newest
 * build's commit timestamp, so publishing an unchanged release again changes no byte).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { sha256File } from '../../lib/cache/hash.ts';
import { type BuildMeta, buildMetaSchema } from '../../lib/release/build-meta.ts';
import {
  publishedPaths,
  type Release,
  releaseSchema,
  type UpdateMetadataDocument,
  updateMetadataSchema,
} from '../../lib/release/formats.ts';
import { type InputReference, type ResolvedArtifact, requireInput } from '../../lib/runner.ts';
import { PublishInputError } from './errors.ts';

/** One file to publish: its destination key, local path and digest. */
export interface PlannedFile {
  /** Destination key. */
  readonly key: string;
  /** The local file (read-only). */
  readonly path: string;
  /** Its sha256. */
  readonly sha256: string;
  /** Its size in bytes. */
  readonly size: number;
}

/** One arch of the release. */
export interface PlannedArch {
  /** The arch. */
  readonly arch: string;
  /** meta.json. */
  readonly meta: PlannedFile;
  /** The files meta.json lists (images, the ostree archive): each signed when signing. */
  readonly files: readonly PlannedFile[];
  /** The arch's commit and the ref it is published under in the stream's repository. */
  readonly commit: { readonly checksum: string; readonly ref: string };
}

/** Everything one publish writes. */
export interface PublishPlan {
  /** The stream. */
  readonly stream: string;
  /** The release's version. */
  readonly version: string;
  /** Base URL the destination is served from. */
  readonly baseUrl: string;
  /** `last-modified` of the documents: the newest build's commit timestamp. */
  readonly lastModified: string;
  /** release.json, parsed, and its file. */
  readonly release: { readonly document: Release; readonly file: PlannedFile };
  /** The arches, sorted. */
  readonly arches: readonly PlannedArch[];
  /** The update metadata, if the node has it. */
  readonly updates?: { readonly document: UpdateMetadataDocument; readonly file: PlannedFile };
  /** The repository holding the commits (the cache's). */
  readonly sourceRepository: string;
}

/** The props of a Publish node that name its inputs. */
export interface PublishInputProps {
  readonly release: InputReference;
  readonly updates?: InputReference | undefined;
  readonly builds: readonly InputReference[];
  readonly commits: readonly InputReference[];
  readonly files: readonly InputReference[];
  readonly stream: string;
  readonly baseUrl: string;
}

/** What {@link planPublication} reads. */
export interface PlanContext {
  readonly nodePath: string;
  readonly props: PublishInputProps;
  readonly inputs: Readonly<Record<string, ResolvedArtifact>>;
  readonly ostreeRepo: string;
}

/** The plan of a Publish node from its resolved inputs; a typed error for anything that does not fit. */
export async function planPublication(context: PlanContext): Promise<PublishPlan> {
  const { nodePath, props } = context;
  const fail = (message: string, field?: string): never => {
    throw new PublishInputError(message, { constructPath: nodePath, ...(field ? { field } : {}) });
  };
  const releaseInput = requireInput(context, props.release);
  const release = await readJson(releaseInput.path, releaseSchema, 'release.json', fail);
  const { stream } = props;
  if (release.stream !== stream)
    fail(`release.json is of stream ${release.stream}, not ${stream}`, 'release');
  const version = release.release;

  // Files by sha256: a build's meta.json names each of its files by digest.
  const filesByDigest = new Map<string, ResolvedArtifact>();
  for (const reference of props.files) {
    const input = requireInput(context, reference);
    if (input.storage === 'file') filesByDigest.set(input.digest, input);
    // A directory of files (a LiveImage's): each file by its own digest.
    if (input.storage === 'tree') {
      for (const name of (await readdir(input.path)).sort()) {
        const file = path.join(input.path, name);
        const { digest } = await sha256File(file);
        filesByDigest.set(digest, { ...input, storage: 'file', path: file, digest });
      }
    }
  }
  const commitsByChecksum = new Map<string, ResolvedArtifact>();
  for (const reference of props.commits) {
    const input = requireInput(context, reference);
    commitsByChecksum.set(input.digest, input);
  }

  const arches: PlannedArch[] = [];
  const metas: BuildMeta[] = [];
  for (const reference of props.builds) {
    const input = requireInput(context, reference);
    const meta = await readJson(input.path, buildMetaSchema, `meta.json (${reference.$input})`, fail);
    const arch = meta['coreos-assembler.basearch'];
    const releaseArch = release.architectures[arch];
    // A build of an arch the release does not have is not published with it.
    if (releaseArch === undefined) continue;
    metas.push(meta);
    if (meta.buildid !== version) {
      fail(`the ${arch} build is ${meta.buildid}, but the release is ${version}`, reference.$input);
    }
    if (meta['ostree-commit'] !== releaseArch.commit) {
      fail(
        `the ${arch} build's commit is ${meta['ostree-commit']}, but release.json says ${releaseArch.commit}`,
        reference.$input,
      );
    }
    const directory = publishedPaths.archDirectory(stream, version, arch);
    const files = await filesOfBuild(meta, directory, filesByDigest);
    checkReleaseMedia(release, arch, files, fail);
    const commit = commitsByChecksum.get(meta['ostree-commit']);
    const ref = commit?.metadata.ref;
    if (commit === undefined)
      fail(`no commit input is the ${arch} commit ${meta['ostree-commit']}`, 'commits');
    if (typeof ref !== 'string' || ref === '') {
      fail(`the ${arch} commit ${meta['ostree-commit']} records no ref`, 'commits');
    }
    arches.push({
      arch,
      meta: await plannedFile(`${directory}/meta.json`, input),
      files,
      commit: { checksum: meta['ostree-commit'], ref: ref as string },
    });
  }
  for (const arch of Object.keys(release.architectures)) {
    if (!arches.some((planned) => planned.arch === arch))
      fail(`no build input is the ${arch} build of ${version}`, 'builds');
  }
  arches.sort((a, b) => a.arch.localeCompare(b.arch));

  let updates: PublishPlan['updates'];
  if (props.updates !== undefined) {
    const updatesInput = requireInput(context, props.updates);
    const document = await readJson(updatesInput.path, updateMetadataSchema, 'the update metadata', fail);
    if (document.stream !== stream)
      fail(`the update metadata is of stream ${document.stream}, not ${stream}`, 'updates');
    updates = { document, file: await plannedFile(publishedPaths.updateMetadata(stream), updatesInput) };
  }

  return {
    stream,
    version,
    baseUrl: props.baseUrl,
    lastModified: newestTimestamp(metas),
    release: {
      document: release,
      file: await plannedFile(publishedPaths.release(stream, version), releaseInput),
    },
    arches,
    ...(updates === undefined ? {} : { updates }),
    sourceRepository: context.ostreeRepo,
  };
}

/** The files meta.json lists that an input provides, under the arch's directory. */
async function filesOfBuild(
  meta: BuildMeta,
  directory: string,
  filesByDigest: ReadonlyMap<string, ResolvedArtifact>,
): Promise<PlannedFile[]> {
  const files: PlannedFile[] = [];
  for (const image of Object.values(meta.images ?? {})) {
    const input = filesByDigest.get(image.sha256);
    if (input === undefined) continue;
    files.push(await plannedFile(`${directory}/${path.posix.basename(image.path)}`, input));
  }
  return files.sort((a, b) => a.key.localeCompare(b.key));
}

/** Every file release.json lists for `arch` is among `files`, under the name its URL ends with. */
function checkReleaseMedia(
  release: Release,
  arch: string,
  files: readonly PlannedFile[],
  fail: (message: string, field?: string) => never,
): void {
  const media = release.architectures[arch]?.media ?? {};
  for (const [platform, entry] of Object.entries(media)) {
    for (const [format, roles] of Object.entries(entry.artifacts ?? {})) {
      for (const [role, file] of Object.entries(roles)) {
        const planned = files.find((candidate) => candidate.sha256 === file.sha256);
        if (planned === undefined) {
          fail(
            `release.json lists the ${arch} ${platform} ${format} ${role} ${file.location} (sha256 ${file.sha256}), but no input file has that digest`,
            'files',
          );
        }
        const name = file.location.slice(file.location.lastIndexOf('/') + 1);
        if (path.posix.basename(planned.key) !== name) {
          fail(
            `release.json names the ${arch} ${platform} ${format} ${role} '${name}', but its build names that file '${path.posix.basename(planned.key)}'`,
            'release',
          );
        }
      }
    }
  }
}

/** A planned file from an input. */
async function plannedFile(key: string, input: ResolvedArtifact): Promise<PlannedFile> {
  return { key, path: input.path, sha256: input.digest, size: (await stat(input.path)).size };
}

/** Reads and validates a JSON input. */
async function readJson<T>(
  file: string,
  schema: z.ZodType<T>,
  what: string,
  fail: (message: string, field?: string) => never,
): Promise<T> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    return fail(`${what} is not JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  return fail(`${what} is not valid: ${issue?.path.map(String).join('.') || '(root)'}: ${issue?.message}`);
}

/** The newest `ostree-timestamp` as `YYYY-MM-DDTHH:MM:SSZ`. */
export function newestTimestamp(builds: readonly BuildMeta[]): string {
  const times = builds.map((build) => Date.parse(build['ostree-timestamp'])).filter(Number.isFinite);
  if (times.length === 0) return '1970-01-01T00:00:00Z';
  return new Date(Math.max(...times)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
