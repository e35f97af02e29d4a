/**
 * fcos-serve's HTTP server: one fastify instance serving a publish destination's files, the update
 * graph (`GET /v1/graph`) and FleetLock (`POST /v1/pre-reboot`, `/v1/steady-state`), so that a
 * machine installed from this pipeline's images can pull its OS and update by itself from
 * 127.0.0.1 like Fedora CoreOS does from builds.coreos.fedoraproject.org, the update servers and
 * airlock. fastify rather than node:http by hand: routing, HEAD for every GET, keep-alive and a
 * clean close are its job, and @fastify/static serves files correctly (ranges, revalidation, path
 * checks); it is small and starts in milliseconds.
 */
import { stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { FcosError } from '../errors.ts';
import {
  type FleetLockEvent,
  type FleetLockOptions,
  FleetLockSemaphores,
  registerFleetLock,
} from './fleet-lock.ts';
import { ProtocolErrorResponse, sendProtocolError } from './protocol-error.ts';
import { registerStaticTree } from './static-tree.ts';
import { registerUpdateGraphRoute, UpdateGraphCache } from './update-graph-route.ts';

/** The address fcos-serve binds unless told otherwise: this machine only. */
export const DEFAULT_HOST = '127.0.0.1';
/** fcos-serve's default port (the local default base URL of published releases uses it). */
export const DEFAULT_PORT = 8080;

/** What to serve, and how. */
export interface ServeOptions {
  /** The publish destination directory (`prod/`, `streams/`, `updates/`, `signing-key.asc`). */
  readonly root: string;
  /**
   * Address to bind.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * Port to bind; 0 picks a free one (the running server's `url` says which).
   * @default 8080
   */
  readonly port?: number;
  /**
   * FleetLock reboot slots per group.
   * @default 2 slots for every group
   */
  readonly fleetLock?: FleetLockOptions;
  /**
   * The clock rollouts are throttled at, in milliseconds since the epoch (tests fix it).
   * @default Date.now
   */
  readonly now?: () => number;
  /**
   * Receives one line per FleetLock slot taken, refused or given back, and per server-side error.
   * @default nothing is reported
   */
  readonly log?: (line: string) => void;
  /**
   * Receives every FleetLock request the server answered (a test harness records the history).
   * @default nothing is reported
   */
  readonly onFleetLock?: (event: FleetLockEvent) => void;
}

/** A listening fcos-serve. */
export interface RunningServer {
  /** Base URL clients use: `http://127.0.0.1:8080`. */
  readonly url: string;
  /** The port it listens on (the one picked when asked for 0). */
  readonly port: number;
  /** The FleetLock semaphores (which nodes hold a reboot slot). */
  readonly fleetLock: FleetLockSemaphores;
  /** Stops accepting connections, lets running requests finish, and resolves once closed. */
  close(): Promise<void>;
}

/** The directory to serve does not exist or is not a directory. */
export class ServeRootError extends FcosError {}

/** Builds the fastify instance for `options` (not listening yet) and its FleetLock semaphores. */
export async function createServer(
  options: ServeOptions,
): Promise<{ server: FastifyInstance; fleetLock: FleetLockSemaphores }> {
  const root = path.resolve(options.root);
  await checkRoot(root);
  const log = options.log ?? (() => {});
  const server = Fastify({ logger: false });
  server.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ProtocolErrorResponse) {
      if (error.statusCode >= 500)
        log(`${request.method} ${request.url}: ${error.statusCode} ${error.kind}: ${error.message}`);
      return sendProtocolError(reply, error);
    }
    // @fastify/send refuses a directory, a path leaving the root (`..`, also percent-encoded) or
    // a NUL byte with 403: to a client of a file tree each is simply not a file here.
    if (error.statusCode === 403) return sendProtocolError(reply, notFound(request.url));
    // fastify's own refusals (a body too large, a bad query string) keep their 4xx status.
    const statusCode = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
    if (statusCode >= 500) log(`${request.method} ${request.url}: ${error.stack ?? error.message}`);
    return sendProtocolError(reply, new ProtocolErrorResponse(statusCode, 'generic_error', error.message));
  });
  server.setNotFoundHandler((request, reply) => sendProtocolError(reply, notFound(request.url)));
  const fleetLock = new FleetLockSemaphores(options.fleetLock);
  await registerFleetLock(server, fleetLock, log, options.onFleetLock);
  registerUpdateGraphRoute(server, { cache: new UpdateGraphCache(root), now: options.now ?? Date.now });
  await registerStaticTree(server, root);
  return { server, fleetLock };
}

/** Starts fcos-serve: serves `options.root` on `options.host`:`options.port` until closed. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { server, fleetLock } = await createServer(options);
  await server.listen({ host: options.host ?? DEFAULT_HOST, port: options.port ?? DEFAULT_PORT });
  const address = server.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    fleetLock,
    close: () => server.close(),
  };
}

/** The answer for a path that names no file and no endpoint. */
function notFound(url: string): ProtocolErrorResponse {
  return new ProtocolErrorResponse(404, 'does_not_exist', `not found: ${url}`);
}

/** Refuses a root that is missing or not a directory, naming it. */
async function checkRoot(root: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(root)).isDirectory();
  } catch (error) {
    throw new ServeRootError(`${root} does not exist: publish a release there first, or pass --root DIR`, {
      field: 'root',
      cause: error,
    });
  }
  if (!isDirectory) throw new ServeRootError(`${root} is not a directory`, { field: 'root' });
}
