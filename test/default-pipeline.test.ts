import { cp, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { readAssembly } from '../lib/synth/assembly.ts';
import { linkFcosCdk, makeTempDir, REPO_ROOT, runSynth } from './helpers/temp-project.ts';

const BIN = path.join(REPO_ROOT, 'bin/fcos-synth.js');

/** Runs fcos-synth in-process on the repository's pipeline.ts, into a temporary directory. */
async function synthDefault(...context: string[]) {
  const out = path.join(await makeTempDir(), 'fcos.out');
  const { code, stderr } = await runSynth([
    '--app',
    path.join(REPO_ROOT, 'pipeline.ts'),
    '--out',
    out,
    '-q',
    ...context,
  ]);
  return { code, stderr, out };
}

/** A copy of the project in a new directory, whose `fcos-cdk` is this checkout. */
async function copyProject(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true });
  await cp(path.join(REPO_ROOT, 'pipeline.ts'), path.join(directory, 'pipeline.ts'));
  await cp(path.join(REPO_ROOT, 'local-os'), path.join(directory, 'local-os'), { recursive: true });
  await linkFcosCdk(directory);
}

describe('the default pipeline', () => {
  it('local profile: the tiny OS for x86_64 and aarch64, every platform image, kola, the update and install tests, the live image, no upload, a signed testing release', async () => {
    const { code, stderr, out } = await synthDefault();
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const assembly = await readAssembly(path.join(out, 'pipeline.json'));
    expect(assembly.pipeline.context).toEqual({ profile: 'local' });
    const kinds = Object.fromEntries(
      Object.entries(assembly.nodes).map(([nodePath, node]) => [nodePath, node.kind]),
    );
    // The same nodes for each arch, made by the same code with the arch as a parameter.
    const perArch = (arch: string) => ({
      [`Packages/${arch}`]: 'LocalPackageRepo',
      [`testing/${arch}/BrokenCompose`]: 'RpmOstreeCompose',
      [`testing/${arch}/Build`]: 'Build',
      [`testing/${arch}/Compose`]: 'RpmOstreeCompose',
      [`testing/${arch}/Disk`]: 'DiskImage',
      [`testing/${arch}/InstallTest-iso-offline-install`]: 'InstallTest',
      [`testing/${arch}/InstallTest-pxe-online-install`]: 'InstallTest',
      [`testing/${arch}/Kola`]: 'KolaTest',
      [`testing/${arch}/Live`]: 'LiveImage',
      [`testing/${arch}/PreviousCompose`]: 'RpmOstreeCompose',
      [`testing/${arch}/PreviousDisk`]: 'DiskImage',
      [`testing/${arch}/PreviousQemu`]: 'PlatformImage',
      [`testing/${arch}/RollbackTest`]: 'UpdateTest',
      [`testing/${arch}/RolloutTest`]: 'UpdateTest',
      [`testing/${arch}/UpgradeTest`]: 'UpdateTest',
      [`testing/${arch}/aws`]: 'PlatformImage',
      [`testing/${arch}/azure`]: 'PlatformImage',
      [`testing/${arch}/gce`]: 'PlatformImage',
      [`testing/${arch}/metal`]: 'PlatformImage',
      [`testing/${arch}/qemu`]: 'PlatformImage',
    });
    expect(kinds).toEqual({
      'testing/BrokenManifest': 'Manifest',
      'testing/Manifest': 'Manifest',
      'testing/Publish': 'Publish',
      'testing/Release': 'Release',
      'testing/Updates': 'UpdateMetadata',
      ...perArch('x86_64'),
      ...perArch('aarch64'),
    });
    // Each arch's compose reads its arch's packages; the release carries both arches' builds.
    expect(assembly.nodes['testing/aarch64/Compose']!.inputs['localRepos.0']!.node).toBe('Packages/aarch64');
    expect(assembly.nodes['testing/x86_64/Compose']!.inputs['localRepos.0']!.node).toBe('Packages/x86_64');
    expect(
      Object.entries(assembly.nodes['testing/Release']!.inputs)
        .filter(([field]) => field.startsWith('builds.'))
        .map(([, input]) => input.node),
    ).toEqual(['testing/x86_64/Build', 'testing/aarch64/Build']);
    expect(assembly.nodes['testing/aarch64/Live']!.props.kargs).toEqual([
      'console=tty0',
      'console=ttyAMA0,115200n8',
    ]);
    expect(assembly.nodes['testing/x86_64/Kola']!.props).toMatchObject({
      tests: ['basic', 'ext.*'],
      denylist: 'local-os/kola-denylist.yaml',
    });
    expect(assembly.nodes['testing/Manifest']!.props.file).toBe('local-os/manifest.yaml');
    expect(assembly.nodes['testing/x86_64/Kola']!.inputs.image!.node).toBe('testing/x86_64/qemu');
    // The release is gated on the kola report and published, signed, where fcos-serve looks.
    expect(assembly.nodes['testing/Release']!.inputs['tests.0']!.node).toBe('testing/x86_64/Kola');
    // The update tests gate it too: upgrade and rollout from the previous release (the same
    // manifest dated 2026-09-01) to the current build, rollback from the current build to the
    // broken variant (respin 1).
    const inputsOf = (node: string) =>
      Object.fromEntries(
        Object.entries(assembly.nodes[`testing/x86_64/${node}`]!.inputs).map(([field, input]) => [
          field,
          input.node,
        ]),
      );
    const release = assembly.nodes['testing/Release']!.inputs;
    expect([1, 2, 3].map((index) => release[`tests.${index}`]!.node)).toEqual([
      'testing/x86_64/UpgradeTest',
      'testing/x86_64/RollbackTest',
      'testing/x86_64/RolloutTest',
    ]);
    const fromPrevious = {
      image: 'testing/x86_64/PreviousQemu',
      from: 'testing/x86_64/PreviousCompose',
      to: 'testing/x86_64/Compose',
    };
    expect(inputsOf('UpgradeTest')).toEqual(fromPrevious);
    expect(inputsOf('RolloutTest')).toEqual(fromPrevious);
    expect(inputsOf('RollbackTest')).toEqual({
      image: 'testing/x86_64/qemu',
      from: 'testing/x86_64/Compose',
      to: 'testing/x86_64/BrokenCompose',
    });
    expect(assembly.nodes['testing/x86_64/UpgradeTest']!.props.scenario).toBe('upgrade');
    expect(assembly.nodes['testing/x86_64/PreviousCompose']!.props.timestamp).toBe(
      Date.parse('2026-09-01T00:00:00Z') / 1000,
    );
    expect(assembly.nodes['testing/x86_64/BrokenCompose']!.props.respin).toBe(1);
    expect(assembly.nodes['testing/BrokenManifest']!.props.file).toBe('local-os/tests/update/broken.yaml');
    expect(assembly.nodes['testing/Publish']!.props).toMatchObject({
      destination: { directory: 'fcos.out/publish' },
      signing: 'throwaway',
    });
    expect(assembly.nodes['testing/x86_64/Build']!.props.previousReleases).toBe(
      'fcos.out/publish/prod/streams/testing/releases.json',
    );
    expect(assembly.nodes['testing/Updates']!.props).toMatchObject({
      from: 'fcos.out/publish/updates/testing.json',
      allowMissingFrom: true,
      releases: [
        { version: { $input: 'releases.0.version' }, rollout: { startPercentage: 0, durationMinutes: 2880 } },
      ],
    });
  });

  it('fedora profile: three streams, two arches, every platform with uploads', async () => {
    const config = path.relative(REPO_ROOT, path.join(REPO_ROOT, 'test/fixtures/fedora-coreos-config'));
    const { code, stderr, out } = await synthDefault(
      '-c',
      'profile=fedora',
      '-c',
      `config=${config}`,
      '-c',
      'aws.bucket=fcos-images',
      '-c',
      'azure.subscription=sub',
      '-c',
      'azure.resourceGroup=rg',
      '-c',
      'azure.storageAccount=fcosimages',
      '-c',
      'gcp.project=fedora-coreos-cloud',
      '-c',
      'gcp.bucket=fcos-gce',
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const assembly = await readAssembly(path.join(out, 'pipeline.json'));
    const count = (kind: string) => Object.values(assembly.nodes).filter((node) => node.kind === kind).length;
    expect(count('Manifest')).toBe(3);
    expect(count('RpmOstreeCompose')).toBe(6);
    expect(count('DiskImage')).toBe(12);
    expect(count('PlatformImage')).toBe(36);
    expect(count('Upload')).toBe(18);
    // Kola boots both arches (the harness has qemu-system-aarch64 and AAVMF).
    expect(count('KolaTest')).toBe(6);
    expect(count('LocalPackageRepo')).toBe(0);
    expect(count('Build')).toBe(6);
    expect(count('Release')).toBe(3);
    expect(count('Publish')).toBe(3);
    // Signed with the key CI names in FCOS_SIGNING_*, never a throwaway one.
    expect(assembly.nodes['stable/Publish']!.props.signing).toBe('environment');
    const gce = assembly.nodes['next/aarch64/Upload-gce']!;
    expect(gce.props.options).toMatchObject({
      project: 'fedora-coreos-cloud',
      bucket: 'fcos-gce',
      family: 'fedora-coreos-next-aarch64',
      public: false,
    });
    expect(assembly.nodes['stable/x86_64/metal4k']!.inputs.disk!.node).toBe('stable/x86_64/Disk4k');
    expect(assembly.nodes['stable/Manifest']!.props.file).toBe(
      'test/fixtures/fedora-coreos-config/manifest.yaml',
    );
  });

  it('fedora profile without the config checkout names the missing context value', async () => {
    const { code, stderr } = await synthDefault('-c', 'profile=fedora', '-c', 'upload=false');
    expect(code).toBe(1);
    expect(stderr).toContain(
      "'stable' needs context value 'config', which was not given: pass -c config=VALUE",
    );
  });

  it('publishes to S3 when -c publish.s3.bucket is given', async () => {
    const { code, stderr, out } = await synthDefault(
      '-c',
      'publish.s3.bucket=fcos-builds',
      '-c',
      'publish.s3.endpoint=http://127.0.0.1:9000',
      '-c',
      'release.baseUrl=https://builds.example.org',
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const assembly = await readAssembly(path.join(out, 'pipeline.json'));
    expect(assembly.nodes['testing/Publish']!.props.destination).toMatchObject({
      s3: expect.objectContaining({ bucket: 'fcos-builds', endpoint: 'http://127.0.0.1:9000' }),
    });
    expect(assembly.nodes['testing/Release']!.props.baseUrl).toBe('https://builds.example.org');
    expect(assembly.nodes['testing/x86_64/Build']!.props.previousReleases).toBe(
      'https://builds.example.org/prod/streams/testing/releases.json',
    );
    expect(assembly.nodes['testing/Publish']!.resources.class).toBe('net');
  });

  it('rejects an unknown platform in context, naming the key', async () => {
    const { code, stderr } = await synthDefault('-c', 'platforms=qemu,amiga');
    expect(code).toBe(1);
    expect(stderr).toContain("context 'platforms' is 'qemu,amiga': unknown 'amiga'");
  });

  it('synthesizes to identical bytes from two different directories', async () => {
    const first = path.join(await makeTempDir(), 'a');
    const second = path.join(await makeTempDir(), 'deeper/b');
    await copyProject(first);
    await copyProject(second);
    const runs = await Promise.all(
      [first, second].map((directory) =>
        execa('node', [BIN, '-c', 'platforms=qemu,metal,metal4k', '--graph', 'dot'], { cwd: directory }),
      ),
    );
    for (const run of runs) expect(run.exitCode).toBe(0);
    for (const file of ['pipeline.json', 'graph.mmd', 'graph.dot']) {
      const [a, b] = await Promise.all(
        [first, second].map((directory) => readFile(path.join(directory, 'fcos.out', file))),
      );
      expect(a!.equals(b!)).toBe(true);
      expect(a!.toString()).not.toContain(first);
    }
  }, 60_000);
});
