/**
 * Shared helpers of the cache tests: temporary roots that are removed after each test, and
 * child processes running TypeScript fixtures through tsx. Fixtures must not import this module:
 * it imports vitest, which only loads inside a test worker.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

/** Directory of the fixture scripts run as child processes. */
export const FIXTURES_DIRECTORY = fileURLToPath(new URL('./fixtures/', import.meta.url));
/** Root of the project, the working directory of child processes (so that `tsx` resolves). */
export const PROJECT_DIRECTORY = fileURLToPath(new URL('../../', import.meta.url));

/** A fresh directory under the OS temp directory, removed when the current test finishes. */
export async function temporaryDirectory(prefix = 'fcos-cache-test-'): Promise<string> {
  const directory = await mkdtemp(path.join(tmpdir(), prefix));
  onTestFinished(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

/** Starts `node --import tsx fixtures/<script> ...args`; the child is killed if the test ends first. */
export function spawnFixture(script: string, args: readonly string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(FIXTURES_DIRECTORY, script), ...args], {
    cwd: PROJECT_DIRECTORY,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

/** Resolves with the exit code (or signal) once `child` has exited and been reaped. */
export function waitForExit(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Polls `condition` every 5 ms until it holds; rejects after `timeoutMs`. */
export async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Whether `file` exists. */
export async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Every regular file under `directory`, as paths relative to it, sorted. */
export async function listFiles(directory: string): Promise<string[]> {
  const found: string[] = [];
  const names = await readdir(directory, { recursive: true }).catch(() => []);
  for (const name of names) {
    if ((await stat(path.join(directory, name))).isFile()) found.push(name);
  }
  return found.sort();
}
