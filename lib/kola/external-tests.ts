/**
 * External tests, kola style: `tests/kola/<name>/` holding one executable (the test, run inside
 * the booted OS), optionally a `config.ign` merged into its VM's Ignition config, and a `kola.json`
 * with kola's keys — `architectures`, `platforms`, `tags`,
 * `timeoutMin`, `minMemory`, `exclusive` (others kola knows are accepted and ignored).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { FcosError } from '../errors.ts';

/** A string of space-separated words, or a list of them. */
const words = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => (Array.isArray(value) ? value : value.split(/\s+/).filter((word) => word !== '')));

/** kola.json, the keys fcos-cdk uses checked, kola's other keys passed through. */
export const kolaJsonSchema = z
  .object({
    architectures: words.optional(),
    platforms: words.optional(),
    distros: words.optional(),
    tags: words.optional(),
    timeoutMin: z.number().positive().optional(),
    minMemory: z.number().int().positive().optional(),
    exclusive: z.boolean().optional(),
    description: z.string().optional(),
  })
  .loose();

/** A test found on disk. */
export interface ExternalTest {
  /** Test name: `ext.<directory name>`, as kola names external tests of a config repo. */
  readonly name: string;
  /** The test's directory. */
  readonly directory: string;
  /** The executable, relative to the directory. */
  readonly executable: string;
  /** Parsed kola.json. */
  readonly metadata: z.output<typeof kolaJsonSchema>;
  /** The test's own Ignition config (`config.ign` beside it), merged into its VM's. */
  readonly ignitionConfig?: Record<string, unknown>;
}

/** A test directory that cannot be used (no kola.json, invalid kola.json, no executable). */
export class ExternalTestError extends FcosError {}

/** Reads every test directory under `testsDir` (none if it does not exist), sorted by name. */
export async function discoverExternalTests(testsDir: string): Promise<ExternalTest[]> {
  if (!existsSync(testsDir)) return [];
  const tests: ExternalTest[] = [];
  for (const entry of (await readdir(testsDir, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (!entry.isDirectory()) continue;
    tests.push(await readExternalTest(path.join(testsDir, entry.name)));
  }
  return tests;
}

/** Reads one test directory. */
async function readExternalTest(directory: string): Promise<ExternalTest> {
  const shown = path.basename(directory);
  const kolaJson = path.join(directory, 'kola.json');
  if (!existsSync(kolaJson)) {
    throw new ExternalTestError(`test directory '${shown}' (${directory}) has no kola.json`, {
      field: 'testsDir',
    });
  }
  let document: unknown;
  try {
    document = JSON.parse(await readFile(kolaJson, 'utf8'));
  } catch (error) {
    throw new ExternalTestError(
      `test directory '${shown}': kola.json is not JSON: ${(error as Error).message}`,
      {
        field: 'testsDir',
      },
    );
  }
  const parsed = kolaJsonSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ExternalTestError(
      `test directory '${shown}': kola.json ${issue?.path.join('.')}: ${issue?.message}`,
      {
        field: 'testsDir',
      },
    );
  }
  let ignitionConfig: Record<string, unknown> | undefined;
  const configFile = path.join(directory, 'config.ign');
  if (existsSync(configFile)) {
    try {
      ignitionConfig = JSON.parse(await readFile(configFile, 'utf8'));
    } catch (error) {
      throw new ExternalTestError(
        `test directory '${shown}': config.ign is not JSON: ${(error as Error).message}`,
        {
          field: 'testsDir',
        },
      );
    }
  }
  const executables: string[] = [];
  for (const name of (await readdir(directory)).sort()) {
    const file = await stat(path.join(directory, name));
    if (file.isFile() && name !== 'kola.json' && (file.mode & 0o111) !== 0) executables.push(name);
  }
  if (executables.length !== 1) {
    throw new ExternalTestError(
      `test directory '${shown}' must hold exactly one executable, found ${executables.length ? executables.join(', ') : 'none'}`,
      { field: 'testsDir' },
    );
  }
  return {
    name: `ext.${shown}`,
    directory,
    executable: executables[0]!,
    metadata: parsed.data,
    ...(ignitionConfig ? { ignitionConfig } : {}),
  };
}

/** Whether a kola list (`x86_64 aarch64`, `!s390x`) admits `value`; absent admits everything. */
export function admits(list: readonly string[] | undefined, value: string): boolean {
  if (!list || list.length === 0) return true;
  const denied = list.filter((item) => item.startsWith('!')).map((item) => item.slice(1));
  const allowed = list.filter((item) => !item.startsWith('!'));
  if (denied.includes(value)) return false;
  return allowed.length === 0 || allowed.includes(value);
}
