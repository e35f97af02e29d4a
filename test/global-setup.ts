/**
 * Fixtures built once per test run and shared by the slow end-to-end tests: the tiny OS's package
 * repository (the LocalPackageRepo runner, for real) and one ostree commit composed from it (the
 * RpmOstreeCompose runner, dnf driver), so the disk and image tests do not compose again. Tests
 * read them with `inject('tinyRepo')` and `inject('tinyCommit')`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildTinyOs } from './helpers/tiny-os.ts';

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

/** Builds the shared fixtures and removes them after the run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'fcos-fixtures-'));
  const { packages, commit } = await buildTinyOs('x86_64', directory);
  project.provide('tinyRepo', packages);
  project.provide('tinyCommit', {
    repo: commit.repo,
    checksum: commit.checksum,
    ref: String(commit.metadata.ref),
    version: String(commit.metadata.version),
    kernelVersion: String(commit.metadata.kernelVersion),
    timestamp: Number(commit.metadata.snapshotTime),
  });
  return async () => {
    await rm(directory, { recursive: true, force: true });
  };
}
