/**
 * `fcos-run`: execute fcos.out/pipeline.json with the cache, and `fcos-run cache ls|verify|gc`.
 * Argument parsing, signals, messages and exit codes only.
 */
import { hostname } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openRemoteCache, remoteCacheMode, remoteCacheSetting } from '../cache/remote/open-remote-cache.ts';
import { RemoteCacheUrlError } from '../cache/remote/remote-cache.ts';
import type { ResourceClass } from '../kind.ts';
import type { RunEvent, RunObserver } from '../run/events.ts';
import { exitCodeOf, type RunOptions, type RunResult, runPipeline } from '../run/executor.ts';
import { updateLockfiles } from '../run/lockfile-hooks.ts';
import { UnmatchedPatternError } from '../run/node-selection.ts';
import { formatBytes, formatDuration, PlainReporter, TerminalReporter } from '../run/reporter.ts';
import { cacheDirectory, runCacheCommand } from './cache.ts';
import { type CliIo, isUsageError, processIo, UsageError } from './io.ts';

const USAGE = `Usage: fcos-run [options]
       fcos-run cache ls|verify|gc [--max-size SIZE] [--cache DIR]

Runs the synthesized pipeline (fcos.out/pipeline.json); unchanged nodes come from the cache.

Options:
  --out DIR             synthesis output directory (default: fcos.out)
  --cache DIR           cache directory (default: $FCOS_CACHE_DIR, else ./cache)
  --work-dir DIR        where nodes' work directories are made, e.g. a scratch disk or a
                        tmpfs (default: $FCOS_WORK_DIR, else <cache>/work); on another
                        filesystem outputs are copied into the cache instead of moved
  --only GLOB           run only matching nodes and what they need (repeatable; * within a
                        path segment, ** across segments)
  --force GLOB          ignore the cache for matching nodes (repeatable)
  --remote-cache URL    a cache shared with other machines: s3://bucket/prefix, or
                        http(s)://host/prefix (Bazel's HTTP cache protocol; bazel-remote,
                        nginx WebDAV); default $FCOS_REMOTE_CACHE. HTTP token:
                        $FCOS_REMOTE_CACHE_TOKEN; S3: the AWS SDK's environment
  --remote-cache-mode MODE
                        read, write or readwrite (default: $FCOS_REMOTE_CACHE_MODE, else
                        readwrite); pull requests should read only
  --remote-cache-required
                        fail when the remote cache cannot be reached (default: warn and
                        use the local cache only)
  --no-artifacts        do not place outputs under <out>/artifacts/ (outputs.json keeps the
                        digests); a remote cache's hits are then not downloaded unless a
                        node that runs needs them (a CI job that only makes sure they exist)
  --dry-run             print the plan: per node cached or not, and why not
  --keep-going          after a failure, run everything that does not depend on it
  --retries N           extra attempts for nodes whose kind allows retries (default 0)
  --timeout SECONDS     time limit of one attempt of any node, at least 1 (default: per kind)
  -j, --jobs N          nodes running at once, whatever their class (at least 1)
  --cpu N, --io N, --net N
                        slots of each resource class (default: cores, cores, 4)
  --vm-memory MIB       memory budget of VM nodes (default: available memory - 2 GiB)
  --update-lockfiles    after a successful run, let every node whose kind keeps lockfiles
                        write them into the project (a compose: manifest-lock.<arch>.json
                        next to its treefile)
  --plain               one line per event even on a terminal
  -q, --quiet           only failures and the summary
  --debug               print stack traces
  -h, --help            this text

Exit codes: 0 ok, 1 a node failed, 2 usage, 130 interrupted.
`;

/** Parses a whole-number option (0 allowed). */
function wholeNumber(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0)
    throw new UsageError(`${option} takes a whole number, not '${value}'`);
  return parsed;
}

/** Parses an option that must be a whole number of at least 1 (0 would mean no job, no time). */
function positiveInteger(value: string | undefined, option: string): number | undefined {
  const parsed = wholeNumber(value, option);
  if (parsed === 0) throw new UsageError(`${option} takes a whole number of at least 1, not '${value}'`);
  return parsed;
}

/**
 * The work directory root: `--work-dir`, else $FCOS_WORK_DIR (empty counts as unset), else
 * undefined (the cache's own). An empty option or `0` is refused rather than read as a path.
 */
function workDirectory(option: string | undefined): string | undefined {
  const [value, source] =
    option !== undefined ? [option, '--work-dir'] : [process.env.FCOS_WORK_DIR || undefined, 'FCOS_WORK_DIR'];
  if (value === undefined) return undefined;
  if (value.trim() === '' || value === '0')
    throw new UsageError(`${source} takes a directory, not '${value}'`);
  return path.resolve(value);
}

/** Runs fcos-run with `argv`; resolves to the exit code. */
export async function main(
  argv: readonly string[],
  io: CliIo = processIo,
  signal?: AbortSignal,
): Promise<number> {
  let debug = argv.includes('--debug');
  try {
    if (argv[0] === 'cache') return await runCacheCommand(argv.slice(1), io);
    const { values } = parseArgs({
      args: [...argv],
      options: {
        out: { type: 'string' },
        cache: { type: 'string' },
        'work-dir': { type: 'string' },
        only: { type: 'string', multiple: true },
        force: { type: 'string', multiple: true },
        'remote-cache': { type: 'string' },
        'remote-cache-mode': { type: 'string' },
        'remote-cache-required': { type: 'boolean' },
        'no-artifacts': { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        'keep-going': { type: 'boolean' },
        retries: { type: 'string' },
        timeout: { type: 'string' },
        jobs: { type: 'string', short: 'j' },
        cpu: { type: 'string' },
        io: { type: 'string' },
        net: { type: 'string' },
        'vm-memory': { type: 'string' },
        plain: { type: 'boolean' },
        'update-lockfiles': { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        debug: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    debug = values.debug ?? false;
    if (values.help) {
      io.stdout(USAGE);
      return 0;
    }
    const capacities: Partial<Record<ResourceClass, number>> = {};
    for (const [resourceClass, option] of [
      ['cpu', 'cpu'],
      ['io', 'io'],
      ['net', 'net'],
      ['vm', 'vm-memory'],
    ] as const) {
      const value = wholeNumber(values[option], `--${option}`);
      if (value !== undefined) capacities[resourceClass] = Math.max(value, 1);
    }
    const jobs = positiveInteger(values.jobs, '--jobs');
    const timeout = positiveInteger(values.timeout, '--timeout');
    const interactive = io === processIo && process.stdout.isTTY === true && !values.plain && !values.quiet;
    const reporter: RunObserver = interactive
      ? new TerminalReporter(process.stdout)
      : new PlainReporter(io.stdout, { showCached: !values.quiet });
    const quietReporter: RunObserver = {
      onEvent: (event) => {
        if (event.event === 'fail' && !event.willRetry) io.stderr(`FAILED ${event.node}: ${event.error}\n`);
      },
    };
    const remoteCache = await remoteCacheOption(values);
    const transfers = new TransferTotals();
    const outdir = path.resolve(values.out ?? 'fcos.out');
    const cacheDir = cacheDirectory(values.cache);
    const workDir = workDirectory(values['work-dir']);
    const result = await runPipeline({
      outdir,
      cacheDir,
      ...(workDir !== undefined ? { workDir } : {}),
      ...(values.only ? { only: values.only } : {}),
      ...(values.force ? { force: values.force } : {}),
      dryRun: values['dry-run'] ?? false,
      keepGoing: values['keep-going'] ?? false,
      retries: wholeNumber(values.retries, '--retries') ?? 0,
      ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}),
      ...(jobs !== undefined ? { jobs } : {}),
      capacities,
      ...(signal ? { signal } : {}),
      observers: [values.quiet ? quietReporter : reporter, transfers],
      ...(remoteCache ? { remoteCache } : {}),
      ...(values['no-artifacts'] ? { artifacts: false } : {}),
      onWaitForOutdir: (owner) =>
        io.stderr(
          `fcos-run: waiting for the other fcos-run in ${path.relative(process.cwd(), outdir) || '.'} to finish (pid ${owner.pid}${owner.hostname === hostname() ? '' : ` on ${owner.hostname}`})\n`,
        ),
    });
    io.stdout(summarize(result, outdir, values['dry-run'] ?? false));
    if (remoteCache) io.stdout(transfers.summary(remoteCache.cache.description));
    if (values['update-lockfiles'] && result.status === 'ok' && !values['dry-run']) {
      for (const lockfile of await updateLockfiles(result, { outdir, cacheDir })) {
        io.stdout(
          `  lockfile: ${path.relative(process.cwd(), lockfile.file)} (${lockfile.packages} packages, ${lockfile.node})\n`,
        );
      }
    }
    return exitCodeOf(result.status);
  } catch (error) {
    if (isUsageError(error)) {
      io.stderr(`fcos-run: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    // Interrupted before the run began (waiting for another run's lock): not an error of ours.
    io.stderr(signal?.aborted ? `fcos-run: interrupted (${message})\n` : `fcos-run: error: ${message}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
    if (error instanceof UnmatchedPatternError) return 2;
    // Whatever stopped the run once it was interrupted (a wait for a lock cut short), the caller
    // asked for the interrupt: that is what the exit code reports.
    return signal?.aborted ? exitCodeOf('interrupted') : 1;
  }
}

/** The remote cache asked for by the options or the environment, opened; undefined for none. */
async function remoteCacheOption(values: {
  'remote-cache'?: string | undefined;
  'remote-cache-mode'?: string | undefined;
  'remote-cache-required'?: boolean | undefined;
}): Promise<RunOptions['remoteCache']> {
  const setting = remoteCacheSetting(values['remote-cache']);
  if (!setting) {
    if (values['remote-cache-mode'] !== undefined || values['remote-cache-required'])
      throw new UsageError(
        '--remote-cache-mode and --remote-cache-required need a remote cache (--remote-cache or $FCOS_REMOTE_CACHE)',
      );
    return undefined;
  }
  try {
    const mode = remoteCacheMode(values['remote-cache-mode']);
    return {
      cache: await openRemoteCache(setting),
      mode,
      required: values['remote-cache-required'] ?? false,
    };
  } catch (error) {
    if (error instanceof RemoteCacheUrlError) throw new UsageError(error.message);
    throw error;
  }
}

/** Totals of what moved to and from the remote cache, for the summary. */
class TransferTotals implements RunObserver {
  private readonly totals = {
    download: { nodes: 0, bytes: 0 },
    upload: { nodes: 0, bytes: 0 },
  };
  private readonly warnings: string[] = [];

  /** Counts remote transfers and warnings. */
  onEvent(event: RunEvent): void {
    if (event.event === 'remote') {
      this.totals[event.direction].nodes += 1;
      this.totals[event.direction].bytes += event.bytes;
    }
    if (event.event === 'warning' && event.source === 'remote-cache')
      this.warnings.push(`${event.node ? `${event.node}: ` : ''}${event.message}`);
  }

  /** One line: what was downloaded and uploaded. */
  summary(description: string): string {
    const { download, upload } = this.totals;
    return `  remote cache ${description}: downloaded ${download.nodes} node${download.nodes === 1 ? '' : 's'}' outputs (${formatBytes(download.bytes)}), uploaded ${upload.nodes} (${formatBytes(upload.bytes)})\n${this.warnings.map((warning) => `  remote cache warning: ${warning}\n`).join('')}`;
  }
}

/** The closing summary: counts, wall time, critical path, where the outputs are. */
function summarize(result: RunResult, outdir: string, dryRun: boolean): string {
  const counts = { built: 0, cached: 0, failed: 0, skipped: 0, 'would-run': 0 };
  for (const outcome of result.outcomes.values()) counts[outcome.status]++;
  const shown = path.relative(process.cwd(), outdir) || '.';
  if (dryRun) {
    return `fcos-run --dry-run: ${counts['would-run']} to run, ${counts.cached} cached, ${counts.skipped} skipped\n`;
  }
  const lines = [
    `fcos-run: ${result.status} in ${formatDuration(result.wallMs)}: ${counts.built} built, ${counts.cached} cached, ${counts.failed} failed, ${counts.skipped} skipped`,
  ];
  if (result.criticalPath.nodes.length > 0) {
    lines.push(
      `  critical path ${formatDuration(result.criticalPath.ms)}: ${result.criticalPath.nodes.join(' -> ')}`,
    );
  }
  for (const [node, outcome] of result.outcomes) {
    if (outcome.status === 'failed')
      lines.push(`  failed: ${outcome.message ?? node}   (log: ${shown}/logs/${node}.log)`);
  }
  const deliverables = deliverablePaths(result, shown);
  for (const line of deliverables.slice(0, MAX_LISTED_DELIVERABLES)) lines.push(`  ${line}`);
  if (deliverables.length > MAX_LISTED_DELIVERABLES) {
    lines.push(`  ... and ${deliverables.length - MAX_LISTED_DELIVERABLES} more in ${shown}/outputs.json`);
  }
  lines.push(
    `  outputs: ${shown}/outputs.json, ${shown}/artifacts/; logs: ${shown}/logs/; events: ${shown}/events.jsonl`,
  );
  return `${lines.join('\n')}\n`;
}

/** Deliverables listed in the summary before it points to outputs.json. */
const MAX_LISTED_DELIVERABLES = 20;

/** What a person came for, by artifact type: where the summary says they are. */
const DELIVERABLE_TYPES: Readonly<Record<string, string>> = {
  'platform-image': 'image',
  'live-image': 'live',
  'test-report': 'tests',
  'cloud-image': 'cloud',
  publication: 'published',
  release: 'release',
};

/** `image: fcos.out/artifacts/.../x.qcow2` lines for the run's images, live images, reports and cloud images. */
function deliverablePaths(result: RunResult, shown: string): string[] {
  const lines: string[] = [];
  for (const [node, outcome] of [...result.outcomes].sort(([a], [b]) => a.localeCompare(b))) {
    for (const [name, output] of Object.entries(outcome.outputs ?? {})) {
      const label = DELIVERABLE_TYPES[output.type];
      if (!label) continue;
      if (output.type === 'publication') {
        const { stream, version, destination } = output.metadata;
        lines.push(`${label}: ${String(stream)} ${String(version)} in ${String(destination)}`);
        continue;
      }
      const where = path.posix.join(
        shown,
        'artifacts',
        node,
        output.storage === 'tree' ? name : (output.fileName ?? name),
      );
      // A report kept despite a failure (the Release gate reads it) says so.
      const failed = Number(output.metadata.failed ?? 0);
      const detail =
        output.type === 'test-report'
          ? ` (${output.metadata.passed ?? 0} passed, ${failed > 0 ? `${failed} failed, ` : ''}${output.metadata.skipped ?? 0} skipped, ${output.metadata.flaky ?? 0} flaky)`
          : '';
      lines.push(`${label}: ${where}${detail}`);
    }
  }
  return lines;
}
