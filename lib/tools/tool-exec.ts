/**
 * The one function every tool wrapper takes to run its tool: a runner passes `context.exec`
 * (logging, cancellation), a fingerprint or a test passes `runTool` bound to a signal.
 */
import type { ExecOptions, ExecResult } from '../exec.ts';

/** Runs `file args` (argument array, no shell) and resolves with its output; rejects with a ToolError. */
export type ToolExec = (file: string, args: readonly string[], options?: ExecOptions) => Promise<ExecResult>;
