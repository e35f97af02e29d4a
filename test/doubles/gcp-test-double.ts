/**
 * A stateful test double of the Google Cloud endpoints an upload uses, speaking their wire
 * protocols, so that the real @google-cloud/storage and @google-cloud/compute clients (and
 * google-auth-library's default chain) are what the code under test calls:
 * - the GCE metadata server (reached through GCE_METADATA_HOST): project id and access tokens;
 * - Cloud Storage's JSON API: resumable uploads in chunks (308 and Range, status queries), object
 *   metadata with md5Hash and crc32c, deletes;
 * - Compute's REST API: images (get, insert with requestId, delete, IAM policy) and global
 *   operations (get, wait) that end DONE, with errors when the source is not a gzip tarball.
 * Only bearer tokens it issued are accepted (but for the chunks of a resumable session, whose URI
 * is the credential). Tests can throttle calls, hang them, and read state.
 */
import { createHash, type Hash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type RunningServer, readBody, startServer } from './http-double.ts';

/** A stored object (its bytes only when the double keeps content). */
export interface StoredObject {
  readonly bucket: string;
  readonly name: string;
  readonly size: number;
  readonly md5Hash: string;
  readonly crc32c: string;
  /** The first bytes (enough to check a gzip magic). */
  readonly head: Buffer;
  readonly content: Buffer | undefined;
  readonly metadata: Record<string, string>;
  readonly contentType: string;
  readonly generation: string;
}

/** A resumable upload session: digests are computed as chunks arrive. */
interface UploadSession {
  readonly bucket: string;
  readonly name: string;
  readonly metadata: Record<string, string>;
  readonly contentType: string;
  readonly chunks: Buffer[];
  readonly md5: Hash;
  crc: number;
  head: Buffer;
  received: number;
}

/** A GCE image. */
export interface GceImage {
  readonly name: string;
  readonly project: string;
  readonly resource: Record<string, unknown>;
  status: 'PENDING' | 'READY' | 'FAILED';
  bindings: Array<{ role: string; members: string[] }>;
}

/** A global operation. */
interface GlobalOperation {
  readonly name: string;
  readonly project: string;
  readonly operationType: string;
  readonly targetLink: string;
  readonly requestId: string | undefined;
  polls: number;
  status: 'RUNNING' | 'DONE';
  readonly onDone: () => { code: string; message: string } | undefined;
  error?: { code: string; message: string };
}

/** One authenticated call the double received. */
export interface GcpCall {
  readonly method: string;
  readonly path: string;
}

/** What a hook may do with a call before it is handled. */
export type GcpVerdict = 'continue' | 'hang';

/** Options of {@link GcpTestDouble}. */
export interface GcpTestDoubleOptions {
  /** The project the metadata server reports. */
  readonly project: string;
  /** Buckets that exist. */
  readonly buckets: readonly string[];
  /**
   * Access token the metadata server issues (a test passes a canary).
   * @default a random one
   */
  readonly accessToken?: string;
  /**
   * Polls an operation stays RUNNING before it is DONE.
   * @default 1
   */
  readonly operationPolls?: number;
  /**
   * Keep the bytes of uploaded objects (off for benchmarks of large uploads).
   * @default true
   */
  readonly keepContent?: boolean;
}

/** The Google Cloud test double. */
export class GcpTestDouble {
  /** Authenticated calls, in order. */
  readonly calls: GcpCall[] = [];
  /** Objects by `bucket/name`. */
  readonly objects = new Map<string, StoredObject>();
  /** Images by `project/name`. */
  readonly images = new Map<string, GceImage>();
  /** Calls (`POST images`, `PUT upload` ...) to answer with 429 or 503 before serving them. */
  readonly throttle = new Map<string, { status: number; count: number }>();
  /** Called before each authenticated call is handled; `hang` leaves it unanswered. */
  onCall: (call: GcpCall) => GcpVerdict = () => 'continue';
  /** Access tokens handed out. */
  readonly issuedTokens: string[] = [];
  private readonly uploads = new Map<string, UploadSession>();
  private readonly operations = new Map<string, GlobalOperation>();
  private server: RunningServer | undefined;
  private generation = 1;

  constructor(private readonly options: GcpTestDoubleOptions) {}

  /** Starts listening; returns the URL (also the metadata host, without the scheme). */
  async start(): Promise<string> {
    this.server = await startServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) this.error(response, 500, 'internalError', String(error));
      });
    });
    return this.server.url;
  }

  /** Stops listening. */
  async stop(): Promise<void> {
    await this.server?.close();
  }

  /** How many calls matched `method` and a path containing `fragment`. */
  count(method: string, fragment: string): number {
    return this.calls.filter((call) => call.method === method && call.path.includes(fragment)).length;
  }

  /** Handles one request. */
  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (url.pathname.startsWith('/computeMetadata/')) return this.metadata(request, url, response);
    const body = await readBody(request);
    const bearer = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
    // Like Cloud Storage, a resumable session's URI is its own credential: chunks need no token.
    const sessionRequest =
      url.pathname.startsWith('/upload/') && this.uploads.has(url.searchParams.get('upload_id') ?? '');
    if (!sessionRequest && (!bearer || !this.issuedTokens.includes(bearer))) {
      return this.error(response, 401, 'authError', 'Request had invalid authentication credentials.');
    }
    const method = request.method ?? 'GET';
    const call = { method, path: url.pathname };
    this.calls.push(call);
    const kind = url.pathname.startsWith('/upload/')
      ? 'upload'
      : url.pathname.startsWith('/storage/')
        ? 'objects'
        : url.pathname.includes('/operations/')
          ? 'operations'
          : 'images';
    const throttled = this.throttle.get(`${method} ${kind}`);
    if (throttled && throttled.count > 0) {
      throttled.count--;
      return this.error(
        response,
        throttled.status,
        throttled.status === 429 ? 'rateLimitExceeded' : 'backendError',
        'Try again later.',
      );
    }
    if (this.onCall(call) === 'hang') return;
    if (kind === 'upload') return this.upload(request, url, body, response);
    if (kind === 'objects') return this.object(method, url, response);
    return this.compute(method, url, body, response);
  }

  /** The metadata server: ping, project id, universe domain and tokens (needs Metadata-Flavor). */
  private metadata(request: IncomingMessage, url: URL, response: ServerResponse): undefined {
    response.setHeader('metadata-flavor', 'Google');
    if (request.headers['metadata-flavor'] !== 'Google') {
      response.writeHead(403);
      response.end('Missing Metadata-Flavor: Google header');
      return;
    }
    const path = url.pathname.replace(/\/$/, '');
    if (path === '/computeMetadata/v1/instance/service-accounts/default/token') {
      const token = this.options.accessToken ?? `test-token-${randomBytes(12).toString('hex')}`;
      this.issuedTokens.push(token);
      return this.json(response, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
    }
    const texts: Record<string, string> = {
      '/computeMetadata/v1/project/project-id': this.options.project,
      '/computeMetadata/v1/universe/universe-domain': 'googleapis.com',
      '/computeMetadata/v1/instance': '',
      '/computeMetadata/v1/instance/service-accounts/default/email': 'uploader@test.iam.gserviceaccount.com',
    };
    const text = texts[path];
    response.writeHead(text === undefined ? 404 : 200, { 'content-type': 'application/text' });
    response.end(text ?? 'not found');
  }

  /** Cloud Storage resumable uploads: start a session, then chunks with Content-Range. */
  private upload(request: IncomingMessage, url: URL, body: Buffer, response: ServerResponse): undefined {
    const bucket = decodeURIComponent(url.pathname.split('/')[5] ?? '');
    if (!this.options.buckets.includes(bucket))
      return this.error(response, 404, 'notFound', 'The specified bucket does not exist.');
    const uploadId = url.searchParams.get('upload_id');
    if (!uploadId) {
      if (url.searchParams.get('uploadType') !== 'resumable')
        return this.error(response, 400, 'invalid', 'only resumable uploads');
      const resource = body.length > 0 ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
      const name = url.searchParams.get('name') ?? String(resource.name ?? '');
      const id = randomBytes(12).toString('hex');
      this.uploads.set(id, {
        bucket,
        name,
        metadata: (resource.metadata as Record<string, string> | undefined) ?? {},
        contentType: String(resource.contentType ?? 'application/octet-stream'),
        chunks: [],
        md5: createHash('md5'),
        crc: 0xffffffff,
        head: Buffer.alloc(0),
        received: 0,
      });
      const location = `${this.server!.url}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
      response.writeHead(200, { location, 'x-guploader-uploadid': id });
      response.end();
      return;
    }
    const session = this.uploads.get(uploadId);
    if (!session) return this.error(response, 404, 'notFound', 'No such upload session.');
    const range = /^bytes (\*|(\d+)-(\d+))\/(\*|\d+)$/.exec(
      String(request.headers['content-range'] ?? 'bytes */*'),
    );
    if (!range) return this.error(response, 400, 'invalid', 'bad Content-Range');
    const total = range[4] === '*' ? undefined : Number(range[4]);
    if (range[1] !== '*') {
      const start = Number(range[2]);
      if (start > session.received)
        return this.error(response, 400, 'invalid', `chunk starts at ${start}, ${session.received} received`);
      const fresh = body.subarray(session.received - start);
      if (this.options.keepContent ?? true) session.chunks.push(fresh);
      session.md5.update(fresh);
      session.crc = crc32cUpdate(session.crc, fresh);
      if (session.head.length < 16) session.head = Buffer.concat([session.head, fresh.subarray(0, 16)]);
      session.received += fresh.length;
    }
    if (total !== undefined && session.received === total) {
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE((session.crc ^ 0xffffffff) >>> 0);
      const stored: StoredObject = {
        bucket: session.bucket,
        name: session.name,
        size: session.received,
        md5Hash: session.md5.digest('base64'),
        crc32c: crc.toString('base64'),
        head: session.head,
        content: (this.options.keepContent ?? true) ? Buffer.concat(session.chunks) : undefined,
        metadata: session.metadata,
        contentType: session.contentType,
        generation: String(this.generation++),
      };
      this.objects.set(`${session.bucket}/${session.name}`, stored);
      this.uploads.delete(uploadId);
      return this.json(response, 200, objectResource(stored));
    }
    response.writeHead(308, session.received > 0 ? { range: `bytes=0-${session.received - 1}` } : {});
    response.end();
  }

  /** Cloud Storage object metadata and deletes. */
  private object(method: string, url: URL, response: ServerResponse): undefined {
    const match = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname);
    if (!match) return this.error(response, 404, 'notFound', `no route ${url.pathname}`);
    const key = `${decodeURIComponent(match[1]!)}/${decodeURIComponent(match[2]!)}`;
    const stored = this.objects.get(key);
    if (!stored) return this.error(response, 404, 'notFound', `No such object: ${key}`);
    if (method === 'DELETE') {
      this.objects.delete(key);
      response.writeHead(204);
      response.end();
      return;
    }
    return this.json(response, 200, objectResource(stored));
  }

  /** Compute: images and global operations. */
  private compute(method: string, url: URL, body: Buffer, response: ServerResponse): undefined {
    const match =
      /^\/compute\/v1\/projects\/([^/]+)\/global\/(images|operations)(?:\/([^/]+))?(?:\/(\w+))?$/.exec(
        url.pathname,
      );
    if (!match) return this.error(response, 404, 'notFound', `no route ${url.pathname}`);
    const [, project, collection, name, verb] = match as unknown as [
      string,
      string,
      string,
      string | undefined,
      string | undefined,
    ];
    if (collection === 'operations') {
      const operation = this.operations.get(`${project}/${name}`);
      if (!operation)
        return this.error(
          response,
          404,
          'notFound',
          `The resource 'projects/${project}/global/operations/${name}' was not found`,
        );
      this.advance(operation);
      return this.json(response, 200, operationResource(operation));
    }
    const payload = body.length > 0 ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
    if (!name && method === 'POST')
      return this.insertImage(project, payload, url.searchParams.get('requestId') ?? undefined, response);
    const image = name ? this.images.get(`${project}/${name}`) : undefined;
    if (!image)
      return this.error(
        response,
        404,
        'notFound',
        `The resource 'projects/${project}/global/images/${name}' was not found`,
      );
    if (verb === 'getIamPolicy')
      return this.json(response, 200, { version: 1, etag: 'BwX=', bindings: image.bindings });
    if (verb === 'setIamPolicy') {
      const policy = payload.policy as { bindings?: Array<{ role: string; members: string[] }> } | undefined;
      image.bindings = policy?.bindings ?? [];
      return this.json(response, 200, { version: 1, etag: 'BwY=', bindings: image.bindings });
    }
    if (method === 'DELETE') {
      this.images.delete(`${project}/${image.name}`);
      const operation = this.newOperation(project, 'delete', image.name, undefined, () => undefined);
      return this.json(response, 200, operationResource(operation));
    }
    return this.json(response, 200, imageResource(image));
  }

  /** images.insert: validates the name and source, starts an operation (deduplicated by requestId). */
  private insertImage(
    project: string,
    payload: Record<string, unknown>,
    requestId: string | undefined,
    response: ServerResponse,
  ): undefined {
    const existing = [...this.operations.values()].find(
      (operation) => requestId && operation.requestId === requestId,
    );
    if (existing) return this.json(response, 200, operationResource(existing));
    const name = String(payload.name ?? '');
    if (this.images.has(`${project}/${name}`)) {
      return this.error(
        response,
        409,
        'alreadyExists',
        `The resource 'projects/${project}/global/images/${name}' already exists`,
      );
    }
    const image: GceImage = { name, project, resource: payload, status: 'PENDING', bindings: [] };
    this.images.set(`${project}/${name}`, image);
    const source = String((payload.rawDisk as Record<string, unknown> | undefined)?.source ?? '');
    const objectKey = /^https:\/\/storage\.googleapis\.com\/(.+)$/.exec(source)?.[1];
    const operation = this.newOperation(project, 'insert', name, requestId, () => {
      const stored = objectKey ? this.objects.get(objectKey) : undefined;
      const error = !stored
        ? {
            code: 'INVALID_FIELD_VALUE',
            message: `Invalid value for field 'resource.rawDisk.source': '${source}'. The object does not exist.`,
          }
        : stored.head[0] !== 0x1f || stored.head[1] !== 0x8b
          ? {
              code: 'INVALID_IMAGE_FILE',
              message: `The image file ${source} is not a valid gzip-compressed tar archive.`,
            }
          : undefined;
      image.status = error ? 'FAILED' : 'READY';
      return error;
    });
    return this.json(response, 200, operationResource(operation));
  }

  /** A new RUNNING operation. */
  private newOperation(
    project: string,
    operationType: string,
    target: string,
    requestId: string | undefined,
    onDone: GlobalOperation['onDone'],
  ): GlobalOperation {
    const operation: GlobalOperation = {
      name: `operation-${Date.now()}-${randomBytes(6).toString('hex')}`,
      project,
      operationType,
      targetLink: `https://www.googleapis.com/compute/v1/projects/${project}/global/images/${target}`,
      requestId,
      polls: 0,
      status: 'RUNNING',
      onDone,
    };
    this.operations.set(`${project}/${operation.name}`, operation);
    return operation;
  }

  /** Moves an operation to DONE after `operationPolls` looks. */
  private advance(operation: GlobalOperation): void {
    if (operation.status === 'DONE') return;
    operation.polls++;
    if (operation.polls <= (this.options.operationPolls ?? 1)) return;
    operation.status = 'DONE';
    const error = operation.onDone();
    if (error) operation.error = error;
  }

  /** Writes a JSON response. */
  private json(response: ServerResponse, status: number, body: unknown): undefined {
    response.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
    response.end(JSON.stringify(body));
    return undefined;
  }

  /** Writes a Google API error. */
  private error(response: ServerResponse, status: number, reason: string, message: string): undefined {
    this.json(response, status, {
      error: { code: status, message, errors: [{ reason, message, domain: 'global' }] },
    });
    return undefined;
  }
}

/** An object as the JSON API returns it. */
function objectResource(stored: StoredObject): Record<string, unknown> {
  return {
    kind: 'storage#object',
    id: `${stored.bucket}/${stored.name}/${stored.generation}`,
    name: stored.name,
    bucket: stored.bucket,
    generation: stored.generation,
    metageneration: '1',
    contentType: stored.contentType,
    size: String(stored.size),
    md5Hash: stored.md5Hash,
    crc32c: stored.crc32c,
    metadata: stored.metadata,
  };
}

/** An image as Compute returns it. */
function imageResource(image: GceImage): Record<string, unknown> {
  return {
    ...image.resource,
    kind: 'compute#image',
    id: String(Math.abs(hashCode(image.name))),
    status: image.status,
    selfLink: `https://www.googleapis.com/compute/v1/projects/${image.project}/global/images/${image.name}`,
  };
}

/** An operation as Compute returns it. */
function operationResource(operation: GlobalOperation): Record<string, unknown> {
  return {
    kind: 'compute#operation',
    id: String(Math.abs(hashCode(operation.name))),
    name: operation.name,
    operationType: operation.operationType,
    targetLink: operation.targetLink,
    status: operation.status,
    progress: operation.status === 'DONE' ? 100 : 0,
    selfLink: `https://www.googleapis.com/compute/v1/projects/${operation.project}/global/operations/${operation.name}`,
    ...(operation.error ? { error: { errors: [operation.error] } } : {}),
  };
}

/** A small string hash (ids). */
function hashCode(text: string): number {
  let hash = 0;
  for (const char of text) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) | 0;
  return hash;
}

/** CRC32C (Castagnoli) lookup table. */
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let index = 0; index < 256; index++) {
    let value = index;
    for (let bit = 0; bit < 8; bit++) value = value & 1 ? (value >>> 1) ^ 0x82f63b78 : value >>> 1;
    table[index] = value >>> 0;
  }
  return table;
})();

/** The CRC32C (Castagnoli) state `crc` after `content` (start at 0xffffffff, finish with a xor). */
function crc32cUpdate(crc: number, content: Buffer): number {
  let state = crc;
  for (let index = 0; index < content.length; index++)
    state = CRC32C_TABLE[(state ^ content[index]!) & 0xff]! ^ (state >>> 8);
  return state;
}
