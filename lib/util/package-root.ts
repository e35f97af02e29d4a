/**
 * Where fcos-cdk itself is installed, and how a runner module inside it is named portably: the
 * same pipeline.json must work whether fcos-cdk runs from its TypeScript sources (a checkout, the
 * test suite) or from its compiled `dist/` (an installed package).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toProjectPath } from '../synth/session.ts';

/** The directory holding fcos-cdk's package.json (the first one above this module). */
export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/**
 * Whether this copy of fcos-cdk runs compiled (`dist/**.js`) rather than from its sources; from
 * sources, whatever loads them (vitest, tsx) also loads any other TypeScript.
 */
export const RUNS_COMPILED = import.meta.url.endsWith('.js');

/** Walks up from `directory` to the first directory with a package.json. */
function findPackageRoot(directory: string): string {
  for (let current = directory; ; current = path.dirname(current)) {
    if (existsSync(path.join(current, 'package.json'))) return current;
    if (path.dirname(current) === current) return directory;
  }
}

/**
 * The portable name of `file` if it is part of fcos-cdk (`fcos-cdk/stages/manifest/runner`: no
 * `dist/`, no extension), else undefined.
 */
export function packageModuleSpec(file: string): string | undefined {
  const relative = path.relative(PACKAGE_ROOT, file);
  if (relative.startsWith('..') || path.isAbsolute(relative)) return undefined;
  const source = relative
    .split(path.sep)
    .join('/')
    .replace(/^dist\//, '')
    .replace(/\.(ts|js)$/, '');
  return `fcos-cdk/${source}`;
}

/**
 * The file of a {@link packageModuleSpec} in this copy: compiled JavaScript when this copy runs
 * compiled and has it, else the TypeScript source (a checkout's own test and benchmark kinds are
 * never compiled; they are loaded through tsx).
 */
export function packageModuleFile(spec: string): string {
  const source = spec.slice('fcos-cdk/'.length);
  const compiled = path.join(PACKAGE_ROOT, 'dist', `${source}.js`);
  return RUNS_COMPILED && existsSync(compiled) ? compiled : path.join(PACKAGE_ROOT, `${source}.ts`);
}

/**
 * The portable spec of a module that pipeline.json names (a kind's runner, a cloud's uploader):
 * {@link packageModuleSpec} for fcos-cdk's own, else the path relative to the project (`./...`).
 */
export function portableModuleSpec(file: string, projectDir: string): string {
  return packageModuleSpec(file) ?? `./${toProjectPath(file, projectDir)}`;
}

/** The file a {@link portableModuleSpec} names, in this copy of fcos-cdk or in the project. */
export function resolveModuleSpec(spec: string, projectDir: string): string {
  if (spec.startsWith('fcos-cdk/')) return packageModuleFile(spec);
  return path.resolve(projectDir, spec);
}
