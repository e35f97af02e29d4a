/**
 * The other nodes of a FleetLock group, played by the test through the server's real HTTP API (the
 * requests Zincati and the update agent make), so that the group is full when the machine asks and
 * the server's history shows who held what: the fleet-lock-full scenario's peers.
 */
import { FLEET_LOCK_PATHS } from '../../lib/serve/fleet-lock.ts';
import { UpdateTestSetupError } from './errors.ts';

/** Asks the server at `serverUrl` for (pre-reboot) or gives back (steady-state) a slot as node `id`; true when granted. */
export async function fleetLockRequest(
  serverUrl: string,
  action: keyof typeof FLEET_LOCK_PATHS,
  id: string,
  group: string,
): Promise<boolean> {
  const response = await fetch(`${serverUrl}${FLEET_LOCK_PATHS[action]}`, {
    method: 'POST',
    headers: { 'fleet-lock-protocol': 'true', 'content-type': 'application/json' },
    body: JSON.stringify({ client_params: { id, group } }),
  });
  await response.arrayBuffer();
  return response.status === 200;
}

/** The peers holding slots of one group, taken and given back one by one. */
export class FleetLockPeers {
  private readonly holding: string[] = [];

  constructor(
    private readonly serverUrl: string,
    private readonly group: string,
    private readonly nodePath: string,
  ) {}

  /** Takes a slot for each of `ids`; throws if the server refuses one (the group must end up full by them). */
  async take(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      if (!(await fleetLockRequest(this.serverUrl, 'preReboot', id, this.group))) {
        throw new UpdateTestSetupError(
          `FleetLock refused peer ${id} a slot of group '${this.group}' before the machine booted`,
          { constructPath: this.nodePath },
        );
      }
      this.holding.push(id);
    }
  }

  /** Gives back the slot of the peer that took one first; returns its id. */
  async freeOne(): Promise<string> {
    const id = this.holding.shift();
    if (id === undefined || !(await fleetLockRequest(this.serverUrl, 'steadyState', id, this.group))) {
      throw new UpdateTestSetupError(`no peer of group '${this.group}' held a FleetLock slot to give back`, {
        constructPath: this.nodePath,
      });
    }
    return id;
  }
}
