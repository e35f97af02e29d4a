/**
 * Running external tools: argument arrays through execa (never a shell string), output copied to
 * the node's log, and cancellation that kills the tool's whole process group, so that Ctrl-C or a
 * timeout leaves no grandchild (qemu under a wrapper, dnf's scriptlets) running. When fcos-run
 * itself dies (`kill -9`), the kernel kills each tool (its parent-death signal) and the tool
 * reaper (tool-reaper.ts) kills the rest of each tool's process group.
 */
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FcosError } from './errors.ts';
import { registerToolGroup, releaseToolGroup } from './tool-reaper.ts';

/** Options of one tool invocation. */
export interface ExecOptions {
  /**
   * Working directory.
   * @default the process's
   */
  readonly cwd?: string;
  /**
   * Environment variables added to the process's (LC_ALL=C.UTF-8 is always set).
   * @default {}
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * What the tool reads on stdin: a text, or a stream of any size (a file on its way to a
   * compressor).
   * @default nothing (stdin is /dev/null)
   */
  readonly input?: string | Readable;
  /**
   * Exit codes that count as success.
   * @default [0]
   */
  readonly okExitCodes?: readonly number[];
  /**
   * Do not copy stdout to the log (binary or very large output).
   * @default false
   */
  readonly quietStdout?: boolean;
  /**
   * Write the tool's standard output to this file (created or truncated) instead of capturing it:
   * for binary output of any size (`xz -dc`), without a shell redirection. `stdout` is then empty.
   * @default undefined (captured)
   */
  readonly stdoutFile?: string;
}

/** What a finished tool invocation gave. */
export interface ExecResult {
  /** Exit code. */
  readonly exitCode: number;
  /** Standard output. */
  readonly stdout: string;
  /** Standard error. */
  readonly stderr: string;
}

/**
 * The one function every tool wrapper takes to run its tool: a runner passes `context.exec`
 * (logging, cancellation), a test passes {@link runTool}. Runs `file args` (argument array, no
 * shell) and resolves with its output; rejects with a {@link ToolError}.
 */
export type ToolExec = (file: string, args: readonly string[], options?: ExecOptions) => Promise<ExecResult>;

/** A tool failed: exit code, the command, and the tail of its output. */
export class ToolError extends FcosError {
  /** Exit code, or undefined if it was killed. */
  readonly exitCode: number | undefined;
  /** The last lines of stderr (or stdout). */
  readonly outputTail: string;

  constructor(command: string, exitCode: number | undefined, outputTail: string, reason: string) {
    super(`${command} ${reason}${outputTail ? `:\n${outputTail}` : ''}`);
    this.exitCode = exitCode;
    this.outputTail = outputTail;
  }
}

/** The tool was stopped because the node was cancelled or timed out. */
export class CancelledError extends FcosError {}

/** Where `tool` is on PATH, or undefined when it is not installed. */
export function findOnPath(tool: string): string | undefined {
  for (const directory of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(directory, tool);
    if (directory && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Grace period between SIGTERM and SIGKILL of a cancelled process group. */
const KILL_GRACE_MS = 2000;

/** util-linux's setpriv, if installed (it is part of every Debian and Fedora base system). */
let setpriv: string | undefined | null = null;

/**
 * The program and arguments that run `file args` so that the kernel kills the tool when fcos-run
 * dies, even by `kill -9` (a tool runs in its own process group, out of reach of the signal that
 * killed its parent): `setpriv --pdeathsig KILL` sets the tool's parent-death signal, then execs
 * it, so the tool keeps its pid and its process group.
 */
function killedWithParent(file: string, args: readonly string[]): [string, string[]] {
  if (setpriv === null) setpriv = findOnPath('setpriv');
  return setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', file, ...args]] : [file, [...args]];
}

/** Runs `file args` with cancellation by `signal`; output lines go to `log`. */
export async function runTool(
  file: string,
  args: readonly string[],
  options: ExecOptions & { readonly signal?: AbortSignal; readonly log?: (line: string) => void } = {},
): Promise<ExecResult> {
  const command = displayCommand(file, args);
  options.signal?.throwIfAborted();
  options.log?.(`$ ${command}`);
  const started = performance.now();
  // Loaded on first use: a run served from the cache never starts a tool, and execa is many modules.
  const { execa } = await import('execa');
  const [program, programArguments] = killedWithParent(file, args);
  // The child gets the file's own descriptor. execa's `{ file }` target would pipe every byte
  // through this process, buffer it in the result and copy it to the log: a compressed disk image.
  const stdoutFile = options.stdoutFile === undefined ? undefined : await open(options.stdoutFile, 'w');
  const subprocess = execa(program, programArguments, {
    cwd: options.cwd,
    env: { LC_ALL: 'C.UTF-8', ...options.env },
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    // A stream with a descriptor is given to the child as it is (no pipe, no buffering).
    ...(stdoutFile === undefined ? {} : { stdout: stdoutFile.createWriteStream({ autoClose: false }) }),
    detached: true,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 256 * 1024 * 1024,
  });
  const pid = subprocess.pid;
  // Registered at once, before the tool has had time to fork: its children die with fcos-run too.
  if (pid !== undefined) registerToolGroup(pid);
  const killGroup = () => {
    if (pid === undefined) return;
    signalGroup(pid, 'SIGTERM');
    setTimeout(() => signalGroup(pid, 'SIGKILL'), KILL_GRACE_MS).unref();
  };
  options.signal?.addEventListener('abort', killGroup, { once: true });
  if (options.log) {
    const log = options.log;
    if (!options.quietStdout) forwardLines(subprocess.stdout, log);
    forwardLines(subprocess.stderr, log);
  }
  try {
    const result = await subprocess;
    // `$? STATUS in SECONDS s`: how the command just logged ended, and how long it took.
    options.log?.(
      `$? ${result.exitCode ?? result.signal} in ${((performance.now() - started) / 1000).toFixed(3)} s`,
    );
    if (options.signal?.aborted)
      throw new CancelledError(`${command} was stopped: ${abortReason(options.signal)}`);
    const exitCode = result.exitCode;
    if (exitCode === undefined || !(options.okExitCodes ?? [0]).includes(exitCode)) {
      const tail = lastLines(String(result.stderr || (result.stdout ?? '')), 15);
      const reason =
        exitCode === undefined
          ? `was killed by ${result.signal ?? 'a signal'}`
          : `exited with code ${exitCode}`;
      throw new ToolError(command, exitCode, tail, reason);
    }
    return { exitCode, stdout: String(result.stdout ?? ''), stderr: String(result.stderr) };
  } finally {
    await stdoutFile?.close();
    options.signal?.removeEventListener('abort', killGroup);
    // A tool may leave background children in its group; they must not outlive it.
    if (pid !== undefined) {
      signalGroup(pid, 'SIGKILL');
      releaseToolGroup(pid);
    }
  }
}

/** The command as a person reads it in a message: arguments quoted, long ones shortened. */
export function displayCommand(file: string, args: readonly string[]): string {
  const show = (word: string) => {
    const flat = word.replace(/\s*\n\s*/g, ' ');
    const short = flat.length > 80 ? `${flat.slice(0, 77)}...` : flat;
    return /^[\w@%+=:,./-]+$/.test(short) ? short : `'${short.replace(/'/g, "'\\''")}'`;
  };
  return [file, ...args].map(show).join(' ');
}

/** Sends `signal` to the process group `pid`, ignoring a group that is already gone. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group has exited.
  }
}

/** Why `signal` was aborted, as text. */
export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason ?? 'cancelled');
}

/** Calls `log` for every line of `stream`. */
function forwardLines(stream: NodeJS.ReadableStream | null, log: (line: string) => void): void {
  if (!stream) return;
  let pending = '';
  stream.on('data', (chunk: Buffer | string) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) log(line);
  });
  stream.on('end', () => {
    if (pending) log(pending);
  });
}

/** The last `count` non-empty lines of `text`. */
export function lastLines(text: string, count: number): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-count)
    .join('\n');
}
