/**
 * What every cloud's upload options share: the prefix of the names of what an upload creates, how
 * often it polls a long operation and how long it waits at most; and the name those objects get.
 * Imported by the clouds' platform data (zod only: synthesis loads it).
 */
import { z } from 'zod';
import type { Arch } from '../artifacts.ts';

/**
 * The upload options every cloud has, as a zod shape to spread into its schema: the prefix of the
 * names of what it creates, how often it polls a long operation, and how long it waits at most.
 */
export function commonUploadOptionsShape(defaults: { pollIntervalSeconds: number; maxPrefixLength: number }) {
  return {
    namePrefix: z
      .string()
      .regex(
        new RegExp(`^[a-z][a-z0-9-]{0,${defaults.maxPrefixLength}}$`),
        'a name prefix is lowercase letters, digits and dashes',
      )
      .default('fedora-coreos'),
    pollIntervalSeconds: z.number().positive().max(600).default(defaults.pollIntervalSeconds),
    waitTimeoutMinutes: z
      .number()
      .positive()
      .max(24 * 60)
      .default(120),
  };
}

/** A name for the cloud objects of an image: `<prefix>-<arch>-<first 12 hex digits of digest>`. */
export function imageObjectName(prefix: string, arch: Arch, digest: string): string {
  return `${prefix}-${arch.replace('_', '-')}-${digest.slice(0, 12)}`;
}
