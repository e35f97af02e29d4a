// Refuses to start the bins of a checkout whose dist/ is missing or older than its sources, so an
// edit is never silently ignored: the bins run the compiled dist/, which `npm run build` makes. An
// installed package has no sources (only dist/), so there it checks nothing. It runs on every
// start, so it only compares modification times: one stat per source file, no reading.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRECTORIES = ['lib', 'stages', 'targets'];

/** Exits with a message naming `bin` when this checkout's dist/ does not match its sources. */
export function ensureCurrentBuild(bin) {
  if (!existsSync(path.join(root, 'lib', 'index.ts'))) return;
  const stale = buildStaleness();
  if (stale === undefined) return;
  process.stderr.write(`${bin}: ${stale}: run npm run build\n`);
  process.exit(1);
}

/**
 * Why dist/ is not current, or undefined when it is: a source file (or one of `alsoNewerThan`,
 * paths relative to the root; missing ones are ignored) changed after the last build's stamp.
 */
export function buildStaleness(alsoNewerThan = []) {
  let built;
  try {
    built = statSync(path.join(root, 'dist', '.build-stamp')).mtimeMs;
  } catch {
    return 'dist/ has not been built in this checkout';
  }
  for (const file of alsoNewerThan) {
    const modified = statSync(path.join(root, file), { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (modified > built) return `dist/ is older than ${file}`;
  }
  for (const directory of SOURCE_DIRECTORIES) {
    for (const entry of readdirSync(path.join(root, directory), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
      const file = path.join(entry.parentPath ?? entry.path, entry.name);
      if (statSync(file).mtimeMs > built) return `dist/ is older than ${path.relative(root, file)}`;
    }
  }
  return undefined;
}
