/**
 * Boot Loader Specification entries as ostree writes them (`/loader/entries/ostree-1-OS.conf` on
 * the boot partition: title, version, options, linux, initrd), and the kernel-argument edits a
 * platform makes to them (coreos-assembler's gf-set-platform: replace `ignition.platform.id=`,
 * append the platform's arguments).
 */
import { FcosError } from '../errors.ts';

/** A BLS entry: its key/value lines in order. */
export interface BlsEntry {
  /** `[key, value]` pairs, in file order (a key may repeat, as `initrd` can). */
  readonly fields: readonly (readonly [string, string])[];
}

/** A BLS entry lacks a field that booting needs. */
export class BlsError extends FcosError {}

/** Parses the text of a BLS entry (comments and blank lines are dropped). */
export function parseBlsEntry(text: string): BlsEntry {
  const fields: [string, string][] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^(\S+)\s*(.*)$/.exec(trimmed);
    if (match) fields.push([match[1]!, match[2]!]);
  }
  return { fields };
}

/** The text of a BLS entry, one `key value` line each. */
export function formatBlsEntry(entry: BlsEntry): string {
  return entry.fields
    .map(([key, value]) => `${key} ${value}`)
    .join('\n')
    .concat('\n');
}

/** The first value of `key`, or undefined. */
export function blsField(entry: BlsEntry, key: string): string | undefined {
  return entry.fields.find(([name]) => name === key)?.[1];
}

/** The first value of `key`; throws if the entry has none. */
export function requiredBlsField(entry: BlsEntry, key: string): string {
  const value = blsField(entry, key);
  if (value === undefined) throw new BlsError(`the BLS entry has no '${key}' line`);
  return value;
}

/** The kernel arguments of the entry's `options` line. */
export function kernelArguments(entry: BlsEntry): string[] {
  return (blsField(entry, 'options') ?? '').split(/\s+/).filter((word) => word !== '');
}

/** The entry with its `options` line replaced by `kargs`. */
export function withKernelArguments(entry: BlsEntry, kargs: readonly string[]): BlsEntry {
  const options = kargs.join(' ');
  const hasOptions = entry.fields.some(([key]) => key === 'options');
  const fields = hasOptions
    ? entry.fields.map(([key, value]) => [key, key === 'options' ? options : value] as const)
    : [...entry.fields, ['options', options] as const];
  return { fields };
}

/**
 * Kernel arguments for a platform: `ignition.platform.id=` set to `platformId` in place (added at
 * the end if missing), then `extra` appended, skipping arguments already there.
 */
export function platformKernelArguments(
  kargs: readonly string[],
  platformId: string,
  extra: readonly string[],
): string[] {
  const platformArgument = `ignition.platform.id=${platformId}`;
  const result = kargs.map((karg) => (karg.startsWith('ignition.platform.id=') ? platformArgument : karg));
  if (!result.includes(platformArgument)) result.push(platformArgument);
  for (const karg of extra) if (!result.includes(karg)) result.push(karg);
  return result;
}
