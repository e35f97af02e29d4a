/**
 * The platform registry: one line per platform module. Adding a platform is a new file in
 * targets/ and a line here; nothing else changes.
 */
import type { PlatformTarget } from '../lib/platform.ts';
import { aws } from './aws/index.ts';
import { azure } from './azure/index.ts';
import { digitalocean } from './digitalocean/index.ts';
import { gce } from './gce/index.ts';
import { metal } from './metal/index.ts';
import { openstack } from './openstack/index.ts';
import { qemu } from './qemu/index.ts';
import { vmware } from './vmware/index.ts';

/** Every known platform, by name. */
export const PLATFORMS: ReadonlyMap<string, PlatformTarget> = new Map(
  [aws, azure, digitalocean, gce, metal, openstack, qemu, vmware].map((target) => [target.name, target]),
);

/** Names of the known platforms, sorted. */
export const PLATFORM_NAMES: readonly string[] = [...PLATFORMS.keys()].sort();

/** The platform named `name`, or undefined. */
export function findPlatform(name: string): PlatformTarget | undefined {
  return PLATFORMS.get(name);
}

export type { AwsUploadOptions } from './aws/index.ts';
export type { AzureUploadOptions } from './azure/index.ts';
export type { GceUploadOptions } from './gce/index.ts';
