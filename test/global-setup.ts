/**
 * Fixtures built once per test run and shared by the slow end-to-end tests: the tiny OS's package
 * repository (the LocalPackageRepo runner, for real). Tests read them with `inject('tinyRepo')`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { runTool } from '../lib/exec.ts';
import { localPackageRepoRunner } from '../stages/local-package-repo.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Directory of the tiny OS's RPM repository (repodata/ and Packages/). */
    tinyRepo: string;
  }
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Builds the shared fixtures and removes them after the run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'fcos-fixtures-'));
  const outputs = await localPackageRepoRunner.run({
    nodePath: 'Packages',
    props: { specs: 'packages', name: 'local', sourceDateEpoch: 1_700_000_000, arch: 'x86_64' },
    inputs: {},
    declaredOutputs: { repo: { type: 'rpm-repo', attributes: { name: 'local' } } },
    projectDir: REPO_ROOT,
    signal: new AbortController().signal,
    workDir: directory,
    ostreeRepo: '',
    log: () => {},
    exec: (file, args, options) => runTool(file, args, options),
  });
  const repo = outputs.repo;
  if (repo?.storage !== 'tree') throw new Error('the tiny OS repository was not built');
  project.provide('tinyRepo', repo.path);
  return async () => {
    await rm(directory, { recursive: true, force: true });
  };
}
