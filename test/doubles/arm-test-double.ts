/**
 * A stateful test double of Azure Resource Manager for the compute resources an upload creates,
 * speaking its wire protocol (JSON over TLS, `api-version` queries, long-running operations with an
 * `Azure-AsyncOperation` status URL, ARM error bodies, 429 with Retry-After), so that the real
 * @azure/arm-compute client is what the code under test calls. It also serves the App Service
 * managed identity endpoint (plain http, like the real one) that @azure/identity's default chain
 * takes tokens from, and accepts only the bearer tokens it issued. Managed images and gallery image
 * versions validate their source blob (a VHD footer) through a callback that reads it.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type RunningServer, readBody, startServer, type TestCertificate } from './http-double.ts';

/** A managed image or gallery image version. */
export interface ArmResource {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly location: string;
  readonly tags: Record<string, string>;
  readonly properties: Record<string, unknown>;
  provisioningState: 'Creating' | 'Succeeded' | 'Failed';
}

/** A long-running operation. */
interface Operation {
  readonly id: string;
  readonly resourceId: string;
  polls: number;
  readonly error: { code: string; message: string } | undefined;
}

/** One request the double received (after authentication). */
export interface ArmCall {
  readonly method: string;
  readonly path: string;
}

/** What a hook may do with a call before it is handled. */
export type ArmVerdict = 'continue' | 'hang';

/** Options of {@link ArmTestDouble}. */
export interface ArmTestDoubleOptions {
  /** The TLS certificate of the Resource Manager endpoint. */
  readonly certificate: TestCertificate;
  /** The secret App Service passes to the identity endpoint (`IDENTITY_HEADER`). */
  readonly identityHeader: string;
  /** Reads the source blob of an image (the last bytes are enough); undefined if it does not exist. */
  readonly readBlobFooter: (url: string) => Promise<Buffer | undefined>;
  /** Gallery image definitions that exist, as `gallery/definition`. */
  readonly galleryImages?: readonly string[];
  /**
   * Polls an operation stays in progress before it ends.
   * @default 1
   */
  readonly operationPolls?: number;
}

const IMAGE_TYPE = 'Microsoft.Compute/images';
const VERSION_TYPE = 'Microsoft.Compute/galleries/images/versions';

/** The ARM test double. */
export class ArmTestDouble {
  /** Authenticated calls received, in order. */
  readonly calls: ArmCall[] = [];
  /** Tokens issued by the identity endpoint. */
  readonly issuedTokens: string[] = [];
  /** Calls (`PUT images`, `GET operations` ...) to answer with 429 before serving them. */
  readonly throttle = new Map<string, number>();
  /** Called before each authenticated call is handled; `hang` leaves it unanswered. */
  onCall: (call: ArmCall) => ArmVerdict = () => 'continue';
  /** Resources by lowercase id. */
  readonly resources = new Map<string, ArmResource>();
  private readonly operations = new Map<string, Operation>();
  private management: RunningServer | undefined;
  private identity: RunningServer | undefined;

  constructor(private readonly options: ArmTestDoubleOptions) {}

  /** Starts both endpoints; returns the management URL (https) and the identity URL (http). */
  async start(): Promise<{ managementEndpoint: string; identityEndpoint: string }> {
    this.management = await startServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) this.error(response, 500, 'InternalServerError', String(error));
      });
    }, this.options.certificate);
    this.identity = await startServer((request, response) => this.issueToken(request, response));
    return { managementEndpoint: this.management.url, identityEndpoint: `${this.identity.url}/msi/token` };
  }

  /** Stops both endpoints. */
  async stop(): Promise<void> {
    await this.management?.close();
    await this.identity?.close();
  }

  /** How many calls matched `method` and a path containing `fragment`. */
  count(method: string, fragment: string): number {
    return this.calls.filter((call) => call.method === method && call.path.includes(fragment)).length;
  }

  /** Deletes a resource as if removed in the portal. */
  deleteResource(id: string): void {
    this.resources.delete(id.toLowerCase());
  }

  /** The App Service managed identity endpoint (api-version 2019-08-01). */
  private issueToken(request: IncomingMessage, response: ServerResponse): undefined {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (request.headers['x-identity-header'] !== this.options.identityHeader) {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({ error: 'unauthorized', error_description: 'missing or wrong X-IDENTITY-HEADER' }),
      );
      return;
    }
    const token = `test-token-${randomBytes(12).toString('hex')}`;
    this.issuedTokens.push(token);
    const expiresOn = Math.floor(Date.now() / 1000) + 3600;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        access_token: token,
        expires_on: String(expiresOn),
        expires_in: 3600,
        resource: url.searchParams.get('resource'),
        token_type: 'Bearer',
      }),
    );
  }

  /** Handles one Resource Manager request. */
  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    const bearer = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
    if (!bearer || !this.issuedTokens.includes(bearer)) {
      return this.error(response, 401, 'InvalidAuthenticationToken', 'The access token is invalid.');
    }
    if (!url.searchParams.get('api-version')) {
      return this.error(
        response,
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
    }
    const method = request.method ?? 'GET';
    const call = { method, path: url.pathname };
    this.calls.push(call);
    const kind = url.pathname.includes('/operations/')
      ? 'operations'
      : url.pathname.includes('/versions/')
        ? 'versions'
        : 'images';
    const throttleKey = `${method} ${kind}`;
    const throttled = this.throttle.get(throttleKey) ?? 0;
    if (throttled > 0) {
      this.throttle.set(throttleKey, throttled - 1);
      response.setHeader('retry-after', '0');
      return this.error(response, 429, 'TooManyRequests', 'The request is being throttled.');
    }
    if (this.onCall(call) === 'hang') return;
    if (kind === 'operations') return this.operationStatus(url.pathname, response);
    const id = url.pathname;
    if (method === 'GET') {
      const resource = this.resources.get(id.toLowerCase());
      if (!resource) {
        const type = kind === 'versions' ? VERSION_TYPE : IMAGE_TYPE;
        return this.error(
          response,
          404,
          'ResourceNotFound',
          `The Resource '${type}/${id.split('/').pop()}' under resource group was not found.`,
        );
      }
      return this.json(response, 200, this.view(resource));
    }
    if (method === 'PUT')
      return this.createResource(id, kind, JSON.parse(body.toString('utf8') || '{}'), url, response);
    return this.error(response, 405, 'MethodNotAllowed', `${method} is not supported by the test double`);
  }

  /** PUT of a managed image or gallery image version: starts a long-running operation. */
  private async createResource(
    id: string,
    kind: string,
    payload: { location?: string; tags?: Record<string, string>; properties?: Record<string, unknown> },
    url: URL,
    response: ServerResponse,
  ): Promise<void> {
    const segments = id.split('/');
    const subscription = segments[2]!;
    if (kind === 'versions') {
      const gallery = segments[8];
      const definition = segments[10];
      if (!(this.options.galleryImages ?? []).includes(`${gallery}/${definition}`)) {
        return this.error(
          response,
          404,
          'ParentResourceNotFound',
          `Can not perform requested operation on nested resource. Parent resource '${gallery}/${definition}' not found.`,
        );
      }
    }
    const properties = payload.properties ?? {};
    const storage = properties.storageProfile as Record<string, Record<string, unknown>> | undefined;
    const source =
      kind === 'versions'
        ? String((storage?.osDiskImage?.source as Record<string, unknown> | undefined)?.uri ?? '')
        : String(storage?.osDisk?.blobUri ?? '');
    const footer = source ? await this.options.readBlobFooter(source) : undefined;
    const error = !footer
      ? { code: 'InvalidParameter', message: `The source blob ${source} was not found.` }
      : footer.subarray(footer.length - 512, footer.length - 504).toString('latin1') !== 'conectix'
        ? {
            code: 'InvalidVhd',
            message: `The specified cookie value in VHD footer indicates that disk with blob ${source} is not a supported VHD. Disk is expected to have cookie value 'conectix'.`,
          }
        : undefined;
    const resource: ArmResource = {
      id,
      name: segments.at(-1)!,
      type: kind === 'versions' ? VERSION_TYPE : IMAGE_TYPE,
      location: String(payload.location ?? ''),
      tags: payload.tags ?? {},
      properties,
      provisioningState: 'Creating',
    };
    this.resources.set(id.toLowerCase(), resource);
    const operation: Operation = { id: randomBytes(8).toString('hex'), resourceId: id, polls: 0, error };
    this.operations.set(operation.id, operation);
    const status = `${this.management!.url}/subscriptions/${subscription}/providers/Microsoft.Compute/locations/${resource.location}/operations/${operation.id}?api-version=${url.searchParams.get('api-version')}`;
    response.setHeader('azure-asyncoperation', status);
    return this.json(response, 201, this.view(resource));
  }

  /** GET of an operation's status: InProgress, then Succeeded or Failed. */
  private operationStatus(pathname: string, response: ServerResponse): undefined {
    const operation = this.operations.get(pathname.split('/').pop() ?? '');
    if (!operation) return this.error(response, 404, 'NotFound', 'operation not found');
    operation.polls++;
    const resource = this.resources.get(operation.resourceId.toLowerCase());
    if (operation.polls <= (this.options.operationPolls ?? 1)) {
      return this.json(response, 200, {
        name: operation.id,
        status: 'InProgress',
        startTime: new Date().toISOString(),
      });
    }
    if (operation.error) {
      if (resource) resource.provisioningState = 'Failed';
      return this.json(response, 200, { name: operation.id, status: 'Failed', error: operation.error });
    }
    if (resource) resource.provisioningState = 'Succeeded';
    return this.json(response, 200, {
      name: operation.id,
      status: 'Succeeded',
      endTime: new Date().toISOString(),
    });
  }

  /** A resource as GET returns it. */
  private view(resource: ArmResource): Record<string, unknown> {
    return {
      id: resource.id,
      name: resource.name,
      type: resource.type,
      location: resource.location,
      tags: resource.tags,
      properties: { ...resource.properties, provisioningState: resource.provisioningState },
    };
  }

  /** Writes a JSON response. */
  private json(response: ServerResponse, status: number, body: unknown): undefined {
    response.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-ms-request-id': randomBytes(8).toString('hex'),
    });
    response.end(JSON.stringify(body));
    return undefined;
  }

  /** Writes an ARM error response. */
  private error(response: ServerResponse, status: number, code: string, message: string): undefined {
    this.json(response, status, { error: { code, message } });
    return undefined;
  }
}
