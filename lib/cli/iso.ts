/**
 * `fcos-iso`: coreos-installer's `iso ignition embed|show|remove` for the live ISOs fcos-cdk
 * builds. Argument parsing, reading the config, output and exit codes only; the work is lib/iso/.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { FcosError } from '../errors.ts';
import { embedIgnitionConfig, removeIgnitionConfig, showIgnitionConfig } from '../iso/index.ts';
import { type CliIo, isUsageError, processIo, UsageError } from './io.ts';

const USAGE = `Usage: fcos-iso ignition embed -i CONFIG [-f] [-o OUT] ISO
       fcos-iso ignition show ISO
       fcos-iso ignition remove [-o OUT] ISO

Puts an Ignition config into a live ISO without rebuilding it, as coreos-installer's
\`iso ignition\` commands do: the config goes, as an xz-compressed cpio archive, into the ISO's
embed area (the file /coreos/igninfo.json names), which the live system's bootloader loads as
its last initrd and hands to Ignition on first boot. Nothing else of the ISO changes.

Commands:
  ignition embed     embed CONFIG (refused if the ISO already has one, unless -f)
  ignition show      print the embedded config
  ignition remove    clear the embed area (gives the pristine ISO back)

Options:
  -i, --ignition-file CONFIG  the Ignition config to embed, - for stdin
  -f, --force                 replace a config the ISO already has
  -o, --output OUT            write the changed ISO to OUT and leave ISO as it is
  -h, --help                  this text

Exit codes: 0 done, 1 refused (the ISO and OUT are left as they were), 2 usage.
`;

/** What a CLI run reads and writes, injectable for tests. */
export interface IsoCliIo extends CliIo {
  /** Writes bytes to standard output as they are (an embedded config, which need not be UTF-8). */
  readonly stdoutBytes: (bytes: Uint8Array) => void;
  /** Reads all of standard input (`-i -`). */
  readonly readStdin: () => Promise<Buffer>;
}

/** The process's own streams. */
export const processIsoIo: IsoCliIo = {
  ...processIo,
  stdoutBytes: (bytes) => process.stdout.write(bytes),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks);
  },
};

/** One command line, parsed. */
export type IsoCommand =
  | { readonly command: 'help' }
  | {
      readonly command: 'embed';
      readonly iso: string;
      readonly config: string;
      readonly force: boolean;
      readonly output?: string;
    }
  | { readonly command: 'show'; readonly iso: string }
  | { readonly command: 'remove'; readonly iso: string; readonly output?: string };

/** Parses `argv` (after the program name) into a command; throws UsageError on a mistake. */
export function parseIsoArguments(argv: readonly string[]): IsoCommand {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      'ignition-file': { type: 'string', short: 'i' },
      force: { type: 'boolean', short: 'f' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) return { command: 'help' };
  const [group, command, iso, ...extra] = positionals;
  if (group !== 'ignition')
    throw new UsageError(group === undefined ? 'no command given' : `unknown command '${group}'`);
  if (command !== 'embed' && command !== 'show' && command !== 'remove')
    throw new UsageError(
      command === undefined
        ? 'ignition needs embed, show or remove'
        : `unknown command 'ignition ${command}'`,
    );
  if (iso === undefined) throw new UsageError(`ignition ${command} needs the ISO`);
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  /** Refuses an option `command` does not take. */
  const refuse = (option: string, given: unknown) => {
    if (given !== undefined) throw new UsageError(`ignition ${command} does not take ${option}`);
  };
  if (command === 'show') {
    refuse('-i/--ignition-file', values['ignition-file']);
    refuse('-f/--force', values.force);
    refuse('-o/--output', values.output);
    return { command, iso };
  }
  if (command === 'remove') {
    refuse('-i/--ignition-file', values['ignition-file']);
    refuse('-f/--force', values.force);
    return { command, iso, ...(values.output === undefined ? {} : { output: values.output }) };
  }
  const config = values['ignition-file'];
  if (config === undefined) throw new UsageError('ignition embed needs -i CONFIG (- for stdin)');
  return {
    command,
    iso,
    config,
    force: values.force ?? false,
    ...(values.output === undefined ? {} : { output: values.output }),
  };
}

/** Runs one parsed command; what it prints goes to `io`. */
async function runCommand(command: Exclude<IsoCommand, { command: 'help' }>, io: IsoCliIo): Promise<void> {
  if (command.command === 'show') {
    io.stdoutBytes(await showIgnitionConfig(command.iso));
    return;
  }
  if (command.command === 'remove') {
    const result = await removeIgnitionConfig(command.iso, { output: command.output });
    io.stderr(
      result.removed
        ? `fcos-iso: removed the embedded Ignition config: ${result.written}\n`
        : `fcos-iso: no embedded Ignition config to remove: ${result.written}\n`,
    );
    return;
  }
  const fromStdin = command.config === '-';
  const config = fromStdin ? await io.readStdin() : await readFile(command.config);
  const result = await embedIgnitionConfig(command.iso, config, {
    force: command.force,
    output: command.output,
    configName: fromStdin ? 'stdin' : command.config,
  });
  io.stderr(
    `fcos-iso: ${result.replaced ? 'replaced the' : 'embedded the'} Ignition config (${config.length} bytes, ` +
      `${result.payloadBytes} compressed, of the ${result.area.length}-byte embed area): ${result.written}\n`,
  );
}

/** The one-line message of a failure: a file the system could not open is named by its path. */
function failureMessage(error: unknown): string {
  if (error instanceof FcosError) return error.message;
  const systemError = error as NodeJS.ErrnoException;
  if (systemError?.code === 'ENOENT' && systemError.path) return `${systemError.path}: no such file`;
  return error instanceof Error ? error.message : String(error);
}

/** Runs fcos-iso with `argv`; resolves to the exit code. */
export async function main(argv: readonly string[], io: IsoCliIo = processIsoIo): Promise<number> {
  let command: IsoCommand;
  try {
    command = parseIsoArguments(argv);
  } catch (error) {
    if (!isUsageError(error)) throw error;
    io.stderr(`fcos-iso: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (command.command === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  try {
    await runCommand(command, io);
    return 0;
  } catch (error) {
    io.stderr(`fcos-iso: error: ${failureMessage(error)}\n`);
    return 1;
  }
}
