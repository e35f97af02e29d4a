/**
 * `fcos-run cache ls|verify|gc`: look into the cache, re-hash it and fsck its ostree repository
 * (naming every blob evicted, record deleted and commit removed, exit 1 when anything was
 * damaged), or shrink it (least recently used first).
 */

import path from 'node:path';
import { parseArgs } from 'node:util';
import { ActionCache } from '../cache/action-cache.ts';
import {
  collectGarbageWithReport,
  type GarbageCollectionReport,
  listCache,
  verifyCache,
} from '../cache/gc.ts';
import { type OstreeRepositoryVerification, verifyOstreeRepository } from '../cache/ostree-verification.ts';
import { type CliIo, UsageError } from './io.ts';

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** The cache directory: --cache, else $FCOS_CACHE_DIR, else ./cache. */
export function cacheDirectory(option: string | undefined): string {
  return path.resolve(option ?? process.env.FCOS_CACHE_DIR ?? 'cache');
}

/** Parses `500M`, `20G`, `1.5T` or a byte count. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (!match) throw new UsageError(`--max-size takes a size such as 500M or 20G, not '${text}'`);
  return Math.floor(Number(match[1]) * UNITS[match[2]!.toUpperCase()]!);
}

/** Formats bytes as `1.2 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** Runs a cache subcommand; resolves to the exit code. */
export async function runCacheCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { cache: { type: 'string' }, 'max-size': { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  const root = cacheDirectory(values.cache);
  const [command, ...rest] = positionals;
  if (rest.length > 0) throw new UsageError(`unexpected '${rest.join(' ')}'`);
  switch (command) {
    case 'ls': {
      const entries = await listCache(root);
      for (const entry of entries) {
        io.stdout(
          `${entry.key.slice(0, 12)}  ${formatBytes(entry.size).padStart(10)}  ${entry.lastUsedAt.toISOString()}  ${entry.kind.padEnd(18)} ${entry.node}\n`,
        );
      }
      io.stdout(`${entries.length} action record${entries.length === 1 ? '' : 's'} in ${root}\n`);
      return 0;
    }
    case 'verify': {
      const result = await verifyCache(root);
      for (const digest of result.corruptBlobs) io.stdout(`corrupt blob evicted: ${digest}\n`);
      for (const record of result.deletedRecords) {
        io.stdout(`corrupt action record deleted: ${record.key} (${record.reason})\n`);
      }
      for (const record of result.recordsMissingBlobs) {
        io.stdout(
          `record ${record.key.slice(0, 12)} (${record.node}) lost ${record.missingDigests.length} blob(s): it will be rebuilt\n`,
        );
      }
      io.stdout(`${result.checkedBlobs} blobs checked, ${result.corruptBlobs.length} corrupt\n`);
      io.stdout(
        `${result.checkedRecords} action records checked, ${result.deletedRecords.length} corrupt (deleted), ${result.recordsMissingBlobs.length} missing blobs\n`,
      );
      const ostree = await verifyOstreeRepository(root, new ActionCache(root));
      for (const line of ostreeVerifyLines(ostree)) io.stdout(`${line}\n`);
      // Anything found damaged is a failure, even though it was repaired: a script must notice.
      const damaged =
        result.corruptBlobs.length +
        result.deletedRecords.length +
        result.recordsMissingBlobs.length +
        (ostree.fsck?.problems.length ?? 0) +
        (ostree.fsck?.damagedCommits.length ?? 0);
      return damaged > 0 ? 1 : 0;
    }
    case 'gc': {
      if (values['max-size'] === undefined) throw new UsageError('cache gc needs --max-size SIZE');
      const report = await collectGarbageWithReport(root, { maxSizeBytes: parseSize(values['max-size']) });
      for (const line of gcReportLines(report)) io.stdout(`${line}\n`);
      // Still over the limit is a warning, not a failure: the records were evicted, and blobs in
      // the grace period go on the next gc once no run can still be using them.
      if (!report.fits) io.stderr(`cache gc: warning: ${gcShortfall(report, root)}\n`);
      return 0;
    }
    default:
      throw new UsageError(
        command ? `unknown cache command '${command}'` : 'cache needs a command: ls, verify or gc',
      );
  }
}

/** Minutes of a grace period, as a person reads it. */
function graceText(graceMs: number): string {
  return graceMs % 60_000 === 0 ? `${graceMs / 60_000} min` : `${graceMs / 1000} s`;
}

/** What gc did and what it kept, and why: one line each (sizes are allocated bytes). */
export function gcReportLines(report: GarbageCollectionReport): string[] {
  const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  const lines = [
    `removed ${report.removedRecords} records and ${report.removedBlobs} blobs, freed ${formatBytes(report.freedBytes)}; ${formatBytes(report.remainingBytes)} left (limit ${formatBytes(report.maxSizeBytes)})`,
  ];
  if (report.keptReferenced.blobs > 0) {
    lines.push(
      `kept ${formatBytes(report.keptReferenced.bytes)} in ${plural(report.keptReferenced.blobs, 'blob')} still referenced by the ${plural(report.keptRecords, 'record')} left`,
    );
  }
  if (report.keptInGrace.blobs > 0) {
    lines.push(
      `kept ${formatBytes(report.keptInGrace.bytes)} in ${plural(report.keptInGrace.blobs, 'unreferenced blob')} stored less than ${graceText(report.graceMs)} ago (grace period: a running action may still need them)`,
    );
  }
  return lines;
}

/** Why the cache is still over the limit, as one sentence. */
export function gcShortfall(report: GarbageCollectionReport, root: string): string {
  const over = `cannot bring ${root} under ${formatBytes(report.maxSizeBytes)}: ${formatBytes(report.remainingBytes)} left`;
  if (report.keptInGrace.blobs > 0) {
    return `${over}, blobs stored less than ${graceText(report.graceMs)} ago are kept (grace period); run gc again once no fcos-run is using the cache and they are older`;
  }
  return `${over}, still referenced by ${report.keptRecords} record(s) (a blob could not be removed?)`;
}

/**
 * What cache verify found in the cache's ostree repository, one line each: damaged objects (the
 * corrupt ones removed), each damaged commit removed with the records evicted for it, the refs
 * deleted, and a count; nothing when the cache has no repository.
 */
export function ostreeVerifyLines(verification: OstreeRepositoryVerification): string[] {
  const { fsck } = verification;
  if (!fsck) return [];
  const short = (commits: readonly string[]) => commits.map((commit) => commit.slice(0, 12)).join(', ');
  const lines: string[] = [];
  for (const problem of fsck.problems) {
    const object = `${problem.checksum}.${problem.type}`;
    const where = problem.commits.length > 0 ? ` in commit ${short(problem.commits)}` : '';
    lines.push(
      problem.state === 'corrupt'
        ? `corrupt ostree object removed: ${object}${where} (${problem.detail})`
        : `missing ostree object: ${object}${where}`,
    );
  }
  for (const commit of fsck.damagedCommits) {
    const untraversable = fsck.untraversable[commit];
    const records = verification.evictedRecords.filter((record) => record.commit === commit);
    const evicted =
      records.length > 0
        ? `${records.map((record) => `record ${record.key.slice(0, 12)} (${record.node}) evicted`).join(', ')}: it will be rebuilt`
        : 'no record produced it';
    lines.push(
      `ostree commit ${commit.slice(0, 12)} removed${untraversable ? ` (${untraversable})` : ''}: ${evicted}`,
    );
  }
  for (const ref of verification.removedRefs) lines.push(`ostree ref deleted: ${ref}`);
  const checked = fsck.commits.length;
  lines.push(
    `${checked} ostree commit${checked === 1 ? '' : 's'} checked, ${fsck.damagedCommits.length} damaged`,
  );
  return lines;
}
