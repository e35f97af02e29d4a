/**
 * Fixtures built once per test run and shared by the slow end-to-end tests: the tiny OS's package
 * repository (the LocalPackageRepo runner, for real) and one ostree commit composed from it (the
 * RpmOstreeCompose runner, dnf driver), so the disk and image tests do not compose again. Tests
 * read them with `inject('tinyRepo')` and `inject('tinyCommit')`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { streamCode } from '../lib/compose/version.ts';
import { runTool } from '../lib/exec.ts';
import type { RunnerContext } from '../lib/runner.ts';
import { flattenTreefile } from '../lib/treefile/flatten.ts';
import { canonicalStringify, type JsonValue } from '../lib/util/canonical-json.ts';
import { RUNNERS } from './helpers/runners.ts';
import '../stages/rpm-ostree-compose/index.ts';

/** The shared commit of the tiny OS. */
export interface TinyCommit {
  /** The archive repository holding it (read-only for tests). */
  readonly repo: string;
  /** Commit checksum. */
  readonly checksum: string;
  /** The ref it was committed to. */
  readonly ref: string;
  /** Its version (`41.20261116.2.0`: dated from its packages' newest build time, testing's code 2). */
  readonly version: string;
  /** Kernel version of the tree. */
  readonly kernelVersion: string;
  /** Commit time, Unix seconds: the newest package's build time (its spec's newest changelog date). */
  readonly timestamp: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Directory of the tiny OS's RPM repository (repodata/ and Packages/). */
    tinyRepo: string;
    /** One commit of the tiny OS, composed once per run. */
    tinyCommit: TinyCommit;
  }
}

/**
 * The tiny OS's treefile: local-os/manifest.yaml flattened for x86_64 and the testing stream, with
 * the variables pipeline.ts gives (stream, stream_code), as the Manifest runner writes it.
 */
async function localTreefile(): Promise<Record<string, unknown>> {
  const flat = await flattenTreefile({
    constructPath: 'testing/Manifest',
    projectDir: REPO_ROOT,
    source: { file: path.join(REPO_ROOT, 'local-os/manifest.yaml') },
    arch: 'x86_64',
    variables: { stream: 'testing', stream_code: streamCode('testing') },
  });
  return flat.treefile;
}

/** Composes the tiny OS from `repo` into a new archive repository under `directory`. */
async function composeTinyCommit(directory: string, repo: string): Promise<TinyCommit> {
  const treefile = path.join(directory, 'treefile');
  await mkdir(treefile);
  const content = await localTreefile();
  const ref = String(content.ref);
  await writeFile(path.join(treefile, 'treefile.json'), canonicalStringify(content as JsonValue));
  await writeFile(path.join(treefile, 'repos.json'), canonicalStringify([{ name: 'local', local: true }]));
  const workDir = path.join(directory, 'compose');
  await mkdir(workDir);
  const ostreeRepo = path.join(directory, 'ostree/repo');
  const context: RunnerContext = {
    nodePath: 'testing/x86_64/Compose',
    props: {
      treefile: { $input: 'treefile' },
      localRepos: [{ $input: 'localRepos.0' }],
      driver: 'dnf',
      respin: 0,
    },
    inputs: {
      treefile: {
        type: 'treefile',
        digest: 'a'.repeat(64),
        storage: 'tree',
        path: treefile,
        metadata: { arch: 'x86_64' },
      },
      'localRepos.0': {
        type: 'rpm-repo',
        digest: 'b'.repeat(64),
        storage: 'tree',
        path: repo,
        metadata: { name: 'local' },
      },
    },
    declaredOutputs: {},
    projectDir: REPO_ROOT,
    signal: new AbortController().signal,
    workDir,
    ostreeRepo,
    log: () => {},
    exec: (file, args, options) => runTool(file, args, options),
  };
  const commit = (await RUNNERS.RpmOstreeCompose.run(context)).commit;
  if (commit?.storage !== 'ostree-commit') throw new Error('the tiny OS commit was not composed');
  await rm(workDir, { recursive: true, force: true });
  return {
    repo: ostreeRepo,
    checksum: commit.checksum,
    ref,
    version: String(commit.metadata?.version),
    kernelVersion: String(commit.metadata?.kernelVersion),
    timestamp: Number(commit.metadata?.snapshotTime),
  };
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Builds the shared fixtures and removes them after the run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'fcos-fixtures-'));
  const outputs = await RUNNERS.LocalPackageRepo.run({
    nodePath: 'Packages',
    // Each RPM dated by its spec's newest %changelog entry, as the pipeline builds them.
    props: { specs: 'local-os/packages', name: 'local', arch: 'x86_64' },
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
  const commitDirectory = path.join(directory, 'tiny-commit');
  await mkdir(commitDirectory);
  project.provide('tinyCommit', await composeTinyCommit(commitDirectory, repo.path));
  return async () => {
    await rm(directory, { recursive: true, force: true });
  };
}
