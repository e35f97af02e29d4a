// `npm run pack [-- --destination DIR]`: the tarball fcos-cdk is published as. The checkout's own
// package.json declares no `bin`, on purpose: npm's `npx NAME` in a package whose manifest has a bin
// NAME installs that package into npm's exec cache on every call (about 1.3 s per command here),
// while a checkout without one finds the bin in node_modules/.bin (scripts/link-bins.js puts it
// there) and runs it at once. The published manifest takes its bins from `publishConfig.bin`, the
// convention pnpm and Yarn apply at publish time, which npm does not; this script applies it.
// Prints npm pack's JSON report (the tarball's name and its files) on stdout.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { destination: { type: 'string', default: root } } });
const destination = path.resolve(values.destination);
mkdirSync(destination, { recursive: true });

/** Runs npm with `args`, failing loudly; returns its stdout. */
function npm(args, cwd) {
  const result = spawnSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.status !== 0) {
    console.error(`pack: npm ${args.join(' ')} exited with ${result.status}`);
    process.exit(1);
  }
  return result.stdout;
}

/** The manifest as published: bins from publishConfig, no development-only fields. */
function publishedManifest(manifest) {
  const {
    private: _private,
    scripts: _scripts,
    devDependencies: _dev,
    publishConfig,
    ...published
  } = manifest;
  const { bin, ...otherPublishConfig } = publishConfig ?? {};
  const withBin = {};
  for (const [key, value] of Object.entries(published)) {
    withBin[key] = value;
    if (key === 'engines') withBin.bin = bin;
  }
  if (Object.keys(otherPublishConfig).length > 0) withBin.publishConfig = otherPublishConfig;
  return withBin;
}

const staging = mkdtempSync(path.join(os.tmpdir(), 'fcos-cdk-pack-'));
try {
  // The checkout's files as npm selects them (the `files` field), unpacked, then the manifest swapped.
  const [checkout] = JSON.parse(
    npm(['pack', '--json', '--ignore-scripts', '--pack-destination', staging], root),
  );
  const tarball = path.join(staging, checkout.filename);
  const unpacked = spawnSync('tar', ['-xzf', tarball, '-C', staging], { stdio: 'inherit' });
  if (unpacked.status !== 0) process.exit(1);
  rmSync(tarball);
  const directory = path.join(staging, 'package');
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  writeFileSync(
    path.join(directory, 'package.json'),
    `${JSON.stringify(publishedManifest(manifest), null, 2)}\n`,
  );
  process.stdout.write(
    npm(['pack', '--json', '--ignore-scripts', '--pack-destination', destination, directory], root),
  );
} finally {
  rmSync(staging, { recursive: true, force: true });
}
