/**
 * The synthesis session: what `fcos-synth` knows before it runs the user's program (context from
 * `-c`, the project directory) and the pipelines the program created. Kept on `globalThis` under
 * a registered symbol so that a program importing a second copy of this module still reaches it.
 */
import path from 'node:path';

/** State shared between the CLI and the program it runs. */
export interface SynthesisSession {
  /** Context given on the command line; overrides a pipeline's defaults. */
  readonly context: Readonly<Record<string, string>>;
  /** Directory that relative paths in props are relative to (the program's directory). */
  readonly projectDir: string;
  /** Pipelines constructed while the session was open, in creation order. */
  readonly pipelines: object[];
}

const SESSION_KEY = Symbol.for('fcos-cdk.synthesis-session');

type GlobalWithSession = typeof globalThis & { [SESSION_KEY]?: SynthesisSession };

/** Opens a session for one run of a pipeline program and returns it. */
export function openSession(options: {
  context?: Record<string, string>;
  projectDir: string;
}): SynthesisSession {
  const session: SynthesisSession = {
    context: { ...(options.context ?? {}) },
    projectDir: path.resolve(options.projectDir),
    pipelines: [],
  };
  (globalThis as GlobalWithSession)[SESSION_KEY] = session;
  return session;
}

/** Closes the current session, if any. */
export function closeSession(): void {
  delete (globalThis as GlobalWithSession)[SESSION_KEY];
}

/** The open session, or undefined when a program is used as a library (tests, benchmarks). */
export function currentSession(): SynthesisSession | undefined {
  return (globalThis as GlobalWithSession)[SESSION_KEY];
}

/** Project directory of the open session, else the working directory. */
export function currentProjectDir(): string {
  return currentSession()?.projectDir ?? process.cwd();
}

/**
 * Turns a user-given path into the portable form recorded in pipeline.json: relative to the
 * project directory, with forward slashes, so that the same program synthesizes to the same bytes
 * wherever the project is checked out.
 */
export function toProjectPath(userPath: string, projectDir = currentProjectDir()): string {
  const absolute = path.resolve(projectDir, userPath);
  const relative = path.relative(projectDir, absolute);
  return relative === '' ? '.' : relative.split(path.sep).join('/');
}
