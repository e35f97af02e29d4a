/**
 * FleetLock, the reboot coordination protocol Zincati speaks with its `fleet_lock` strategy:
 * `POST /v1/pre-reboot` takes one of a group's N reboot slots (idempotent for a node already
 * holding one), `POST /v1/steady-state` gives it back (a no-op for a node holding none). Requests
 * carry the header `fleet-lock-protocol: true` and the body `{"client_params": {"id", "group"}}`;
 * only 200 means yes. Error kinds and messages follow coreos/airlock, the reference server
 * (internal/server/{http_params,pre_reboot}.go, internal/lock/semaphore.go), with two deliberate
 * differences:
 * - Holders live in this process's memory. airlock keeps its semaphores in etcd, so they survive a
 *   restart and are shared by replicas; a restarted fcos-serve forgets every holder (a node that
 *   was rebooting simply takes a slot again on its next pre-reboot, and one that finished never
 *   needs its old slot back). One fcos-serve per fleet, and a restart frees every slot.
 * - A full group answers 409 Conflict (kind `failed_lock`, airlock's message); airlock answers 500
 *   because its error comes out of the etcd transaction. Zincati treats any non-200 the same way
 *   (it retries later), and a 409 tells an operator's monitoring that nothing is broken.
 *   airlock also refuses groups absent from its configuration (`unknown_group`); here every group
 *   exists, with the default slot count unless configured otherwise.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ProtocolErrorResponse } from './protocol-error.ts';

/** FleetLock settings: how many nodes of a group may reboot at once. */
export interface FleetLockOptions {
  /**
   * Slots of a group not named in `groupSlots`: how many of its nodes may reboot at once (0: none).
   * @default 2 (airlock's example configuration)
   */
  readonly defaultSlots?: number;
  /**
   * Slots per group name, overriding `defaultSlots`.
   * @default {}
   */
  readonly groupSlots?: Readonly<Record<string, number>>;
}

/** The default number of reboot slots per group. */
export const DEFAULT_FLEET_LOCK_SLOTS = 2;

/** A node's identity as a FleetLock request gives it. */
export interface FleetLockClient {
  /** The node's id (Zincati: its app-specific machine id). */
  readonly id: string;
  /** Its reboot group (Zincati's `updates.fleet_lock` group, `default` unless configured). */
  readonly group: string;
}

/** The counting semaphores of every group: which nodes hold a reboot slot. In memory only. */
export class FleetLockSemaphores {
  private readonly holdersByGroup = new Map<string, Set<string>>();
  private readonly defaultSlots: number;
  private readonly groupSlots: Readonly<Record<string, number>>;

  constructor(options: FleetLockOptions = {}) {
    this.defaultSlots = options.defaultSlots ?? DEFAULT_FLEET_LOCK_SLOTS;
    this.groupSlots = { ...options.groupSlots };
  }

  /** How many nodes of `group` may hold a slot at once. */
  slots(group: string): number {
    return Object.hasOwn(this.groupSlots, group) ? this.groupSlots[group]! : this.defaultSlots;
  }

  /** The nodes holding a slot of `group`, sorted. */
  holders(group: string): string[] {
    return [...(this.holdersByGroup.get(group) ?? [])].sort();
  }

  /**
   * Takes a slot of the client's group for it (RecursiveLock): true when it now holds one (already
   * held counts), false when every slot is held by other nodes.
   */
  lock(client: FleetLockClient): boolean {
    const holders = this.holdersByGroup.get(client.group) ?? new Set<string>();
    if (holders.has(client.id)) return true;
    if (holders.size >= this.slots(client.group)) return false;
    holders.add(client.id);
    this.holdersByGroup.set(client.group, holders);
    return true;
  }

  /** Gives back the client's slot (UnlockIfHeld): true if it held one, false if it held none. */
  unlock(client: FleetLockClient): boolean {
    const holders = this.holdersByGroup.get(client.group);
    if (!holders?.delete(client.id)) return false;
    if (holders.size === 0) this.holdersByGroup.delete(client.group);
    return true;
  }
}

/** One FleetLock request as the server answered it (for a test harness that asserts on the history). */
export interface FleetLockEvent {
  /** `pre-reboot` (take a slot) or `steady-state` (give it back). */
  readonly action: 'pre-reboot' | 'steady-state';
  /** The node's id. */
  readonly id: string;
  /** Its group. */
  readonly group: string;
  /** pre-reboot: whether it got (or already held) a slot; steady-state: whether it held one. */
  readonly granted: boolean;
}

/** The FleetLock endpoints' paths (v1). */
export const FLEET_LOCK_PATHS = { preReboot: '/v1/pre-reboot', steadyState: '/v1/steady-state' } as const;

/** Refuses a request that is not a FleetLock request with a client identity, as airlock words it. */
function invalidIdentity(reason: string, cause?: unknown): ProtocolErrorResponse {
  return new ProtocolErrorResponse(
    400,
    'invalid_client_identity',
    `failed to validate client identity: ${reason}`,
    cause === undefined ? {} : { cause },
  );
}

/** The client of a FleetLock request: checks the protocol header, then the JSON body's client_params. */
export function fleetLockClient(request: FastifyRequest): FleetLockClient {
  if (request.headers['fleet-lock-protocol'] !== 'true')
    throw invalidIdentity("wrong 'fleet-lock-protocol' header");
  const text = typeof request.body === 'string' ? request.body : '';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw invalidIdentity(`the body is not JSON: ${(error as Error).message}`, error);
  }
  const params = (body as { client_params?: unknown } | null)?.client_params;
  if (typeof params !== 'object' || params === null) throw invalidIdentity('missing client_params');
  const { id, group } = params as { id?: unknown; group?: unknown };
  if (typeof group !== 'string' || group === '') throw invalidIdentity('empty client group');
  if (typeof id !== 'string' || id === '') throw invalidIdentity('empty client ID');
  return { id, group };
}

/**
 * Registers the FleetLock endpoints on `server`, in an encapsulated scope (the body parser it
 * installs applies to these two routes only). Refusals are thrown as {@link ProtocolErrorResponse}:
 * the server's error handler answers them. `log` gets one line per slot taken, refused or given back;
 * `onEvent` every well-formed request and its answer.
 */
export async function registerFleetLock(
  server: FastifyInstance,
  semaphores: FleetLockSemaphores,
  log: (line: string) => void,
  onEvent: (event: FleetLockEvent) => void = () => {},
): Promise<void> {
  await server.register(async (scope) => {
    // Zincati posts its JSON body without a Content-Type header, which fastify's parsers would
    // refuse (415) before the handler could answer in the protocol's terms: take every body as
    // text here and parse it in the handler, after the protocol header was checked, like airlock.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

    scope.post(FLEET_LOCK_PATHS.preReboot, async (request, reply) => {
      const client = fleetLockClient(request);
      const { id, group } = client;
      const slots = semaphores.slots(group);
      const granted = semaphores.lock(client);
      onEvent({ action: 'pre-reboot', id, group, granted });
      if (!granted) {
        log(
          `fleet-lock: ${id} refused: all ${slots} slots of group '${group}' held (${semaphores.holders(group).join(', ')})`,
        );
        throw new ProtocolErrorResponse(409, 'failed_lock', `all ${slots} semaphore slots currently locked`);
      }
      log(
        `fleet-lock: ${id} holds a slot of group '${group}' (${semaphores.holders(group).length}/${slots} held)`,
      );
      return reply.code(200).send();
    });

    scope.post(FLEET_LOCK_PATHS.steadyState, async (request, reply) => {
      const client = fleetLockClient(request);
      const { id, group } = client;
      const held = semaphores.unlock(client);
      onEvent({ action: 'steady-state', id, group, granted: held });
      if (held) {
        log(
          `fleet-lock: ${id} gave back its slot of group '${group}' (${semaphores.holders(group).length}/${semaphores.slots(group)} held)`,
        );
      }
      return reply.code(200).send();
    });
  });
}
