/**
 * The platform registry: one line per platform module. Adding a platform is a new file in
 * targets/ and a line here; nothing else changes.
 */
import type { PlatformTarget } from '../lib/platform.ts';
import { aws } from './aws.ts';
import { azure } from './azure.ts';
import { digitalocean } from './digitalocean.ts';
import { gce } from './gce.ts';
import { metal } from './metal.ts';
import { openstack } from './openstack.ts';
import { qemu } from './qemu.ts';
import { vmware } from './vmware.ts';

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

export type { AwsUploadOptions } from './aws.ts';
export type { AzureUploadOptions } from './azure.ts';
export type { GceUploadOptions } from './gce.ts';
