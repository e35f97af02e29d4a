/**
 * The Manifest runner: rpm-ostree treefile flattening (include, arch-include, conditional-include,
 * merge order, packages-<arch>, variables), repositories from .repo files and local repositories,
 * lockfiles (read, merged, written), the self-contained compose input, its errors, byte-identical
 * outputs, and the node through the real executor (built, cached, rebuilt on an include change).
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: treefiles write ${variable}, it is not a template.
import { createHash } from 'node:crypto';
import { cp, lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { ResolvedArtifact, RunnerContext, RunnerOutput } from '../lib/runner.ts';
import {
  LockfileError,
  RepoDefinitionError,
  TreefileConditionError,
  type TreefileError,
  TreefileIncludeError,
  TreefilePathError,
  TreefileSchemaError,
  TreefileVariableError,
} from '../lib/treefile/errors.ts';
import { readLockfile, readLockfiles, renderLockfile, writeLockfile } from '../lib/treefile/lockfile.ts';
import manifestRunner, { type ManifestNodeProps } from '../stages/manifest/runner.ts';
import {
  makeTempDir,
  nodesWith,
  REPO_ROOT,
  readEvents,
  runIn,
  synthIn,
  writeProgram,
} from './helpers/temp-project.ts';

const NODE = 'testing/Manifest';

/** Writes `files` (relative path → content) into `directory`, creating subdirectories. */
async function writeFiles(directory: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(directory, name)), { recursive: true });
    await writeFile(path.join(directory, name), content);
  }
}

/** A new project directory holding `files`. */
async function project(files: Record<string, string>): Promise<string> {
  const directory = await makeTempDir('fcos-manifest-');
  await writeFiles(directory, files);
  return directory;
}

/** A local repository input named `name` (built for `arch`, if given), as the executor resolves it. */
function localRepoInput(name: string, arch?: string): ResolvedArtifact {
  return {
    type: 'rpm-repo',
    digest: `sha256:${createHash('sha256')
      .update(`${name}/${arch ?? ''}`)
      .digest('hex')}`,
    storage: 'tree',
    path: '/nonexistent',
    metadata: { name, packages: [], ...(arch ? { arch } : {}) },
  };
}

/** Props of a test node: `file: 'manifest.yaml'` and x86_64 unless given. */
function nodeProps(props: Partial<ManifestNodeProps>): ManifestNodeProps {
  return {
    arches: ['x86_64'],
    localRepos: [],
    variables: {},
    ...(props.treefile ? {} : { file: 'manifest.yaml' }),
    ...props,
  };
}

/** A RunnerContext for the Manifest runner, as the executor would build it. */
async function runnerContext(
  projectDir: string,
  props: ManifestNodeProps,
  inputs: Record<string, ResolvedArtifact> = {},
): Promise<RunnerContext<ManifestNodeProps>> {
  return {
    nodePath: NODE,
    props,
    inputs,
    declaredOutputs: Object.fromEntries(
      props.arches.map((arch) => [`treefile-${arch}`, { type: 'treefile', attributes: { arch } }]),
    ),
    projectDir,
    signal: new AbortController().signal,
    workDir: await makeTempDir('fcos-manifest-work-'),
    ostreeRepo: '',
    log: () => {},
    exec: () => Promise.reject(new Error('the Manifest runs no tools')),
  };
}

/** What one arch's output holds, parsed. */
interface ArchOutput {
  readonly directory: string;
  readonly metadata: RunnerOutput['metadata'];
  readonly treefile: Record<string, unknown>;
  readonly repos: Array<Record<string, unknown>>;
  readonly lockfile: Record<string, unknown> | undefined;
}

/** Runs the runner on `projectDir` and parses each arch's output. */
async function runManifest(
  projectDir: string,
  props: Partial<ManifestNodeProps> = {},
  inputs: Record<string, ResolvedArtifact> = {},
): Promise<Record<string, ArchOutput>> {
  const full = nodeProps(props);
  const outputs = await manifestRunner.run(await runnerContext(projectDir, full, inputs));
  const parsed: Record<string, ArchOutput> = {};
  for (const arch of full.arches) {
    const output = outputs[`treefile-${arch}`];
    if (output?.storage !== 'tree') throw new Error(`no tree output for ${arch}`);
    const read = async (name: string) => JSON.parse(await readFile(path.join(output.path, name), 'utf8'));
    const names = await readdir(output.path);
    parsed[arch] = {
      directory: output.path,
      metadata: output.metadata,
      treefile: await read('treefile.json'),
      repos: await read('repos.json'),
      lockfile: names.includes('lockfile.json') ? await read('lockfile.json') : undefined,
    };
  }
  return parsed;
}

/** The x86_64 treefile.json of `files` flattened with `props`. */
async function flatten(
  files: Record<string, string>,
  props: Partial<ManifestNodeProps> = {},
): Promise<Record<string, unknown>> {
  const outputs = await runManifest(await project(files), props);
  return outputs.x86_64!.treefile;
}

/** The error the runner fails with on `files`. */
async function failure(
  files: Record<string, string>,
  props: Partial<ManifestNodeProps> = {},
): Promise<TreefileError> {
  const error = await runManifest(await project(files), props).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof Error)) throw new Error('expected the runner to fail');
  return error as TreefileError;
}

/** Every file, directory and symlink under `directory`, with content digests and executable bits. */
async function treeListing(directory: string): Promise<Record<string, string>> {
  const listing: Record<string, string> = {};
  for (const name of (await readdir(directory, { recursive: true })).sort()) {
    const entry = path.join(directory, name);
    const status = await lstat(entry);
    if (status.isSymbolicLink()) listing[name] = `-> ${await readlink(entry)}`;
    else if (status.isDirectory()) listing[name] = 'dir';
    else {
      const digest = createHash('sha256')
        .update(await readFile(entry))
        .digest('hex');
      listing[name] = `${(status.mode & 0o111) !== 0 ? 'x' : '-'} ${digest}`;
    }
  }
  return listing;
}

const FEDORA_REPO = `# comment
[fedora]
name=Fedora $releasever - $basearch
baseurl=https://example.org/releases/$releasever/$basearch/os/
        https://mirror.example.org/releases/\${releasever}/\${basearch}/os/
#metalink=https://mirrors.example.org/metalink?repo=fedora-$releasever
enabled=1
gpgcheck=1
gpgkey=file:///keys/fedora-$releasever-$basearch, file:///keys/extra
skip_if_unavailable=False

[updates]
name=Updates
metalink=https://mirrors.example.org/metalink?repo=updates-f$releasever&arch=$basearch
enabled=0

[pool]
baseurl=https://pool.example.org/$basearch/,https://pool2.example.org/$basearch/
`;

/** A lockfile's JSON text. */
function lock(packages: Record<string, unknown>, metadata?: unknown): string {
  return JSON.stringify({ packages, ...(metadata ? { metadata } : {}) });
}

describe('treefile flattening', () => {
  it('merges include chains (string and list): included first, scalars overridden, lists concatenated in rpm-ostree order', async () => {
    const treefile = await flatten({
      'manifest.yaml': [
        'include: manifests/fcos.yaml',
        'ref: top-ref',
        'packages: [top]',
        'postprocess: [echo foo]',
      ].join('\n'),
      'manifests/fcos.yaml': [
        'include: [kernel.yaml, sub/bootupd.yaml]',
        'ref: fcos-ref',
        'mutate-os-release: fcos',
        'packages: [fcos]',
        'units: [fcos.service]',
      ].join('\n'),
      'manifests/kernel.yaml': [
        'packages: [kernel]',
        'postprocess: [echo bar]',
        'default-target: kernel.target',
        'add-commit-metadata: {a: kernel, b: kernel}',
      ].join('\n'),
      'manifests/sub/bootupd.yaml': [
        'include: ../base.json',
        'packages: [bootupd]',
        'postprocess: [echo baz]',
        'default-target: bootupd.target',
        'add-commit-metadata: {b: bootupd, c: bootupd}',
      ].join('\n'),
      'manifests/base.json': JSON.stringify({ packages: ['base'], 'automatic-version-prefix': '41' }),
    });
    expect(treefile.ref).toBe('top-ref');
    expect(treefile['mutate-os-release']).toBe('fcos');
    expect(treefile['automatic-version-prefix']).toBe('41');
    // include [kernel, bootupd]: the first include's scalar wins over the second's.
    expect(treefile['default-target']).toBe('kernel.target');
    // docs/treefile.md: postprocess of bootupd, then kernel, then the including file.
    expect(treefile.postprocess).toEqual(['echo baz', 'echo bar', 'echo foo']);
    expect(treefile.packages).toEqual(['base', 'bootupd', 'kernel', 'fcos', 'top']);
    expect(treefile['add-commit-metadata']).toEqual({ a: 'kernel', b: 'kernel', c: 'bootupd' });
    expect(treefile.units).toEqual(['fcos.service']);
    expect(treefile).not.toHaveProperty('include');
  });

  it('applies arch-include (string and list) after include, per arch', async () => {
    const outputs = await runManifest(
      await project({
        'manifest.yaml': [
          'include: common.yaml',
          'arch-include:',
          '  x86_64: x86.yaml',
          '  aarch64: [arm-1.yaml, arm-2.yaml]',
          'packages: [own]',
        ].join('\n'),
        'common.yaml': 'packages: [common]\ndefault-target: common.target',
        'x86.yaml': 'packages: [grub2-pc]\ndefault-target: x86.target',
        'arm-1.yaml': 'packages: [arm-1]',
        'arm-2.yaml': 'packages: [arm-2]',
      }),
      { arches: ['x86_64', 'aarch64'] },
    );
    expect(outputs.x86_64!.treefile.packages).toEqual(['grub2-pc', 'common', 'own']);
    expect(outputs.x86_64!.treefile['default-target']).toBe('common.target');
    expect(outputs.aarch64!.treefile.packages).toEqual(['arm-2', 'arm-1', 'common', 'own']);
    expect(outputs.x86_64!.treefile).not.toHaveProperty('arch-include');
    expect(outputs.aarch64!.metadata).toMatchObject({ arch: 'aarch64' });
  });

  it('evaluates conditional-include with every operator over variables, releasever, basearch and props.variables', async () => {
    const files = {
      'manifest.yaml': [
        'releasever: 41',
        'variables: {stream: testing, prod: false, level: 3}',
        'include: fcos.yaml',
        'conditional-include:',
        '  - {if: stream == "testing", include: eq.yaml}',
        // rpm-ostree quotes strings with double quotes only, and orders numbers only.
        '  - {if: stream != "stable", include: ne.yaml}',
        '  - {if: releasever < 42, include: lt.yaml}',
        '  - {if: releasever <= 40, include: le.yaml}',
        '  - {if: level > 2, include: gt.yaml}',
        '  - {if: level >= 4, include: ge.yaml}',
        '  - {if: [basearch == "x86_64", prod == false, stream != "v", releasever <= 41], include: all.yaml}',
        '  - {if: [basearch == "x86_64", prod == true, level < 5], include: not-all.yaml}',
      ].join('\n'),
      // As in fedora-coreos-config: an included file tests the including file's variables.
      'fcos.yaml': 'conditional-include:\n  - {if: prod == false, include: dev.yaml}',
      ...Object.fromEntries(
        ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'all', 'not-all', 'dev'].map((name) => [
          `${name}.yaml`,
          `packages: [${name}]`,
        ]),
      ),
    };
    const included = async (props: Partial<ManifestNodeProps>) =>
      ((await flatten(files, props)).packages as string[]).sort();
    expect(await included({})).toEqual(['all', 'dev', 'eq', 'gt', 'lt', 'ne']);
    expect(await included({ variables: { stream: 'stable', level: 4, prod: true } })).toEqual([
      'ge',
      'gt',
      'lt',
      'not-all',
    ]);
    expect(await included({ variables: { stream: 'v' } })).toEqual(['dev', 'gt', 'lt', 'ne']);
  });

  it('appends packages-<arch> of the arch, drops every packages-* key, splits entries at whitespace', async () => {
    const outputs = await runManifest(
      await project({
        'manifest.yaml': [
          'include: base.yaml',
          'packages: [nano nano-default-editor, "\'podman >= 4.1\'"]',
          'packages-x86_64: [grub2-efi-x64 shim-x64]',
          'packages-s390x: [s390utils-core]',
        ].join('\n'),
        'base.yaml': 'packages: [kernel]\npackages-aarch64: [uboot-tools]',
      }),
      { arches: ['x86_64', 'aarch64'] },
    );
    expect(outputs.x86_64!.treefile.packages).toEqual([
      'kernel',
      'nano',
      'nano-default-editor',
      'podman >= 4.1',
      'grub2-efi-x64',
      'shim-x64',
    ]);
    // rpm-ostree folds packages-<arch> into each file's packages before merging (take_archful_pkgs).
    expect(outputs.aarch64!.treefile.packages).toEqual([
      'kernel',
      'uboot-tools',
      'nano',
      'nano-default-editor',
      'podman >= 4.1',
    ]);
    expect(Object.keys(outputs.x86_64!.treefile).filter((key) => key.startsWith('packages-'))).toEqual([]);
  });

  it('substitutes ${basearch}, ${releasever} and variables where rpm-ostree does, not in postprocess', async () => {
    const outputs = await runManifest(
      await project({
        'manifest.yaml': [
          'releasever: 41',
          'variables: {stream: testing, osname: tiny}',
          'ref: fedora/${basearch}/coreos/${stream}',
          'automatic-version-prefix: "${releasever}.<date:%Y%m%d>.dev"',
          'mutate-os-release: "${releasever}"',
          'add-commit-metadata: {fedora-coreos.stream: "${stream}", built: true}',
          'metadata: {summary: "${osname} ${stream}"}',
          'packages: ["${osname}-release"]',
          'postprocess: [\'echo "${HOME}"\']',
        ].join('\n'),
      }),
      { variables: { stream: 'next' } },
    );
    const treefile = outputs.x86_64!.treefile;
    expect(treefile.ref).toBe('fedora/x86_64/coreos/next');
    expect(treefile['automatic-version-prefix']).toBe('41.<date:%Y%m%d>.dev');
    expect(treefile['mutate-os-release']).toBe('41');
    expect(treefile['add-commit-metadata']).toEqual({ 'fedora-coreos.stream': 'next', built: true });
    expect(treefile.metadata).toEqual({ summary: 'tiny next' });
    // rpm-ostree does not substitute in packages (its substitute_vars leaves them out).
    expect(treefile.packages).toEqual(['${osname}-release']);
    expect(treefile.postprocess).toEqual(['echo "${HOME}"']);
    expect(treefile.basearch).toBe('x86_64');
    expect(treefile.variables).toEqual({
      stream: 'next',
      osname: 'tiny',
      basearch: 'x86_64',
      releasever: 41,
    });
    expect(outputs.x86_64!.metadata).toEqual({
      arch: 'x86_64',
      ref: 'fedora/x86_64/coreos/next',
      releasever: 41,
      automaticVersionPrefix: '41.<date:%Y%m%d>.dev',
      remoteRepos: [],
      lockfileDir: '.',
    });
  });

  it('flattens an inline treefile, resolving its includes in the project directory', async () => {
    const projectDir = await project({ 'extra.yaml': 'packages: [extra]' });
    const outputs = await runManifest(projectDir, {
      treefile: { ref: 'inline/${basearch}', include: 'extra.yaml', packages: ['own'] },
    });
    expect(outputs.x86_64!.treefile).toMatchObject({ ref: 'inline/x86_64', packages: ['extra', 'own'] });
    expect(outputs.x86_64!.lockfile).toBeUndefined();
    expect(outputs.x86_64!.metadata).toMatchObject({ lockfileDir: null });
  });

  it('flattens local-os/manifest.yaml with a LocalPackageRepo named local', async () => {
    const outputs = await runManifest(
      REPO_ROOT,
      {
        file: 'local-os/manifest.yaml',
        localRepos: [{ $input: 'localRepos.0' }],
        // As pipeline.ts gives them: the stream and its version code.
        variables: { stream: 'testing', stream_code: 2 },
      },
      { 'localRepos.0': localRepoInput('local') },
    );
    const output = outputs.x86_64!;
    const source = parseYaml(await readFile(path.join(REPO_ROOT, 'local-os/manifest.yaml'), 'utf8'));
    expect(output.treefile).toEqual({
      ...source,
      ref: 'fedora/x86_64/coreos/testing',
      // Fedora CoreOS's X.Y.Z of the testing stream, and the stream Zincati reads from the commit.
      'automatic-version-prefix': '41.<date:%Y%m%d>.2',
      'add-commit-metadata': { 'fedora-coreos.stream': 'testing' },
      basearch: 'x86_64',
      variables: { stream: 'testing', stream_code: 2, basearch: 'x86_64', releasever: 41 },
    });
    expect(source.packages).toContain('tiny-kernel');
    expect(output.repos).toEqual([{ name: 'local', local: true, digest: localRepoInput('local').digest }]);
    expect(await readdir(output.directory)).toEqual(['repos.json', 'treefile.json']);
  });
});

describe('repositories', () => {
  it('defines repos from .repo files ($basearch/$releasever substituted) and local repository inputs', async () => {
    const outputs = await runManifest(
      await project({
        'manifest.yaml': 'releasever: 41\nrepos: [local, fedora, updates]\nlockfile-repos: [pool]',
        'fedora.repo': FEDORA_REPO,
        // rpm-ostree enables lockfile-repos only with a lockfile.
        'manifest-lock.aarch64.json': lock({}),
      }),
      { arches: ['aarch64'], localRepos: [{ $input: 'localRepos.0' }] },
      { 'localRepos.0': localRepoInput('local') },
    );
    const { repos, treefile } = outputs.aarch64!;
    expect(treefile.repos).toEqual(['local', 'fedora', 'updates']);
    expect(treefile['lockfile-repos']).toEqual(['pool']);
    expect(repos.slice(0, 3)).toEqual([
      { name: 'local', local: true, digest: localRepoInput('local').digest },
      {
        name: 'fedora',
        local: false,
        file: 'fedora.repo',
        description: 'Fedora 41 - aarch64',
        baseurl: [
          'https://example.org/releases/41/aarch64/os/',
          'https://mirror.example.org/releases/41/aarch64/os/',
        ],
        enabled: true,
        gpgcheck: true,
        gpgkey: ['file:///keys/fedora-41-aarch64', 'file:///keys/extra'],
        options: { skip_if_unavailable: 'False' },
      },
      {
        name: 'updates',
        local: false,
        file: 'fedora.repo',
        description: 'Updates',
        baseurl: [],
        metalink: 'https://mirrors.example.org/metalink?repo=updates-f41&arch=aarch64',
        enabled: false,
        gpgcheck: false,
        gpgkey: [],
        options: {},
      },
    ]);
    expect(repos.slice(3)).toMatchObject([
      { name: 'pool', baseurl: ['https://pool.example.org/aarch64/', 'https://pool2.example.org/aarch64/'] },
    ]);
  });

  it("gives each arch's treefile the local repository built for that arch, and a repository of no arch to all", async () => {
    const inputs = {
      'localRepos.0': localRepoInput('local', 'x86_64'),
      'localRepos.1': localRepoInput('local', 'aarch64'),
      'localRepos.2': localRepoInput('extras'),
    };
    const outputs = await runManifest(
      await project({ 'manifest.yaml': 'releasever: 41\nrepos: [local, extras]' }),
      {
        arches: ['x86_64', 'aarch64'],
        localRepos: [{ $input: 'localRepos.0' }, { $input: 'localRepos.1' }, { $input: 'localRepos.2' }],
      },
      inputs,
    );
    for (const [arch, input] of [
      ['x86_64', 'localRepos.0'],
      ['aarch64', 'localRepos.1'],
    ] as const) {
      expect(outputs[arch]!.repos).toEqual([
        { name: 'local', local: true, digest: inputs[input].digest },
        { name: 'extras', local: true, digest: inputs['localRepos.2'].digest },
      ]);
    }
  });

  it('uses every enabled repository when the treefile has no repos key', async () => {
    const outputs = await runManifest(
      await project({ 'manifest.yaml': 'releasever: 41', 'fedora.repo': FEDORA_REPO }),
      { localRepos: [{ $input: 'localRepos.0' }] },
      { 'localRepos.0': localRepoInput('local') },
    );
    expect(outputs.x86_64!.treefile.repos).toEqual(['fedora', 'local', 'pool']);
  });
});

describe('lockfiles', () => {
  it('merges manifest-lock.<arch>.json, manifest-lock.overrides.yaml and manifest-lock.overrides.<arch>.yaml, overrides winning', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const outputs = await runManifest(
      await project({
        'manifest.yaml': 'packages: [kernel]',
        'manifest-lock.x86_64.json': lock(
          {
            kernel: { evra: '6.11.4-301.fc41.x86_64', digest },
            ignition: { evra: '2.19.0-1.fc41.x86_64' },
            podman: { evra: '5:5.2.4-1.fc41.x86_64' },
          },
          {
            generated: '2024-10-23T00:00:00Z',
            rpmmd_repos: { fedora: { generated: '2024-10-22T00:00:00Z' } },
          },
        ),
        'manifest-lock.aarch64.json': lock({ kernel: { evra: '6.11.4-301.fc41.aarch64' } }),
        'manifest-lock.overrides.yaml': [
          '# pins and fast-tracks',
          'packages:',
          '  ignition:',
          '    evr: 2.20.0-1.fc41',
          '    metadata: {type: fast-track, bodhi: https://bodhi.example.org/1}',
          '  podman:',
          '    evr: 5:5.2.5-1.fc41',
        ].join('\n'),
        'manifest-lock.overrides.x86_64.yaml': 'packages:\n  podman:\n    evra: 5:5.2.6-1.fc41.x86_64',
      }),
      { arches: ['x86_64', 'aarch64'] },
    );
    expect(outputs.x86_64!.lockfile).toEqual({
      packages: {
        kernel: { evra: '6.11.4-301.fc41.x86_64', digest },
        ignition: {
          evr: '2.20.0-1.fc41',
          metadata: { type: 'fast-track', bodhi: 'https://bodhi.example.org/1' },
        },
        podman: { evra: '5:5.2.6-1.fc41.x86_64' },
      },
      metadata: {
        generated: '2024-10-23T00:00:00Z',
        rpmmd_repos: { fedora: { generated: '2024-10-22T00:00:00Z' } },
      },
    });
    expect(outputs.aarch64!.lockfile).toEqual({
      packages: {
        kernel: { evra: '6.11.4-301.fc41.aarch64' },
        ignition: {
          evr: '2.20.0-1.fc41',
          metadata: { type: 'fast-track', bodhi: 'https://bodhi.example.org/1' },
        },
        podman: { evr: '5:5.2.5-1.fc41' },
      },
    });
  });

  it('reads lockfiles from lockfileDir when given', async () => {
    const projectDir = await project({
      'manifests/manifest.yaml': 'packages: [kernel]',
      'locks/manifest-lock.x86_64.json': lock({ kernel: { evra: '6.11.4-301.fc41.x86_64' } }),
    });
    const outputs = await runManifest(projectDir, { file: 'manifests/manifest.yaml', lockfileDir: 'locks' });
    expect(outputs.x86_64!.lockfile).toEqual({ packages: { kernel: { evra: '6.11.4-301.fc41.x86_64' } } });
    // The compose's --update-lockfiles hook writes where the Manifest reads: recorded, project-relative.
    expect(outputs.x86_64!.metadata).toMatchObject({ lockfileDir: 'locks' });
    const beside = await runManifest(projectDir, { file: 'manifests/manifest.yaml' });
    expect(beside.x86_64!.metadata).toMatchObject({ lockfileDir: 'manifests' });
  });

  it('writes manifest-lock.<arch>.json byte-stably and reads it back', async () => {
    const directory = await makeTempDir('fcos-lock-');
    const packages = [
      { name: 'zstd', epoch: 0, version: '1.5.6', release: '1.fc41', arch: 'x86_64' },
      {
        name: 'NetworkManager',
        epoch: 1,
        version: '1.48.10',
        release: '1.fc41',
        arch: 'x86_64',
        digest: 'b'.repeat(64),
      },
      {
        name: 'bash',
        epoch: 0,
        version: '5.2.32',
        release: '1.fc41',
        arch: 'x86_64',
        digest: `sha256:${'c'.repeat(64)}`,
      },
    ];
    const options = {
      generated: '2024-10-23T00:00:00Z',
      rpmmdRepos: { fedora: { generated: '2024-10-22T00:00:00Z' } },
    };
    const file = await writeLockfile(directory, 'x86_64', packages, options);
    expect(path.basename(file)).toBe('manifest-lock.x86_64.json');
    const bytes = await readFile(file, 'utf8');
    expect(bytes).toBe(renderLockfile([...packages].reverse(), options));
    expect(bytes.endsWith('}\n')).toBe(true);
    expect(bytes.indexOf('"NetworkManager"')).toBeLessThan(bytes.indexOf('"bash"'));
    const context = { constructPath: NODE, projectDir: directory };
    expect(await readLockfile(file, context)).toEqual({
      packages: {
        NetworkManager: { evra: '1:1.48.10-1.fc41.x86_64', digest: `sha256:${'b'.repeat(64)}` },
        bash: { evra: '5.2.32-1.fc41.x86_64', digest: `sha256:${'c'.repeat(64)}` },
        zstd: { evra: '1.5.6-1.fc41.x86_64' },
      },
      metadata: {
        generated: '2024-10-23T00:00:00Z',
        rpmmd_repos: { fedora: { generated: '2024-10-22T00:00:00Z' } },
      },
    });
    // Rewriting what was read gives the same bytes.
    await writeLockfile(directory, 'x86_64', packages, options);
    expect(await readFile(file, 'utf8')).toBe(bytes);
    expect(await readLockfiles(directory, 'x86_64', context)).toEqual(await readLockfile(file, context));
    expect(renderLockfile([])).toBe('{\n  "packages": {}\n}\n');
    expect(() => renderLockfile([packages[0]!, { ...packages[0]!, version: '1.5.7' }])).toThrow(
      /'zstd' is listed twice/,
    );
  });
});

describe('errors', () => {
  /** Asserts the error's class, node, file, key and message. */
  function expectError(
    error: TreefileError,
    type: new (...args: never[]) => TreefileError,
    where: { file?: string; field?: string; message: RegExp },
  ): void {
    expect(error).toBeInstanceOf(type);
    expect(error.constructPath).toBe(NODE);
    if (where.file !== undefined) expect(error.file).toBe(where.file);
    if (where.field !== undefined) expect(error.field).toBe(where.field);
    expect(error.message).toMatch(where.message);
  }

  it('an unknown treefile key names the file and the key', async () => {
    const error = await failure({
      'manifest.yaml': 'include: manifests/base.yaml',
      'manifests/base.yaml': 'packages: [a]\npakages: [b]',
    });
    expectError(error, TreefileSchemaError, {
      file: 'manifests/base.yaml',
      field: 'pakages',
      message: /^manifests\/base\.yaml: unknown key 'pakages'$/,
    });
  });

  it('a YAML syntax error names the file and line', async () => {
    const error = await failure({ 'manifest.yaml': 'packages: [a\nref: x' });
    expectError(error, TreefileSchemaError, {
      file: 'manifest.yaml',
      message: /^manifest\.yaml:\d+: not valid YAML/,
    });
  });

  it('a missing include names the include chain', async () => {
    const error = await failure({
      'manifest.yaml': 'include: manifests/a.yaml',
      'manifests/a.yaml': 'include: [b.yaml]',
      'manifests/b.yaml': 'arch-include: {x86_64: missing.yaml}',
    });
    expectError(error, TreefileIncludeError, {
      file: 'manifests/b.yaml',
      field: 'arch-include.x86_64',
      message:
        /'missing\.yaml' \(manifests\/missing\.yaml\) does not exist; include chain: manifest\.yaml -> manifests\/a\.yaml -> manifests\/b\.yaml -> manifests\/missing\.yaml/,
    });
  });

  it('an include cycle is reported with its files', async () => {
    const error = await failure({
      'manifest.yaml': 'include: a.yaml',
      'a.yaml': 'include: b.yaml',
      'b.yaml': 'conditional-include: [{if: basearch == "x86_64", include: a.yaml}]',
    });
    expectError(error, TreefileIncludeError, {
      file: 'b.yaml',
      field: 'conditional-include.0.include',
      message: /include cycle: a\.yaml -> b\.yaml -> a\.yaml$/,
    });
  });

  it('a file included twice is an error, as rpm-ostree documents', async () => {
    const error = await failure({
      'manifest.yaml': 'include: [a.yaml, b.yaml]',
      'a.yaml': 'include: common.yaml',
      'b.yaml': 'include: common.yaml',
      'common.yaml': 'packages: [x]',
    });
    expectError(error, TreefileIncludeError, {
      message:
        /common\.yaml is included twice.*by manifest\.yaml -> a\.yaml -> common\.yaml and by manifest\.yaml -> b\.yaml -> common\.yaml/,
    });
  });

  it('an unknown variable fails in a condition and in a substitution, naming the key', async () => {
    const inCondition = await failure({
      'manifest.yaml':
        'conditional-include: [{if: [basearch == "x86_64", flavor == "dev"], include: x.yaml}]',
      'x.yaml': '{}',
    });
    expectError(inCondition, TreefileConditionError, {
      file: 'manifest.yaml',
      field: 'conditional-include.0.if.1',
      message: /unknown variable 'flavor'/,
    });
    const inSubstitution = await failure({ 'manifest.yaml': 'ref: os/${stream}' });
    expectError(inSubstitution, TreefileVariableError, {
      field: 'ref',
      message: /key 'ref': \$\{stream\} names no variable \(variables: basearch\)/,
    });
    const bare = await failure({ 'manifest.yaml': 'conditional-include: [{if: "!prod", include: x.yaml}]' });
    expectError(bare, TreefileConditionError, { message: /not of the form '<variable> <op> <value>'/ });
    const mismatch = await failure({
      'manifest.yaml': 'releasever: 41\nconditional-include: [{if: releasever >= "41", include: x.yaml}]',
    });
    expectError(mismatch, TreefileConditionError, {
      message: /compares number variable 'releasever' \(41\) with a string/,
    });
    const reserved = await failure({ 'manifest.yaml': 'variables: {basearch: x}' });
    expectError(reserved, TreefileVariableError, { field: 'variables.basearch', message: /reserves/ });
  });

  it('a repository defined nowhere names the repository and where it is listed', async () => {
    const error = await failure({
      'manifest.yaml': 'include: base.yaml\nreleasever: 41',
      'base.yaml': 'lockfile-repos: [coreos-pool]',
      'fedora.repo': FEDORA_REPO,
      // Without a lockfile rpm-ostree does not enable lockfile-repos, so does not look them up.
      'manifest-lock.x86_64.json': lock({}),
    });
    expectError(error, RepoDefinitionError, {
      file: 'base.yaml',
      field: 'lockfile-repos',
      message: /repository 'coreos-pool' is defined nowhere.*\(defined: fedora, updates, pool\)/,
    });
  });

  it('a malformed .repo file names the file and line', async () => {
    const noSection = await failure({ 'manifest.yaml': 'repos: [x]', 'bad.repo': 'baseurl=https://x\n' });
    expectError(noSection, RepoDefinitionError, {
      file: 'bad.repo',
      message: /^bad\.repo:1: malformed \.repo file: 'baseurl=' comes before any \[id\] section/,
    });
    const noUrl = await failure({ 'manifest.yaml': 'repos: [x]', 'bad.repo': '[x]\nname=X\n' });
    expectError(noUrl, RepoDefinitionError, { message: /bad\.repo:1: malformed .*\[x\] has no baseurl=/ });
    const garbage = await failure({ 'manifest.yaml': 'repos: [x]', 'bad.repo': '[x]\nbaseurl https://x\n' });
    expectError(garbage, RepoDefinitionError, { message: /bad\.repo:2: malformed/ });
  });

  it('a malformed lockfile names the file and key', async () => {
    const syntax = await failure({ 'manifest.yaml': '{}', 'manifest-lock.x86_64.json': '{"packages": {' });
    expectError(syntax, LockfileError, { file: 'manifest-lock.x86_64.json', message: /malformed lockfile/ });
    const schema = await failure({
      'manifest.yaml': '{}',
      'manifest-lock.overrides.yaml': 'packages:\n  kernel:\n    version: 6.11.4',
    });
    expectError(schema, LockfileError, {
      file: 'manifest-lock.overrides.yaml',
      field: 'packages.kernel',
      message:
        /manifest-lock\.overrides\.yaml: malformed lockfile: key 'packages\.kernel': unknown key 'version'/,
    });
    const both = await failure({
      'manifest.yaml': '{}',
      'manifest-lock.x86_64.json': lock({ kernel: { evr: '1-1', evra: '1-1.x86_64' } }),
    });
    expectError(both, LockfileError, { message: /exactly one of evra and evr/ });
  });

  it('a missing ostree-layers directory or postprocess-script names the key', async () => {
    const layer = await failure({ 'manifest.yaml': 'ostree-layers: [overlay.d/05core]' });
    expectError(layer, TreefilePathError, {
      field: 'ostree-layers.0',
      message: /'overlay\.d\/05core' is not a directory/,
    });
    const script = await failure({ 'manifest.yaml': 'postprocess-script: post.sh' });
    expectError(script, TreefilePathError, {
      field: 'postprocess-script',
      message: /post\.sh is not a file/,
    });
  });
});

describe('compose input', () => {
  const files = {
    'config/manifest.yaml': [
      'releasever: 41',
      'ref: os/${basearch}',
      'repos: [fedora]',
      'include: manifests/base.yaml',
      'ostree-layers: [overlay.d/15fcos]',
      'packages: [own]',
    ].join('\n'),
    'config/manifests/base.yaml': [
      'ostree-layers: [overlay/05core]',
      'postprocess-script: scripts/post.sh',
      'check-passwd: {type: file, filename: passwd}',
      'packages: [base]',
    ].join('\n'),
    'config/manifests/scripts/post.sh': '#!/bin/sh\necho post\n',
    'config/manifests/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
    'config/overlay.d/05core/usr/lib/core.conf': 'core\n',
    'config/overlay.d/05core/usr/bin/core-tool': '#!/bin/sh\n',
    'config/overlay.d/15fcos/etc/fcos.conf': 'fcos\n',
    'config/fedora.repo': FEDORA_REPO,
    'config/manifest-lock.x86_64.json': JSON.stringify({ packages: { own: { evra: '1-1.x86_64' } } }),
  };

  /** A project with `files`, an executable and a symlink in the 05core layer. */
  async function composeProject(): Promise<string> {
    const directory = await project(files);
    const { chmod, symlink } = await import('node:fs/promises');
    await chmod(path.join(directory, 'config/overlay.d/05core/usr/bin/core-tool'), 0o755);
    await symlink('core.conf', path.join(directory, 'config/overlay.d/05core/usr/lib/link.conf'));
    return directory;
  }

  it('holds everything the compose reads, and the same inputs give byte-identical trees', async () => {
    const first = await composeProject();
    const props = { file: 'config/manifest.yaml' };
    const [one, two] = [await runManifest(first, props), await runManifest(first, props)];
    const elsewhere = await makeTempDir('fcos-manifest-copy-');
    await cp(first, elsewhere, { recursive: true, verbatimSymlinks: true });
    const three = await runManifest(elsewhere, props);
    const listing = await treeListing(one.x86_64!.directory);
    expect(Object.keys(listing)).toEqual([
      'check-passwd',
      'layers',
      'layers/overlay',
      'layers/overlay/05core',
      'layers/overlay/05core/usr',
      'layers/overlay/05core/usr/bin',
      'layers/overlay/05core/usr/bin/core-tool',
      'layers/overlay/05core/usr/lib',
      'layers/overlay/05core/usr/lib/core.conf',
      'layers/overlay/05core/usr/lib/link.conf',
      'layers/overlay/15fcos',
      'layers/overlay/15fcos/etc',
      'layers/overlay/15fcos/etc/fcos.conf',
      'lockfile.json',
      'postprocess-script',
      'repos.json',
      'treefile.json',
    ]);
    expect(listing['postprocess-script']).toMatch(/^x /);
    expect(listing['layers/overlay/05core/usr/bin/core-tool']).toMatch(/^x /);
    expect(listing['layers/overlay/05core/usr/lib/link.conf']).toBe('-> core.conf');
    expect(await treeListing(two.x86_64!.directory)).toEqual(listing);
    expect(await treeListing(three.x86_64!.directory)).toEqual(listing);
    const treefile = one.x86_64!.treefile;
    expect(treefile).toMatchObject({
      'ostree-layers': ['overlay/05core', 'overlay/15fcos'],
      'postprocess-script': 'postprocess-script',
      'check-passwd': { type: 'file', filename: 'check-passwd' },
      packages: ['base', 'own'],
    });
    const text = await readFile(path.join(one.x86_64!.directory, 'treefile.json'), 'utf8');
    expect(text).not.toContain(first);
    const keys = Object.keys(JSON.parse(text));
    expect(keys).toEqual([...keys].sort());
  });

  it('fingerprints every file read, and only those', async () => {
    const directory = await composeProject();
    const props = nodeProps({ file: 'config/manifest.yaml' });
    const fingerprint = async () => manifestRunner.fingerprint!(await runnerContext(directory, props));
    const before = (await fingerprint()) as { files: Record<string, string> };
    expect(Object.keys(before.files)).toEqual([
      'config/fedora.repo',
      'config/manifest-lock.x86_64.json',
      'config/manifest.yaml',
      'config/manifests/base.yaml',
      'config/manifests/passwd',
      'config/manifests/scripts/post.sh',
      'config/overlay.d/05core',
      'config/overlay.d/15fcos',
    ]);
    await writeFile(path.join(directory, 'config/unrelated.yaml'), 'x: 1');
    expect(await fingerprint()).toEqual(before);
    await writeFile(path.join(directory, 'config/overlay.d/05core/usr/lib/new.conf'), 'new\n');
    const after = (await fingerprint()) as { files: Record<string, string> };
    expect(after.files['config/overlay.d/05core']).not.toBe(before.files['config/overlay.d/05core']);
    expect(after.files['config/manifest.yaml']).toBe(before.files['config/manifest.yaml']);
    await writeFile(path.join(directory, 'config/manifests/base.yaml'), 'include: gone.yaml');
    expect(await fingerprint()).toMatchObject({
      problem: expect.stringMatching(/gone\.yaml.*does not exist/),
    });
  });
});

describe('add-files in the compose input', () => {
  const files = {
    'config/manifest.yaml': [
      'ref: os/${basearch}',
      'include: manifests/base.yaml',
      'add-files: [[top.conf, /etc/top.conf]]',
    ].join('\n'),
    'config/manifests/base.yaml': 'add-files: [[files/tool, /usr/bin/tool], [files/data, /usr/share/data]]',
    'config/manifests/files/tool': '#!/bin/sh\necho tool\n',
    'config/manifests/files/data': 'data\n',
    'config/top.conf': 'top\n',
  };

  /** A project with `files`, the tool 0750 and the data 0600. */
  async function addFilesProject(): Promise<string> {
    const directory = await project(files);
    const { chmod } = await import('node:fs/promises');
    await chmod(path.join(directory, 'config/manifests/files/tool'), 0o750);
    await chmod(path.join(directory, 'config/manifests/files/data'), 0o600);
    return directory;
  }

  it("copies each source (next to the treefile naming it) as add-files/N, in rpm-ostree's merge order, with its mode", async () => {
    const directory = await addFilesProject();
    const output = (await runManifest(directory, { file: 'config/manifest.yaml' })).x86_64!;
    // add-files appends: the included file's entries first (lib/treefile/merge.ts).
    expect(output.treefile['add-files']).toEqual([
      ['add-files/0', '/usr/bin/tool'],
      ['add-files/1', '/usr/share/data'],
      ['add-files/2', '/etc/top.conf'],
    ]);
    const read = (name: string) => readFile(path.join(output.directory, name), 'utf8');
    expect(await read('add-files/0')).toBe(files['config/manifests/files/tool']);
    expect(await read('add-files/1')).toBe('data\n');
    expect(await read('add-files/2')).toBe('top\n');
    expect(JSON.parse(await read('add-files.json'))).toEqual([
      { file: 'add-files/0', destination: '/usr/bin/tool', mode: 0o750 },
      { file: 'add-files/1', destination: '/usr/share/data', mode: 0o600 },
      { file: 'add-files/2', destination: '/etc/top.conf', mode: 0o644 },
    ]);
    // And the compose reads them back, absolute, with their modes.
    const { readComposeInput } = await import('../lib/treefile/compose-input.ts');
    const input = await readComposeInput(output.directory, NODE);
    expect(input.addFiles).toEqual([
      { file: path.join(output.directory, 'add-files/0'), destination: '/usr/bin/tool', mode: 0o750 },
      { file: path.join(output.directory, 'add-files/1'), destination: '/usr/share/data', mode: 0o600 },
      { file: path.join(output.directory, 'add-files/2'), destination: '/etc/top.conf', mode: 0o644 },
    ]);
  });

  it('fingerprints each source and its mode', async () => {
    const directory = await addFilesProject();
    const props = nodeProps({ file: 'config/manifest.yaml' });
    const fingerprint = async () =>
      (await manifestRunner.fingerprint!(await runnerContext(directory, props))) as {
        files: Record<string, string>;
        addFilesModes: Record<string, unknown>;
      };
    const before = await fingerprint();
    expect(Object.keys(before.files)).toEqual([
      'config/manifest.yaml',
      'config/manifests/base.yaml',
      'config/manifests/files/data',
      'config/manifests/files/tool',
      'config/top.conf',
    ]);
    await writeFile(path.join(directory, 'config/top.conf'), 'changed\n');
    const edited = await fingerprint();
    expect(edited.files['config/top.conf']).not.toBe(before.files['config/top.conf']);
    const { chmod } = await import('node:fs/promises');
    await chmod(path.join(directory, 'config/manifests/files/data'), 0o644);
    const chmodded = await fingerprint();
    expect(chmodded.files).toEqual(edited.files);
    expect(chmodded.addFilesModes).not.toEqual(edited.addFilesModes);
  });

  it('a missing source names the key and the file', async () => {
    const error = await failure({ 'manifest.yaml': 'ref: os\nadd-files: [[gone.conf, /etc/gone.conf]]' });
    expect(error).toBeInstanceOf(TreefilePathError);
    expect(error).toMatchObject({ constructPath: NODE, field: 'add-files.0' });
    expect(error.message).toMatch(/add-files\.0.*gone\.conf is not a file/);
  });
});

describe('Manifest through fcos-run', () => {
  it('builds, is cached, rebuilds when an included file changes, and fails naming the file', async () => {
    const directory = await writeProgram(
      [
        "const pipeline = new Pipeline({ name: 'manifest' });",
        "const stream = new Construct(pipeline, 'testing');",
        "new Manifest(stream, 'Manifest', { file: 'manifest.yaml', arches: ['x86_64', 'aarch64'], variables: { stream: 'testing' } });",
      ].join('\n'),
      {
        'manifest.yaml': 'releasever: 41\nref: os/${basearch}/${stream}\nrepos: [fedora]\ninclude: base.yaml',
        'base.yaml': 'packages: [kernel]',
        'fedora.repo': FEDORA_REPO,
      },
    );
    expect((await synthIn(directory)).stderr).toBe('');
    const first = await runIn(directory);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'finish')).toEqual([NODE]);
    const published = path.join(
      directory,
      'fcos.out/artifacts/testing/Manifest/treefile-aarch64/treefile.json',
    );
    expect(JSON.parse(await readFile(published, 'utf8'))).toMatchObject({ ref: 'os/aarch64/testing' });

    expect((await runIn(directory)).code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'cached')).toEqual([NODE]);

    await writeFile(path.join(directory, 'base.yaml'), 'packages: [kernel, ignition]');
    const plan = await runIn(directory, '--dry-run');
    expect(plan.stdout).toContain("fingerprint 'files.base.yaml' changed");
    expect((await runIn(directory)).code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'finish')).toEqual([NODE]);
    expect(JSON.parse(await readFile(published, 'utf8')).packages).toEqual(['kernel', 'ignition']);

    await writeFile(path.join(directory, 'base.yaml'), 'packages: [kernel]\nunits: [a.service]\nunit: [b]');
    const failed = await runIn(directory);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain("testing/Manifest: base.yaml: unknown key 'unit'");
  });
});
