/**
 * The platform registry: one line per built-in platform folder, and `registerPlatform` for a
 * project's own (one line in its pipeline program). Adding a platform is a folder in targets/ and
 * a line here; nothing in stages/ or pipeline.ts changes. Only platform data is loaded here: the
 * cloud uploaders (and their SDKs) are modules the Upload runner imports by location.
 */
import { FcosError } from '../lib/errors.ts';
import type { Platform } from '../lib/platform.ts';
import { currentSession } from '../lib/synth/session.ts';
import { aws } from './aws/index.ts';
import { azure } from './azure/index.ts';
import { digitalocean } from './digitalocean/index.ts';
import { gce } from './gce/index.ts';
import { metal } from './metal/index.ts';
import { openstack } from './openstack/index.ts';
import { qemu } from './qemu/index.ts';
import { vmware } from './vmware/index.ts';

/** The platforms fcos-cdk ships. */
const BUILT_IN_PLATFORMS: readonly Platform[] = [
  aws,
  azure,
  digitalocean,
  gce,
  metal,
  openstack,
  qemu,
  vmware,
];

/** A second platform was registered under a name already taken by another one. */
export class DuplicatePlatformError extends FcosError {}

/** The built-in platforms by name. */
const BUILT_INS: ReadonlyMap<string, Platform> = new Map(
  BUILT_IN_PLATFORMS.map((platform) => [platform.name, platform]),
);

/**
 * Where registered platforms live: on `globalThis` under a registered symbol, so that a program
 * importing a second copy of this module (sources and compiled `dist/`) still sees them. A
 * program's registrations belong to its synthesis session: two programs synthesized in one process
 * (the tests) never see each other's platforms. Outside a session (a library user, a benchmark)
 * they are the process's.
 */
const REGISTRY_KEY = Symbol.for('fcos-cdk.platform-registry');

/** Registered platforms by session, and those registered outside any session. */
interface Registrations {
  readonly bySession: WeakMap<object, Map<string, Platform>>;
  readonly outsideSessions: Map<string, Platform>;
}

type GlobalWithRegistrations = typeof globalThis & { [REGISTRY_KEY]?: Registrations };

/** The platforms registered in the open session (or outside sessions), by name. */
function registered(): Map<string, Platform> {
  const global = globalThis as GlobalWithRegistrations;
  global[REGISTRY_KEY] ??= { bySession: new WeakMap(), outsideSessions: new Map() };
  const registrations = global[REGISTRY_KEY];
  const session = currentSession();
  if (session === undefined) return registrations.outsideSessions;
  let platforms = registrations.bySession.get(session);
  if (platforms === undefined) {
    platforms = new Map();
    registrations.bySession.set(session, platforms);
  }
  return platforms;
}

/**
 * Adds a platform made by `definePlatform` (a project's own folder). Call it in the pipeline
 * program, before the platform is used: the registration lasts for the program's synthesis.
 * Registering the same platform again is harmless; another platform under a taken name, a
 * built-in's included, is a {@link DuplicatePlatformError}.
 */
export function registerPlatform<Options, Parsed>(platform: Platform<Options, Parsed>): void {
  const known = findPlatform(platform.name);
  if (known === undefined) {
    registered().set(platform.name, platform as Platform);
    return;
  }
  if (known === platform || samePlatform(known, platform as Platform)) return;
  throw new DuplicatePlatformError(
    `a platform named '${platform.name}' is already registered${BUILT_INS.has(platform.name) ? ' (a built-in one)' : ''}: give yours another name`,
    { field: 'name' },
  );
}

/** Whether two platform objects hold the same data and uploader (one module loaded twice). */
function samePlatform(first: Platform, second: Platform): boolean {
  const data = ({ upload, ...rest }: Platform) => JSON.stringify({ ...rest, uploader: upload?.uploaderFile });
  return data(first) === data(second);
}

/** The platform named `name` (built-in, or registered in this synthesis), or undefined. */
export function findPlatform(name: string): Platform | undefined {
  return BUILT_INS.get(name) ?? registered().get(name);
}

/** Names of the known platforms (built-in and registered), sorted. */
export function platformNames(): string[] {
  return [...BUILT_INS.keys(), ...registered().keys()].sort();
}

/** Names of the known platforms whose images the QEMU harness boots (`qemuBootable`), sorted. */
export function qemuBootablePlatformNames(): string[] {
  return platformNames().filter((name) => findPlatform(name)!.qemuBootable);
}

/** Names of the built-in platforms, sorted. */
export const PLATFORM_NAMES: readonly string[] = BUILT_IN_PLATFORMS.map((platform) => platform.name).sort();

export type { AwsUploadOptions } from './aws/index.ts';
export type { AzureUploadOptions } from './azure/index.ts';
export type { GceUploadOptions } from './gce/index.ts';
