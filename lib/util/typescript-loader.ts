/**
 * TypeScript for compiled fcos-cdk: the installed package runs as JavaScript, but a pipeline
 * program, a project's own kinds and this checkout's test and benchmark kinds are TypeScript. tsx's
 * hooks are registered the first time such a file is imported, and never when only JavaScript is,
 * so a run of built-in kinds does not pay for loading a compiler.
 */
import { pathToFileURL } from 'node:url';
import { RUNS_COMPILED } from './package-root.ts';

/** Files tsx compiles: TypeScript, whatever its module flavour. */
export const TYPESCRIPT_FILE = /\.[cm]?tsx?$/;

let registration: Promise<void> | undefined;

/** Makes `file` importable: registers tsx's ESM and CommonJS hooks once if `file` is TypeScript and this copy runs compiled. */
export function prepareImportOf(file: string): Promise<void> {
  // From sources, the loader running fcos-cdk (vitest, tsx) handles TypeScript already.
  if (!RUNS_COMPILED || !TYPESCRIPT_FILE.test(file)) return Promise.resolve();
  registration ??= registerTsx();
  return registration;
}

/** Registers tsx for `import` and for `require`, as `node --import tsx` does. */
async function registerTsx(): Promise<void> {
  const [esm, commonJs] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]);
  esm.register();
  commonJs.register();
}

/** The default export of module `file`, TypeScript or JavaScript (a runner or an uploader module). */
export async function importDefaultExport(file: string): Promise<unknown> {
  await prepareImportOf(file);
  const module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  return module.default;
}
