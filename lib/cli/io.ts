/** What the command-line programs share: output streams and the usage error. */

/** Output streams of a CLI run (injectable for tests). */
export interface CliIo {
  /** Normal output. */
  readonly stdout: (text: string) => void;
  /** Errors. */
  readonly stderr: (text: string) => void;
}

/** The process's own streams. */
export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** A command-line mistake: exit code 2 with the usage text. */
export class UsageError extends Error {}

/** Whether `error` is a command-line mistake (ours or node:util parseArgs'). */
export function isUsageError(error: unknown): boolean {
  return (
    error instanceof UsageError ||
    Boolean((error as { code?: string } | null)?.code?.startsWith('ERR_PARSE_ARGS'))
  );
}
