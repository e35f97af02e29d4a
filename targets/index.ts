/**
 * The platform registry: one line per built-in platform folder, and `registerPlatform` for a
 * project's own (one line in its pipeline program). Adding a platform is a folder in targets/ and
 * a line here; nothing in stages/ or pipeline.ts changes. Only platform data is loaded here: the
 * cloud uploaders (and their SDKs) are modules the Upload runner imports by location.
 */
import { FcosError } from '../lib/errors.ts';
import type { Platform } from '../lib/platform.ts';
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

/**
 * Where registered platforms live: on `globalThis` under a registered symbol, so that a program
 * importing a second copy of this module (sources and compiled `dist/`) still sees one registry.
 */
const REGISTRY_KEY = Symbol.for('fcos-cdk.platform-registry');

type GlobalWithRegistry = typeof globalThis & { [REGISTRY_KEY]?: Map<string, Platform> };

/** The registry, made with the built-in platforms on first use. */
function registry(): Map<string, Platform> {
  const global = globalThis as GlobalWithRegistry;
  global[REGISTRY_KEY] ??= new Map(BUILT_IN_PLATFORMS.map((platform) => [platform.name, platform]));
  return global[REGISTRY_KEY];
}

/**
 * Adds a platform made by `definePlatform` (a project's own folder), before the program uses it.
 * Registering the same platform again is harmless (a program loaded twice in one process); another
 * platform under a taken name, a built-in's included, is a {@link DuplicatePlatformError}.
 */
export function registerPlatform<Options, Parsed>(platform: Platform<Options, Parsed>): void {
  const known = registry().get(platform.name);
  if (known === undefined) {
    registry().set(platform.name, platform as Platform);
    return;
  }
  if (known === platform || samePlatform(known, platform as Platform)) return;
  throw new DuplicatePlatformError(
    `a platform named '${platform.name}' is already registered${BUILT_IN_PLATFORMS.includes(known) ? ' (a built-in one)' : ''}: give yours another name`,
    { field: 'name' },
  );
}

/** Whether two platform objects hold the same data and uploader (one module loaded twice). */
function samePlatform(first: Platform, second: Platform): boolean {
  const data = ({ upload, ...rest }: Platform) => JSON.stringify({ ...rest, uploader: upload?.uploaderFile });
  return data(first) === data(second);
}

/** The platform named `name`, or undefined. */
export function findPlatform(name: string): Platform | undefined {
  return registry().get(name);
}

/** Names of the known platforms (built-in and registered), sorted. */
export function platformNames(): string[] {
  return [...registry().keys()].sort();
}

/** Names of the known platforms whose images the QEMU harness boots (`qemuBootable`), sorted. */
export function qemuBootablePlatformNames(): string[] {
  return platformNames().filter((name) => registry().get(name)!.qemuBootable);
}

/** Names of the built-in platforms, sorted. */
export const PLATFORM_NAMES: readonly string[] = BUILT_IN_PLATFORMS.map((platform) => platform.name).sort();

export type { AwsUploadOptions } from './aws/index.ts';
export type { AzureUploadOptions } from './azure/index.ts';
export type { GceUploadOptions } from './gce/index.ts';
