/**
 * The tiny OS of local-os/ built for real for one arch, the way the executor calls the runners:
 * LocalPackageRepo (the host's Debian files, or the foreign root's for another arch), the
 * treefile local-os/manifest.yaml flattened for the arch and the testing stream (the variables
 * pipeline.ts gives), then the dnf compose into a fresh archive repository. test/global-setup.ts
 * builds the x86_64 one once per run; the aarch64 tests build theirs with it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { streamCode } from '../../lib/compose/version.ts';
import { runTool } from '../../lib/exec.ts';
import type { ResolvedArtifact, RunnerContext } from '../../lib/runner.ts';
import { flattenTreefile } from '../../lib/treefile/flatten.ts';
import { canonicalStringify, type JsonValue } from '../../lib/util/canonical-json.ts';
import { REPO_ROOT } from './link-project.ts';
import { RUNNERS } from './runners.ts';

/** A composed commit of the tiny OS. */
export interface TinyOsCommit {
  /** The archive repository holding it. */
  readonly repo: string;
  /** Commit checksum. */
  readonly checksum: string;
  /** Its metadata as the compose returned it (arch, version, kernelVersion, snapshotTime ...), with its ref. */
  readonly metadata: Readonly<Record<string, JsonValue>>;
}

/** What {@link buildTinyOs} made. */
export interface TinyOs {
  /** The RPM repository's directory (repodata/ and Packages/). */
  readonly packages: string;
  /** The commit composed from it. */
  readonly commit: TinyOsCommit;
}

/** The runner context of node `nodePath` in `workDir`; log lines go to `log`. */
export function runnerContext(
  nodePath: string,
  props: Record<string, JsonValue>,
  inputs: Record<string, ResolvedArtifact>,
  workDir: string,
  ostreeRepo: string,
  log: (line: string) => void,
  declaredOutputs: RunnerContext['declaredOutputs'] = {},
): RunnerContext {
  return {
    nodePath,
    props,
    inputs,
    declaredOutputs,
    projectDir: REPO_ROOT,
    signal: new AbortController().signal,
    workDir,
    ostreeRepo,
    log,
    exec: (file, args, options) => runTool(file, args, { ...options, log }),
  };
}

/** Builds the tiny OS's packages for `arch` under `directory` and composes its commit there. */
export async function buildTinyOs(
  arch: 'x86_64' | 'aarch64',
  directory: string,
  log: (line: string) => void = () => {},
): Promise<TinyOs> {
  // Each RPM dated by its spec's newest %changelog entry, as the pipeline builds them.
  const repoOutputs = await RUNNERS.LocalPackageRepo.run(
    runnerContext(
      `Packages/${arch}`,
      { specs: 'local-os/packages', name: 'local', arch },
      {},
      path.join(directory, 'packages'),
      '',
      log,
      { repo: { type: 'rpm-repo', attributes: { name: 'local', arch } } },
    ),
  );
  const repo = repoOutputs.repo;
  if (repo?.storage !== 'tree') throw new Error(`the ${arch} repository was not built`);
  const flat = await flattenTreefile({
    constructPath: 'testing/Manifest',
    projectDir: REPO_ROOT,
    source: { file: path.join(REPO_ROOT, 'local-os/manifest.yaml') },
    arch,
    variables: { stream: 'testing', stream_code: streamCode('testing') },
  });
  const treefile = path.join(directory, 'treefile');
  await mkdir(treefile);
  await writeFile(path.join(treefile, 'treefile.json'), canonicalStringify(flat.treefile as JsonValue));
  await writeFile(path.join(treefile, 'repos.json'), canonicalStringify([{ name: 'local', local: true }]));
  const ostreeRepo = path.join(directory, 'ostree/repo');
  const composeDirectory = path.join(directory, 'compose');
  await mkdir(composeDirectory);
  const outputs = await RUNNERS.RpmOstreeCompose.run(
    runnerContext(
      `testing/${arch}/Compose`,
      {
        treefile: { $input: 'treefile' },
        localRepos: [{ $input: 'localRepos.0' }],
        driver: 'dnf',
        respin: 0,
      },
      {
        treefile: {
          type: 'treefile',
          digest: 'a'.repeat(64),
          storage: 'tree',
          path: treefile,
          metadata: { arch },
        },
        'localRepos.0': {
          type: 'rpm-repo',
          digest: 'b'.repeat(64),
          storage: 'tree',
          path: repo.path,
          metadata: repo.metadata ?? { name: 'local' },
        },
      },
      composeDirectory,
      ostreeRepo,
      log,
    ),
  );
  const commit = outputs.commit;
  if (commit?.storage !== 'ostree-commit') throw new Error(`the ${arch} commit was not composed`);
  return {
    packages: repo.path,
    commit: {
      repo: ostreeRepo,
      checksum: commit.checksum,
      metadata: { ...(commit.metadata ?? {}), ref: String(flat.treefile.ref) },
    },
  };
}
