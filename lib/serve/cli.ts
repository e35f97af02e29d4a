/**
 * `fcos-serve`: serve a publish destination (files, ostree repo, update graph, FleetLock) until
 * interrupted. Argument parsing, the startup message, signals and exit codes only.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type CliIo, isUsageError, processIo, UsageError } from '../cli/io.ts';
import { DEFAULT_FLEET_LOCK_SLOTS } from './fleet-lock.ts';
import { DEFAULT_HOST, DEFAULT_PORT, type ServeOptions, startServer } from './server.ts';

/** The directory served unless --root says otherwise: where Publish writes by default. */
export const DEFAULT_ROOT = 'fcos.out/publish';

const USAGE = `Usage: fcos-serve [options]

Serves a publish destination over HTTP, as Fedora CoreOS's servers do: its files (stream
metadata, releases, images, the streams' ostree repositories for ostree/rpm-ostree to pull),
the update graph Zincati polls (GET /v1/graph) and FleetLock reboot coordination
(POST /v1/pre-reboot, /v1/steady-state). Runs until Ctrl-C or SIGTERM.

Options:
  --root DIR                 the directory to serve (default: ${DEFAULT_ROOT})
  --host ADDRESS             address to bind (default: ${DEFAULT_HOST}, this machine only;
                             0.0.0.0 or :: to serve other machines)
  --port N                   port to bind, 0 for any free one (default: ${DEFAULT_PORT})
  --fleet-lock-slots N       nodes of one group that may reboot at once (default: ${DEFAULT_FLEET_LOCK_SLOTS})
  --fleet-lock-group NAME=N  slots of group NAME (repeatable); other groups get --fleet-lock-slots
  -h, --help                 this text

FleetLock holders are kept in memory: a restart frees every slot.
Exit codes: 0 stopped by a signal, 1 could not serve, 2 usage.
`;

/** Parses a whole number (0 allowed) of at most `maximum`. */
function wholeNumber(value: string, option: string, maximum = Number.MAX_SAFE_INTEGER): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > maximum) {
    throw new UsageError(
      `${option} takes a whole number${maximum < Number.MAX_SAFE_INTEGER ? ` up to ${maximum}` : ''}, not '${value}'`,
    );
  }
  return parsed;
}

/** Parses the repeated `--fleet-lock-group NAME=N` into slots by group. */
function groupSlots(values: readonly string[]): Record<string, number> {
  const slots: Record<string, number> = {};
  for (const value of values) {
    const match = /^([^=]+)=(.*)$/.exec(value);
    if (!match) throw new UsageError(`--fleet-lock-group takes NAME=SLOTS, not '${value}'`);
    slots[match[1]!] = wholeNumber(match[2]!, `--fleet-lock-group ${match[1]}`);
  }
  return slots;
}

/** The server options `argv` asks for (relative paths resolved against the working directory). */
export function parseServeArguments(argv: readonly string[]): ServeOptions & { readonly help: boolean } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      root: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'fleet-lock-slots': { type: 'string' },
      'fleet-lock-group': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    help: values.help ?? false,
    root: path.resolve(values.root ?? DEFAULT_ROOT),
    host: values.host ?? DEFAULT_HOST,
    port: values.port === undefined ? DEFAULT_PORT : wholeNumber(values.port, '--port', 65_535),
    fleetLock: {
      defaultSlots:
        values['fleet-lock-slots'] === undefined
          ? DEFAULT_FLEET_LOCK_SLOTS
          : wholeNumber(values['fleet-lock-slots'], '--fleet-lock-slots'),
      groupSlots: groupSlots(values['fleet-lock-group'] ?? []),
    },
  };
}

/**
 * Runs fcos-serve with `argv` until `signal` aborts (the bin aborts it on SIGINT/SIGTERM); resolves
 * to the exit code.
 */
export async function main(
  argv: readonly string[],
  io: CliIo = processIo,
  signal: AbortSignal = new AbortController().signal,
): Promise<number> {
  let options: ReturnType<typeof parseServeArguments>;
  try {
    options = parseServeArguments(argv);
  } catch (error) {
    if (!isUsageError(error)) throw error;
    io.stderr(`fcos-serve: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    io.stdout(USAGE);
    return 0;
  }
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({ ...options, log: (line) => io.stderr(`fcos-serve: ${line}\n`) });
  } catch (error) {
    io.stderr(`fcos-serve: error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  const relativeRoot = path.relative(process.cwd(), options.root);
  const shownRoot = relativeRoot.startsWith('..') ? options.root : relativeRoot || '.';
  const slots = options.fleetLock?.defaultSlots ?? DEFAULT_FLEET_LOCK_SLOTS;
  io.stdout(
    [
      `fcos-serve: serving ${shownRoot} at ${server.url}`,
      `  files:        ${server.url}/streams/<stream>.json, ${server.url}/prod/streams/<stream>/repo (ostree)`,
      `  update graph: ${server.url}/v1/graph?basearch=<arch>&stream=<stream>`,
      `  FleetLock:    ${server.url}/v1/pre-reboot, /v1/steady-state (${slots} slot${slots === 1 ? '' : 's'} per group)`,
      '',
    ].join('\n'),
  );
  if (!signal.aborted)
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await server.close();
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'stopped');
  io.stderr(`fcos-serve: stopped (${reason})\n`);
  return 0;
}
