/**
 * A project directory that uses this checkout as its `fcos-cdk` dependency, the way a consumer's
 * project uses the installed package: shared by the tests' and benchmarks' temporary projects.
 * Free of vitest, so the benchmarks can use it too.
 */
import { existsSync } from 'node:fs';
import { symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Makes `directory` a project whose `import ... from 'fcos-cdk'` is this checkout: an ESM
 * package.json, and node_modules linked to the repository's own, where scripts/link-bins.js links
 * `fcos-cdk` to the checkout. So a program there gets one copy of the library whoever loads it:
 * the sources under vitest (the `fcos-cdk-source` condition), dist/ in a spawned bin, which also
 * resolves fcos-cdk through that node_modules.
 */
export async function linkFcosCdk(directory: string): Promise<void> {
  const modules = path.join(REPO_ROOT, 'node_modules');
  if (!existsSync(path.join(modules, 'fcos-cdk', 'package.json'))) {
    throw new Error(`${modules}/fcos-cdk is missing: run node scripts/link-bins.js (npm install runs it)`);
  }
  await writeFile(
    path.join(directory, 'package.json'),
    `${JSON.stringify({ name: 'fcos-cdk-project', private: true, type: 'module' }, null, 2)}\n`,
  );
  await symlink(modules, path.join(directory, 'node_modules'));
}
