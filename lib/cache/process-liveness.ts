/**
 * Whether a process recorded in a lock or staging file name still runs on this host.
 */
import { hostname } from 'node:os';

/** Whether process `pid` exists on this host (a process of another user counts as alive). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This host's name, as recorded in lock and staging files. */
export function currentHostname(): string {
  return hostname();
}
