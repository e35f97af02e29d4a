/**
 * The plain HTTP cache protocol of Bazel's `--remote_cache=http://…` and bazel-remote:
 * `GET|HEAD|PUT <base>/cas/<sha256>` for blobs and `<base>/ac/<key>` for action entries. nginx's
 * WebDAV module serves it too (PUT with `create_full_put_path`, GET and HEAD as static files).
 * Node's own fetch (undici) speaks HTTP here: the protocol is four verbs on two paths, so no
 * client library is worth a dependency. Credentials come from the environment
 * (`FCOS_REMOTE_CACHE_TOKEN`, a bearer token) or the URL's user information (basic auth); neither
 * appears in `description` or in any message.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import {
  type RemoteBody,
  type RemoteCache,
  RemoteCacheError,
  RemoteCacheUrlError,
  type RemoteNamespace,
} from './remote-cache.ts';

/** Attempts of a call that failed for want of a connection or with a 5xx answer. */
const ATTEMPTS = 3;
/** Wait before the second attempt; doubled for each further one. */
const FIRST_BACKOFF_MS = 200;
/** How long a probe waits for an answer before the remote counts as unreachable. */
const PROBE_TIMEOUT_MS = 5000;

/** A remote cache speaking Bazel's HTTP cache protocol. */
export class HttpRemoteCache implements RemoteCache {
  readonly description: string;
  /** Base URL without credentials and without a trailing slash. */
  private readonly base: string;
  /** The Authorization header, if any. */
  private readonly authorization: string | undefined;

  /** `url` is `http(s)://[user:password@]host[:port][/prefix]`; `token` a bearer token. */
  constructor(url: URL, token: string | undefined) {
    if (url.search !== '' || url.hash !== '')
      throw new RemoteCacheUrlError(
        `remote cache ${url.protocol}//${url.host}${url.pathname}: a query or fragment is not allowed`,
      );
    const basic =
      url.username === ''
        ? undefined
        : `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    this.authorization =
      token !== undefined && token !== ''
        ? `Bearer ${token}`
        : basic !== undefined
          ? `Basic ${Buffer.from(basic).toString('base64')}`
          : undefined;
    this.base = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
    this.description = this.base;
  }

  /** HEAD of an action entry that cannot exist: any HTTP answer means the remote is there. */
  async probe(signal?: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(PROBE_TIMEOUT_MS);
    await this.request('HEAD', 'ac', '0'.repeat(64), {
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      attempts: 1,
    });
  }

  /** HEAD: 200 exists, 404 does not. */
  async has(namespace: RemoteNamespace, name: string, signal?: AbortSignal): Promise<boolean> {
    const response = await this.request('HEAD', namespace, name, { signal });
    return response.status !== 404;
  }

  /** GET as a stream; undefined on 404. */
  async get(namespace: RemoteNamespace, name: string, signal?: AbortSignal): Promise<RemoteBody | undefined> {
    const response = await this.request('GET', namespace, name, { signal });
    if (response.status === 404 || response.body === null) return undefined;
    const length = response.headers.get('content-length');
    return {
      stream: Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>),
      size: length === null ? undefined : Number(length),
    };
  }

  /** PUT of a file, streamed. */
  async putFile(
    namespace: RemoteNamespace,
    name: string,
    file: string,
    size: number,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.request('PUT', namespace, name, {
      signal,
      body: () => createReadStream(file),
      size,
    });
  }

  /** PUT of bytes in memory. */
  async putBytes(
    namespace: RemoteNamespace,
    name: string,
    bytes: Uint8Array,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.request('PUT', namespace, name, { signal, body: () => bytes, size: bytes.length });
  }

  /**
   * One call, retried on connection failures and 5xx answers; any status other than 2xx and (for
   * HEAD and GET) 404 is an error naming the call.
   */
  private async request(
    method: 'GET' | 'HEAD' | 'PUT',
    namespace: RemoteNamespace,
    name: string,
    options: {
      signal?: AbortSignal | undefined;
      body?: () => Uint8Array | Readable;
      size?: number;
      attempts?: number;
    },
  ): Promise<Response> {
    const url = `${this.base}/${namespace}/${name}`;
    const attempts = options.attempts ?? ATTEMPTS;
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        const headers: Record<string, string> = {};
        if (this.authorization) headers.authorization = this.authorization;
        if (options.size !== undefined) headers['content-length'] = String(options.size);
        if (options.body) headers['content-type'] = 'application/octet-stream';
        response = await fetch(url, {
          method,
          headers,
          ...(options.body ? { body: options.body() as RequestInit['body'], duplex: 'half' } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        } as RequestInit);
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (attempt < attempts) {
          await delay(FIRST_BACKOFF_MS * 2 ** (attempt - 1));
          continue;
        }
        throw new RemoteCacheError(`${method} ${url}: ${networkReason(error)}`, {
          unreachable: true,
          cause: error,
        });
      }
      if (response.ok || ((method === 'GET' || method === 'HEAD') && response.status === 404))
        return response;
      await response.body?.cancel().catch(() => {});
      if (response.status >= 500 && attempt < attempts) {
        await delay(FIRST_BACKOFF_MS * 2 ** (attempt - 1));
        continue;
      }
      // bazel-remote refuses action entries that are not REAPI ActionResults unless told not to.
      const hint =
        method === 'PUT' && namespace === 'ac' && response.status === 400
          ? ' (bazel-remote checks action entries as Bazel ActionResult messages: start it with --disable_http_ac_validation)'
          : '';
      throw new RemoteCacheError(
        `${`${method} ${url}: HTTP ${response.status} ${response.statusText}`.trimEnd()}${hint}`,
        {
          unreachable: false,
        },
      );
    }
  }
}

/** The reason fetch gives for a failure, with the system error code where there is one. */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  if (cause?.message) return cause.message;
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer in time';
  return error instanceof Error ? error.message : String(error);
}

/** Waits `ms` milliseconds. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
