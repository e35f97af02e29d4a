// Compiles lib/, stages/ and targets/ into dist/ (JavaScript and declarations, tsconfig.build.json,
// incremental), then gives the declarations the `.js` specifiers their JavaScript has (tsc rewrites
// `.ts` imports only in JavaScript; a `.ts` specifier in a .d.ts confuses other tools), then
// stamps dist/ as current so the bins can tell a checkout whose dist/ is older than its sources.
// `npm run build` (`-- --force` to run tsc even when the stamp says dist/ is current); run by
// `prepare`, scripts/setup.sh and `npm test`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildStaleness } from '../bin/build-check.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

// Even an incremental tsc takes half a minute to find nothing to do (it builds the whole program),
// and setup, prepare and npm test call this one after another: when the last build had no errors
// and no source, build setting or installed package changed since, dist/ is current.
const stamp = path.join(dist, '.build-stamp');
const inputs = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'node_modules/.package-lock.json'];
const clean = existsSync(stamp) && readFileSync(stamp, 'utf8').startsWith('tsc exit 0');
if (!process.argv.includes('--force') && clean && buildStaleness(inputs) === undefined) process.exit(0);

// Exit status 2 means type errors with every file emitted: dist/ then matches the sources and is
// stamped (a work-in-progress type error elsewhere must not stop the bins), but the build fails.
const { status, error } = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
if (error) throw error;
if (status !== 0 && status !== 2) process.exit(status ?? 1);

// tsc never deletes what it emitted for a source that is gone since: remove those outputs, so a
// stale module can neither be loaded by spec nor shipped by npm pack.
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  const file = path.join(entry.parentPath ?? entry.path, entry.name);
  const source = /^(.*)\.(?:js|d\.ts)$/.exec(path.relative(dist, file))?.[1];
  if (source !== undefined && !existsSync(path.join(root, `${source}.ts`))) rmSync(file);
}

/** A relative specifier ending in .ts/.mts/.cts after `from`, `import(` or a bare `import`. */
const RELATIVE_TYPESCRIPT_SPECIFIER =
  /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]*?)\.([mc]?)ts\2/g;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !/\.d\.[mc]?ts$/.test(entry.name)) continue;
  const file = path.join(entry.parentPath ?? entry.path, entry.name);
  const text = readFileSync(file, 'utf8');
  const rewritten = text.replace(RELATIVE_TYPESCRIPT_SPECIFIER, '$1$2$3.$4js$2');
  if (rewritten !== text) writeFileSync(file, rewritten);
}

// The stamp's time is what the bins compare the sources with; its text says whether tsc was clean.
writeFileSync(stamp, `tsc exit ${status}, ${new Date().toISOString()}\n`);
process.exit(status);
