/**
 * Running a pipeline program: import it inside a synthesis session and collect the Pipeline it
 * built. Whatever goes wrong is turned into a typed error that names the program and the line.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { AppError, DuplicateIdError, FcosError } from '../errors.ts';
import { Pipeline } from '../pipeline.ts';
import { RUNS_COMPILED } from '../util/package-root.ts';
import { prepareImportOf, TYPESCRIPT_FILE } from '../util/typescript-loader.ts';
import { compiledProgram } from './program-bundle.ts';
import { closeSession, openSession } from './session.ts';

/** Options of {@link loadPipeline}. */
export interface LoadPipelineOptions {
  /** The program file (absolute, or relative to the working directory). */
  readonly app: string;
  /**
   * Context values from the command line.
   * @default {}
   */
  readonly context?: Readonly<Record<string, string>>;
}

/** Imports the program `options.app` and returns the one Pipeline it created. */
export async function loadPipeline(options: LoadPipelineOptions): Promise<Pipeline> {
  const appFile = path.resolve(options.app);
  const shown = path.relative(process.cwd(), appFile) || appFile;
  if (!existsSync(appFile)) {
    throw new AppError(
      `pipeline program '${shown}' does not exist: run in a project directory or pass --app FILE`,
      {
        field: 'app',
      },
    );
  }
  // Compiled and cached when fcos-synth runs compiled and the program is TypeScript; else tsx (or
  // the loader already running: vitest, a JavaScript program) imports the program itself.
  const compiled =
    RUNS_COMPILED && TYPESCRIPT_FILE.test(appFile) ? await compiledProgram(appFile) : undefined;
  if (compiled === undefined) await prepareImportOf(appFile);
  else process.setSourceMapsEnabled(true);
  const session = openSession({ context: { ...(options.context ?? {}) }, projectDir: path.dirname(appFile) });
  try {
    try {
      // A fresh query string makes a second load in one process run the program again.
      await import(`${compiled ?? pathToFileURL(appFile).href}?load=${++loadCount}`);
    } catch (error) {
      throw translateProgramError(error, appFile, shown);
    }
    const pipelines = session.pipelines.filter((candidate): candidate is Pipeline =>
      Pipeline.isPipeline(candidate),
    );
    if (pipelines.length !== 1) {
      throw new AppError(
        pipelines.length === 0
          ? `'${shown}' created no Pipeline: construct one with new Pipeline({ name }) and add stages to it`
          : `'${shown}' created ${pipelines.length} Pipelines; a program synthesizes exactly one`,
        { field: 'app' },
      );
    }
    return pipelines[0]!;
  } finally {
    closeSession();
  }
}

let loadCount = 0;

const DUPLICATE_ID = /^There is already a Construct with name '([^']*)' in \S+(?: \[(.*)\])?$/;

/** Turns what a program threw into a typed, located error. */
function translateProgramError(error: unknown, appFile: string, shown: string): FcosError {
  if (error instanceof FcosError) return error;
  const message = messageOf(error);
  const duplicate = DUPLICATE_ID.exec(message);
  if (duplicate) return new DuplicateIdError(duplicate[2] ?? '', duplicate[1]!);
  const location = locateInStack(error, appFile);
  return new AppError(`'${shown}'${location ? ` line ${location}` : ''} threw: ${message}`, { cause: error });
}

/** The message of whatever was thrown (an Error, a transformer's error object, anything), on one line. */
function messageOf(error: unknown): string {
  const message =
    typeof error === 'object' && error !== null && 'message' in error ? String(error.message) : String(error);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

/** `line:column` of the first stack frame inside the program file, if any. */
function locateInStack(error: unknown, appFile: string): string | undefined {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  const url = pathToFileURL(appFile).href;
  for (const line of stack.split('\n')) {
    for (const name of [url, appFile]) {
      const index = line.indexOf(`${name}:`);
      if (index >= 0) return /^(\d+:\d+)/.exec(line.slice(index + name.length + 1))?.[1];
    }
  }
  return undefined;
}
