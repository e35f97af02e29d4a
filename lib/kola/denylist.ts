/**
 * The kola denylist (fedora-coreos-config's kola-denylist.yaml): tests known to fail, skipped by
 * name pattern, optionally only on some arches, streams or platforms, until a snooze date, or run
 * with their failure turned into a warning (`warn: true`).
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FcosError } from '../errors.ts';
import { globMatcher } from '../run/glob.ts';

/** A string or a list of strings. */
const stringList = z.union([z.string(), z.array(z.string())]).transform((value) => [value].flat());

/** One denylist entry. */
export const denylistEntrySchema = z
  .object({
    pattern: z.string().min(1),
    tracker: z.string().optional(),
    arches: stringList.optional(),
    streams: stringList.optional(),
    platforms: stringList.optional(),
    snooze: z.union([z.string(), z.date()]).optional(),
    warn: z.boolean().optional(),
    osversion: stringList.optional(),
  })
  .strict();

/** A parsed denylist entry. */
export type DenylistEntry = z.output<typeof denylistEntrySchema>;

/** Where a test is about to run. */
export interface DenylistTarget {
  /** Test name. */
  readonly test: string;
  /** Architecture. */
  readonly arch: string;
  /** Platform (qemu ...). */
  readonly platform: string;
  /** Stream, if known. */
  readonly stream?: string;
  /** Today, for snoozes (injectable for tests). */
  readonly today: Date;
}

/** What the denylist says about a test. */
export type DenylistVerdict =
  | { readonly action: 'run' }
  | { readonly action: 'skip'; readonly entry: DenylistEntry }
  | { readonly action: 'warn'; readonly entry: DenylistEntry };

/** A denylist file that does not parse. */
export class DenylistError extends FcosError {}

/** Reads and validates a denylist file. */
export async function readDenylist(file: string): Promise<DenylistEntry[]> {
  let document: unknown;
  try {
    document = parseYaml(await readFile(file, 'utf8')) ?? [];
  } catch (error) {
    throw new DenylistError(`denylist ${file}: ${(error as Error).message}`, { field: 'denylist' });
  }
  const parsed = z.array(denylistEntrySchema).safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DenylistError(`denylist ${file}: entry ${issue?.path.join('.')}: ${issue?.message}`, {
      field: 'denylist',
    });
  }
  return parsed.data;
}

/** The verdict of the first entry matching `target`, or `run`. */
export function judge(entries: readonly DenylistEntry[], target: DenylistTarget): DenylistVerdict {
  for (const entry of entries) {
    if (!globMatcher(entry.pattern)(target.test)) continue;
    if (entry.arches && !entry.arches.includes(target.arch)) continue;
    if (entry.platforms && !entry.platforms.includes(target.platform)) continue;
    if (entry.streams && (!target.stream || !entry.streams.includes(target.stream))) continue;
    if (entry.snooze !== undefined && new Date(entry.snooze).getTime() <= target.today.getTime()) continue;
    return entry.warn ? { action: 'warn', entry } : { action: 'skip', entry };
  }
  return { action: 'run' };
}
