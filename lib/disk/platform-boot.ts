/**
 * The platforms table (targets/platforms.yaml, the shape of fedora-coreos-config's platforms.yaml):
 * per arch and Ignition platform id, the kernel arguments and GRUB console commands of the image.
 * Every field is optional: a platform that is not listed gets none.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import type { Arch } from '../artifacts.ts';
import { FcosError } from '../errors.ts';
import type { ToolExec } from '../exec.ts';
import { installedVersions } from '../tools/dpkg.ts';
import type { JsonValue } from '../util/canonical-json.ts';
import { PACKAGE_ROOT } from '../util/package-root.ts';

/** The table's file: in the package's root, so compiled code in dist/ finds it too. */
export const PLATFORMS_TABLE_PATH = path.join(PACKAGE_ROOT, 'targets/platforms.yaml');

/** What the table says about one arch and platform. */
export interface PlatformSettings {
  /** GRUB commands put between the console-settings markers of grub.cfg. */
  readonly grubCommands: readonly string[];
  /** Kernel arguments appended to the BLS entry. */
  readonly kernelArguments: readonly string[];
}

const entrySchema = z
  .object({
    grub_commands: z.array(z.string()).optional(),
    kernel_arguments: z.array(z.string().regex(/^\S+$/)).optional(),
  })
  .strict();
const tableSchema = z.record(z.string(), z.record(z.string(), entrySchema));

/** The table file is not valid. */
export class PlatformsTableError extends FcosError {}

/** The parsed table and the sha256 of its bytes, read once. */
let cached: { readonly table: z.output<typeof tableSchema>; readonly digest: string } | undefined;

/** Reads and validates the table (once per process). */
function load(): NonNullable<typeof cached> {
  if (cached) return cached;
  const text = readFileSync(PLATFORMS_TABLE_PATH, 'utf8');
  const parsed = tableSchema.safeParse(parse(text) ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PlatformsTableError(
      `${PLATFORMS_TABLE_PATH}: ${issue?.path.join('.')}: ${issue?.message ?? 'invalid'}`,
    );
  }
  cached = { table: parsed.data, digest: createHash('sha256').update(text).digest('hex') };
  return cached;
}

/** The kernel arguments and GRUB console commands of `platformId` on `arch` (empty when not listed). */
export function platformSettings(arch: Arch, platformId: string): PlatformSettings {
  const entry = load().table[arch]?.[platformId];
  return { grubCommands: entry?.grub_commands ?? [], kernelArguments: entry?.kernel_arguments ?? [] };
}

/** The section of `arch` as JSON, as coreos-assembler writes it to /boot/coreos/platforms.json. */
export function archSection(arch: Arch): JsonValue | undefined {
  return load().table[arch] as JsonValue | undefined;
}

/** sha256 of the table file: part of the fingerprints of the runners that apply it. */
export function platformsTableDigest(): string {
  return load().digest;
}

/**
 * The fingerprint of a runner that writes images with the platforms table applied: the versions of
 * the Debian packages of its tools, and the table's digest.
 */
export async function imageToolsFingerprint(exec: ToolExec, packages: readonly string[]): Promise<JsonValue> {
  const tools = Object.fromEntries(await installedVersions(exec, packages));
  return { tools, platformsTable: platformsTableDigest() };
}
