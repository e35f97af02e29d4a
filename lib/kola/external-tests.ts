/**
 * External tests found the way kola finds them in a fedora-coreos-config checkout
 * (coreos-assembler's mantle/kola/harness.go, registerTestDir): `tests/kola/` is walked
 * recursively; in each directory every regular file executable by others is a test, `config.ign`
 * (or `config.bu`) is the Ignition config of its tests, `kola.json` their metadata, `data/` their
 * data, and every other subdirectory is walked with its name added to the test names.
 *
 * Names: `ext.config.<dir>.<subdir>` for a directory whose only executable is `test.sh`, else
 * `ext.config.<dir>.<subdir>.<executable>` (kola registers a config checkout at `src/config`, hence
 * `ext.config`). Metadata: the executable's inline `# kola: {JSON}` line or `## kola:` YAML block,
 * else the directory's kola.json, else none.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { FcosError } from '../errors.ts';
import {
  inlineMetadataText,
  type KolaMetadata,
  type MetadataSource,
  parseMetadata,
  unsupportedKeyWarnings,
} from './test-metadata.ts';

export { admits } from './test-metadata.ts';

/** The prefix kola gives the tests of a config checkout (it registers it as `src/config`). */
export const CONFIG_TEST_PREFIX = 'ext.config';

/** kola's special name: a directory's only executable called so gives the directory's name alone. */
const DEFAULT_TEST_NAME = 'test.sh';

/** The name of a directory of data copied to the guest for the tests beside it. */
const DATA_DIRECTORY_NAME = 'data';

/** A test found on disk. */
export interface ExternalTest {
  /** Test name, as kola names it (`ext.config.files.license`). */
  readonly name: string;
  /** The test's directory. */
  readonly directory: string;
  /** The executable, relative to the directory. */
  readonly executable: string;
  /** Its metadata (inline, else the directory's kola.json); `{}` when there is none. */
  readonly metadata: KolaMetadata;
  /** Where the metadata came from. */
  readonly metadataSource: MetadataSource;
  /** The directory's Ignition config (`config.ign`), merged into its VM's. */
  readonly ignitionConfig?: Record<string, unknown>;
  /** The file it was read from (absolute), which its validation points into. */
  readonly ignitionConfigFile?: string;
  /** The directory's Butane config (`config.bu`), which this harness cannot render. */
  readonly butaneConfig?: string;
  /** The directory's `data/` (copied to the guest, at `$KOLA_EXT_DATA`). */
  readonly dataDirectory?: string;
  /** What of its metadata the harness cannot honour. */
  readonly warnings: readonly string[];
}

/** Every test under a tests directory, and warnings about files that look like tests but are not. */
export interface ExternalTestDiscovery {
  /** The tests, in kola's order (directory entries by name, subdirectories walked in place). */
  readonly tests: readonly ExternalTest[];
  /** Warnings not about one test (a non-executable script, a kola.json beside no test). */
  readonly warnings: readonly string[];
}

/** A test directory that cannot be used (invalid kola.json, config.ign or inline metadata, config.fcc). */
export class ExternalTestError extends FcosError {}

/** The tests under `testsDir` (none if it does not exist). */
export async function discoverExternalTests(
  testsDir: string,
  prefix = CONFIG_TEST_PREFIX,
): Promise<ExternalTest[]> {
  return [...(await scanExternalTests(testsDir, prefix)).tests];
}

/** The tests under `testsDir` with the discovery's warnings (none if it does not exist). */
export async function scanExternalTests(
  testsDir: string,
  prefix = CONFIG_TEST_PREFIX,
): Promise<ExternalTestDiscovery> {
  const tests: ExternalTest[] = [];
  const warnings: string[] = [];
  if (existsSync(testsDir)) await scanDirectory(testsDir, testsDir, prefix, tests, warnings);
  return { tests, warnings };
}

/** An error about the directory `directory`, named relative to the tests directory. */
function directoryError(testsDir: string, directory: string, message: string): ExternalTestError {
  const shown = path.relative(testsDir, directory) || '.';
  return new ExternalTestError(`test directory '${shown}': ${message}`, { field: 'testsDir' });
}

/** Reads one directory as kola's registerTestDir does, adding its tests and walking its subdirectories. */
async function scanDirectory(
  testsDir: string,
  directory: string,
  prefix: string,
  tests: ExternalTest[],
  warnings: string[],
): Promise<void> {
  const executables: string[] = [];
  let kolaJson: KolaMetadata | undefined;
  let ignitionConfig: Record<string, unknown> | undefined;
  let butaneConfig: string | undefined;
  let dataDirectory: string | undefined;
  const shown = `test directory '${path.relative(testsDir, directory) || '.'}'`;
  // kola reads the entries sorted by name and follows symbolic links (data/ is often one).
  for (const name of (await readdir(directory)).sort()) {
    const file = path.join(directory, name);
    const entry = await stat(file).catch(() => undefined);
    if (!entry) continue;
    if (entry.isFile() && (entry.mode & 0o001) !== 0) {
      executables.push(name);
    } else if (entry.isFile() && name === 'config.ign') {
      ignitionConfig = await readJsonObject(testsDir, directory, name);
    } else if (entry.isFile() && name === 'config.fcc') {
      throw directoryError(
        testsDir,
        directory,
        'config.fcc is not supported anymore; rename it to config.bu',
      );
    } else if (entry.isFile() && name === 'config.bu') {
      butaneConfig = file;
    } else if (entry.isFile() && name === 'kola.json') {
      const text = await readFile(file, 'utf8');
      try {
        JSON.parse(text);
      } catch (error) {
        throw directoryError(testsDir, directory, `kola.json is not JSON: ${(error as Error).message}`);
      }
      try {
        kolaJson = parseMetadata(text, 'kola.json');
      } catch (error) {
        throw directoryError(testsDir, directory, `kola.json ${(error as Error).message}`);
      }
    } else if (entry.isDirectory() && name === DATA_DIRECTORY_NAME) {
      dataDirectory = file;
    } else if (entry.isDirectory()) {
      await scanDirectory(testsDir, file, `${prefix}.${name}`, tests, warnings);
    } else if (entry.isFile() && (await readFile(file)).subarray(0, 2).toString() === '#!') {
      // kola warns about this too: most likely a test that lost its executable bit.
      warnings.push(
        `${shown}: ${name} starts with #! but is not executable by others (chmod a+x), so it is not a test`,
      );
    }
  }
  if (kolaJson && executables.length === 0) {
    warnings.push(`${shown}: kola.json applies to no test: no executable beside it`);
  }
  for (const executable of executables) {
    const name =
      executables.length > 1 || executable !== DEFAULT_TEST_NAME ? `${prefix}.${executable}` : prefix;
    const inline = await readInlineMetadata(testsDir, directory, executable, name);
    const metadata = inline?.metadata ?? kolaJson ?? {};
    const metadataSource: MetadataSource = inline?.source ?? (kolaJson ? 'kola.json' : 'none');
    tests.push({
      name,
      directory,
      executable,
      metadata,
      metadataSource,
      ...(ignitionConfig ? { ignitionConfig, ignitionConfigFile: path.join(directory, 'config.ign') } : {}),
      ...(butaneConfig ? { butaneConfig } : {}),
      ...(dataDirectory ? { dataDirectory } : {}),
      warnings: unsupportedKeyWarnings(metadata, metadataSource),
    });
  }
}

/** The inline metadata of an executable, if it has some. */
async function readInlineMetadata(
  testsDir: string,
  directory: string,
  executable: string,
  name: string,
): Promise<{ metadata: KolaMetadata; source: MetadataSource } | undefined> {
  try {
    const inline = inlineMetadataText(await readFile(path.join(directory, executable)));
    if (!inline) return undefined;
    return { metadata: parseMetadata(inline.text, inline.format), source: inline.format };
  } catch (error) {
    throw directoryError(
      testsDir,
      directory,
      `${executable} (${name}): metadata: ${(error as Error).message}`,
    );
  }
}

/** A JSON object file of a test directory (its config.ign). */
async function readJsonObject(
  testsDir: string,
  directory: string,
  name: string,
): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(path.join(directory, name), 'utf8'));
  } catch (error) {
    throw directoryError(testsDir, directory, `${name} is not JSON: ${(error as Error).message}`);
  }
}
