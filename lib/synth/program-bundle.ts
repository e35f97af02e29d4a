/**
 * A TypeScript pipeline program compiled once and imported as plain JavaScript afterwards. tsx's
 * ESM hooks run in a worker thread that Node 20 starts, with esbuild inside, on every `fcos-synth`
 * (about half of a no-change synthesis); instead the program and its local modules are bundled by
 * esbuild (the compiler tsx itself uses; packages stay external, so `fcos-cdk` is the project's
 * one copy) into `node_modules/.cache/fcos-synth/`, the cache folder tools share by convention,
 * and reused while every file that went into it has the same content. The program still runs on
 * every synthesis: only its compilation is cached. Each local file keeps its own
 * `import.meta.url`, so a kind's `new URL('./runner.ts', import.meta.url)` names the real file, and
 * an inline source map keeps errors located in the program's own lines.
 */
import { createHash } from 'node:crypto';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BuildFailure, Plugin } from 'esbuild';
import { AppError } from '../errors.ts';

/** The cache folder of compiled programs, under the project's node_modules. */
const CACHE_FOLDER = path.join('.cache', 'fcos-synth');

/** esbuild's version, from its package.json: loading esbuild itself is left to a compilation. */
const ESBUILD_VERSION = (createRequire(import.meta.url)('esbuild/package.json') as { version: string })
  .version;

/** The compiler and this file's settings of it; bump the number when the settings change. */
const COMPILER = `esbuild ${ESBUILD_VERSION}, settings 2`;

/** What the cache records of one program's compilation. */
interface CompiledProgram {
  /** How it was compiled ({@link COMPILER}): another compiler or setting compiles again. */
  readonly compiler: string;
  /** The program file. */
  readonly app: string;
  /** sha256 of every file that went into the bundle or configured it (or {@link ABSENT}), by absolute path. */
  readonly inputs: Readonly<Record<string, string>>;
  /** The bundle's file name in the cache folder. */
  readonly bundle: string;
}

/** The node_modules folder `projectDir`'s imports resolve from, if there is one. */
function modulesFolderOf(projectDir: string): string | undefined {
  for (let directory = projectDir; ; directory = path.dirname(directory)) {
    const candidate = path.join(directory, 'node_modules');
    // Its real path: Node loads the bundle by it, and the source map's relative paths count from there.
    if (statSync(candidate, { throwIfNoEntry: false })?.isDirectory()) return realpathSync(candidate);
    if (path.dirname(directory) === directory) return undefined;
  }
}

/** What the record says of a file that does not exist (a config that may appear later). */
const ABSENT = 'absent';

/** sha256 of a file's bytes, or {@link ABSENT} when it cannot be read. */
async function digestOf(file: string): Promise<string> {
  try {
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  } catch {
    return ABSENT;
  }
}

/**
 * The configuration files esbuild may have read for `sources`: in every directory from theirs up
 * to the root, package.json (the module type), tsconfig.json or jsconfig.json (class fields,
 * decorators, paths) whether they exist or not, and every tsconfig.*.json there (what an
 * `extends` usually names).
 */
async function configurationFiles(sources: readonly string[]): Promise<string[]> {
  const directories = new Set<string>();
  for (const source of sources) {
    for (
      let directory = path.dirname(source);
      !directories.has(directory);
      directory = path.dirname(directory)
    ) {
      directories.add(directory);
      if (path.dirname(directory) === directory) break;
    }
  }
  const files: string[] = [];
  for (const directory of directories) {
    for (const name of ['package.json', 'tsconfig.json', 'jsconfig.json'])
      files.push(path.join(directory, name));
    const entries = await readdir(directory).catch(() => [] as string[]);
    for (const entry of entries) {
      if (/^tsconfig\..+\.json$/.test(entry)) files.push(path.join(directory, entry));
    }
  }
  return files;
}

/** Whether `record`'s bundle exists and every input still has the recorded content. */
async function isCurrent(record: CompiledProgram, folder: string): Promise<boolean> {
  if (!existsSync(path.join(folder, record.bundle))) return false;
  const files = Object.entries(record.inputs);
  const digests = await Promise.all(files.map(([file]) => digestOf(file)));
  return files.every(([, digest], index) => digests[index] === digest);
}

/**
 * The file URL of `appFile` compiled to JavaScript, from the cache when its inputs are unchanged;
 * undefined when the project has no node_modules to keep it in, or it cannot be written there (the
 * caller then uses tsx).
 */
export async function compiledProgram(appFile: string): Promise<string | undefined> {
  const modules = modulesFolderOf(path.dirname(appFile));
  if (modules === undefined) return undefined;
  const folder = path.join(modules, CACHE_FOLDER);
  const name = createHash('sha256').update(appFile).digest('hex').slice(0, 16);
  const recordFile = path.join(folder, `${name}.json`);
  const previous = await readFile(recordFile, 'utf8')
    .then((text) => JSON.parse(text) as CompiledProgram)
    .catch(() => undefined);
  if (previous?.compiler === COMPILER && previous.app === appFile && (await isCurrent(previous, folder))) {
    return pathToFileURL(path.join(folder, previous.bundle)).href;
  }
  try {
    const record = await compile(appFile, folder, name);
    await writeAtomically(recordFile, `${JSON.stringify(record, null, 2)}\n`);
    await prune(folder, name, record.bundle);
    return pathToFileURL(path.join(folder, record.bundle)).href;
  } catch (error) {
    // A program that does not compile is the user's error; a cache folder that cannot be written
    // (read-only node_modules) only costs the speed: tsx compiles the program then.
    if (error instanceof AppError) throw error;
    return undefined;
  }
}

/** Bundles `appFile` with its local modules into `folder`; a syntax error becomes an AppError at its line. */
async function compile(appFile: string, folder: string, name: string): Promise<CompiledProgram> {
  const { build } = await import('esbuild');
  let result: Awaited<ReturnType<typeof build>>;
  try {
    result = await build({
      entryPoints: [appFile],
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: `node${process.versions.node}`,
      sourcemap: 'inline',
      sourcesContent: false,
      write: false,
      metafile: true,
      logLevel: 'silent',
      outfile: path.join(folder, `${name}.mjs`),
      plugins: [keepOwnImportMeta],
    });
  } catch (error) {
    throw compileError(error as BuildFailure, appFile);
  }
  const code = result.outputFiles![0]!.contents;
  const bundle = `${name}-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`;
  await mkdir(folder, { recursive: true });
  await writeAtomically(path.join(folder, bundle), code);
  const sources = Object.keys(result.metafile!.inputs).map((input) => path.resolve(process.cwd(), input));
  const inputs: Record<string, string> = {};
  for (const file of [...sources, ...(await configurationFiles(sources))].sort()) {
    inputs[file] = await digestOf(file);
  }
  return { compiler: COMPILER, app: appFile, inputs, bundle };
}

/** An esbuild plugin: each local module's `import.meta.url`, `.filename` and `.dirname` stay its own. */
const keepOwnImportMeta: Plugin = {
  name: 'keep-own-import-meta',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const contents = source
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll('import.meta.filename', JSON.stringify(args.path))
        .replaceAll('import.meta.dirname', JSON.stringify(path.dirname(args.path)));
      const extension = path.extname(args.path).replace(/^\.[cm]/, '.');
      return { contents, loader: extension === '.tsx' ? 'tsx' : extension === '.ts' ? 'ts' : 'js' };
    });
  },
};

/** esbuild's first error, located in the program's own terms. */
function compileError(failure: BuildFailure, appFile: string): AppError {
  const first = failure.errors?.[0];
  if (!first) return new AppError(`'${appFile}' could not be compiled: ${String(failure)}`, { field: 'app' });
  const where = first.location
    ? `'${path.relative(process.cwd(), path.resolve(first.location.file)) || first.location.file}' line ${first.location.line}:${first.location.column + 1}`
    : `'${path.relative(process.cwd(), appFile)}'`;
  return new AppError(`${where} threw: ${first.text}`, { field: 'app' });
}

/** Writes `file` through a temporary sibling and a rename, so a reader never sees half of it. */
async function writeAtomically(file: string, contents: string | Uint8Array): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, contents);
  await rename(temporary, file);
}

/** A replaced bundle is removed after this long: a synthesis started meanwhile may still import it. */
const REPLACED_BUNDLE_GRACE_MS = 10 * 60 * 1000;

/**
 * Removes what the cache no longer needs: earlier bundles of program `name` (once old enough), and
 * the compiled programs whose program file is gone (temporary projects, renamed programs).
 */
async function prune(folder: string, name: string, current: string): Promise<void> {
  const entries = await readdir(folder);
  const gone = new Set<string>();
  for (const entry of entries) {
    if (!entry.endsWith('.json')) continue;
    const record = await readFile(path.join(folder, entry), 'utf8')
      .then((text) => JSON.parse(text) as CompiledProgram)
      .catch(() => undefined);
    if (!record || !existsSync(record.app)) gone.add(entry.slice(0, -'.json'.length));
  }
  const now = Date.now();
  for (const entry of entries) {
    const owner = entry.slice(0, 16);
    const replaced =
      owner === name &&
      entry !== current &&
      entry.endsWith('.mjs') &&
      now - (statSync(path.join(folder, entry), { throwIfNoEntry: false })?.mtimeMs ?? now) >
        REPLACED_BUNDLE_GRACE_MS;
    if (gone.has(owner) || replaced) await rm(path.join(folder, entry), { force: true });
  }
}
