/**
 * A remote cache: the store several machines share so that nothing is built twice anywhere. It
 * holds two kinds of entries, as Bazel's HTTP cache protocol does: content-addressed blobs
 * (`cas/<sha256>`, named by the sha256 of their bytes) and action entries (`ac/<key>`, any bytes
 * under an action key). A remote is never trusted: callers verify every blob against its name and
 * every record against its key before using it (lib/run/remote-artifacts.ts). Implementations:
 * the plain HTTP protocol (http-remote-cache.ts) and S3 (s3-remote-cache.ts).
 */
import { FcosError } from '../../errors.ts';

/** What a run may do with the remote cache: pull requests read only, so that a fork cannot poison it. */
export const REMOTE_CACHE_MODES = ['read', 'write', 'readwrite'] as const;
/** One of {@link REMOTE_CACHE_MODES}. */
export type RemoteCacheMode = (typeof REMOTE_CACHE_MODES)[number];

/** The two namespaces of a remote cache. */
export type RemoteNamespace = 'cas' | 'ac';

/** A blob being downloaded: its bytes as a stream, and its size when the remote said it. */
export interface RemoteBody {
  /** The bytes. */
  readonly stream: AsyncIterable<Uint8Array>;
  /** Content length announced by the remote, if any. */
  readonly size: number | undefined;
}

/** The operations a remote cache offers; every call may reject with a {@link RemoteCacheError}. */
export interface RemoteCache {
  /** Where it is, for messages: never with credentials. */
  readonly description: string;
  /** Resolves when the remote answers (a missing probe entry counts as an answer). */
  probe(signal?: AbortSignal): Promise<void>;
  /** Whether the entry exists. */
  has(namespace: RemoteNamespace, name: string, signal?: AbortSignal): Promise<boolean>;
  /** The entry's bytes as a stream, or undefined when it does not exist. */
  get(namespace: RemoteNamespace, name: string, signal?: AbortSignal): Promise<RemoteBody | undefined>;
  /** Stores `file` (of `size` bytes) as the entry, replacing any earlier one. */
  putFile(
    namespace: RemoteNamespace,
    name: string,
    file: string,
    size: number,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Stores `bytes` as the entry, replacing any earlier one. */
  putBytes(namespace: RemoteNamespace, name: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void>;
}

/**
 * A remote cache call failed: unreachable, refused, or an unexpected status. `unreachable` tells
 * a network failure (the run degrades to the local cache) from an answer that was an error.
 */
export class RemoteCacheError extends FcosError {
  /** Whether the remote could not be reached at all (connection refused, DNS, timeout). */
  readonly unreachable: boolean;

  constructor(message: string, options: { unreachable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.unreachable = options.unreachable;
  }
}

/** `--remote-cache` or its environment variable names no remote fcos-cdk can speak to. */
export class RemoteCacheUrlError extends FcosError {}

/** Reads a whole (small) entry body into memory. */
export async function readBody(body: RemoteBody): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body.stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}
