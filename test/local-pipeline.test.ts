/**
 * The newcomer's job, end to end through the real binaries on a copy of the project: the default
 * pipeline's local profile builds the tiny OS, its disk, every platform image, boots the qemu image
 * and runs kola basic and tests/kola/, then releases it: cosa's meta.json, release.json, a signed
 * publish into fcos.out/publish that fcos-serve serves (the update graph, and the stream's ostree
 * repo pulled by a gpg-verifying client); the summary says where everything is; a second run is
 * served from the cache. The same run proves the update tests (issue #12) through the bins:
 * UpgradeTest, RollbackTest and RolloutTest pass with the boots they should take, each boot's
 * console kept, and FleetLock saw the slot taken and given back. Everything runs for x86_64 and
 * aarch64 (issue #14): the aarch64 guests boot under qemu-system-aarch64 with AAVMF.
 */
import { createHash } from 'node:crypto';
import { cp, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { cosaMetaProblems } from '../lib/release/cosa-meta-validation.ts';
import { streamMetadataSchema, updateGraphSchema } from '../lib/release/formats.ts';
import { startServer } from '../lib/serve/server.ts';
import type { BootsDocument } from '../stages/update-test/report.ts';
import { makeTempDir, makeTempProject, REPO_ROOT } from './helpers/temp-project.ts';

/** The arches the local profile builds and tests, by the same code with the arch as a parameter. */
const ARCHES = ['x86_64', 'aarch64'] as const;
/** One of {@link ARCHES}. */
type LocalArch = (typeof ARCHES)[number];
/** The number of nodes of the default local pipeline: 20 per arch and five for the stream. */
const NODES = 45;

/** The update tests of the local profile, and the scenario each runs. */
const UPDATE_TESTS = { UpgradeTest: 'upgrade', RollbackTest: 'rollback', RolloutTest: 'rollout' } as const;

/** Runs one of the bins in `directory`. */
function bin(directory: string, name: string, ...args: string[]) {
  return execa('node', [path.join(REPO_ROOT, 'bin', `${name}.js`), ...args], {
    cwd: directory,
    reject: false,
  });
}

/** What outputs.json says of a node's output (path relative to fcos.out, metadata). */
interface ListedOutput {
  readonly path: string;
  readonly digest: string;
  readonly metadata: Record<string, unknown>;
}

describe('the local profile of pipeline.ts', () => {
  let directory: string;
  let first: Awaited<ReturnType<typeof bin>>;
  /** A node's output, as outputs.json lists it (the summary lists 20 deliverables, then points there). */
  const output = async (node: string, name: string): Promise<ListedOutput> => {
    const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
    const listed = outputs[node]?.[name] as ListedOutput | undefined;
    expect(listed, `${node} ${name} in outputs.json`).toBeDefined();
    return listed!;
  };
  /** A test node's report, listed in outputs.json, with every planned test passed. */
  const expectPassedReport = async (node: string, passed: number) => {
    const report = await output(node, 'report');
    expect(report.path).toBe(`artifacts/${node}/report`);
    // Every test the node planned passed: none failed, skipped or flaky.
    expect(report.metadata).toMatchObject({ passed, total: passed });
    expect(report.metadata.flaky ?? 0).toBe(0);
  };

  beforeAll(async () => {
    directory = await makeTempProject('fcos-local-');
    for (const entry of ['pipeline.ts', 'local-os']) {
      await cp(path.join(REPO_ROOT, entry), path.join(directory, entry), { recursive: true });
    }
    const synth = await bin(directory, 'fcos-synth');
    expect(synth.stderr).toBe('');
    first = await bin(directory, 'fcos-run', '--plain');
    // The update and install tests' VMs (issues #12, #13) make the cold run several minutes on 2 cores.
  }, 1_500_000);

  it('builds and tests everything, and says where the images and reports are', async () => {
    // On failure, the run's own summary and failing node's lines say why.
    expect(first.stderr).toBe('');
    expect(first.exitCode, first.stdout.split('\n').slice(-40).join('\n')).toBe(0);
    expect(first.stdout).toMatch(
      new RegExp(`fcos-run: ok in .*: ${NODES} built, 0 cached, 0 failed, 0 skipped`),
    );
    expect(first.stdout).toMatch(
      /critical path .*(Compose -> testing\/(x86_64|aarch64)\/Disk -> testing\/\2\/qemu -> testing\/\2\/(Kola|RollbackTest)|PreviousQemu -> testing\/(x86_64|aarch64)\/(UpgradeTest|RolloutTest)|metal -> testing\/(x86_64|aarch64)\/Live -> testing\/\6\/InstallTest-[a-z-]+) -> testing\/Release -> testing\/Updates -> testing\/Publish/,
    );
    const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
    // The summary names the first 20 deliverables (images, reports, live media) and points to
    // outputs.json for the rest, where every one of them is.
    expect(first.stdout).toMatch(/^ {2}(image|tests|live): fcos\.out\/artifacts\//m);
    expect(first.stdout).toMatch(/^ {2}\.\.\. and \d+ more in fcos\.out\/outputs\.json$/m);
    for (const arch of ARCHES) {
      for (const [node, image] of [
        ['aws', `aws.${arch}.vmdk`],
        ['azure', `azure.${arch}.vhd`],
        ['gce', `gcp.${arch}.tar.gz`],
        ['metal', `metal.${arch}.raw`],
        ['qemu', `qemu.${arch}.qcow2`],
      ] as const) {
        const listed = await output(`testing/${arch}/${node}`, 'image');
        expect(listed.path).toMatch(
          new RegExp(
            `^artifacts/testing/${arch}/${node}/fedora-coreos-41\\.\\d{8}\\.2\\.0-${image.replace(/\./g, '\\.')}$`,
          ),
        );
        await stat(path.join(directory, 'fcos.out', listed.path));
      }
      await expectPassedReport(`testing/${arch}/Kola`, 4);
      expect(outputs[`testing/${arch}/qemu`].image.metadata).toMatchObject({ platform: 'qemu', arch });
      expect(outputs[`testing/${arch}/qemu`].image.metadata.sha256).toBe(
        outputs[`testing/${arch}/qemu`].image.digest,
      );
      const report = JSON.parse(
        await readFile(
          path.join(directory, `fcos.out/artifacts/testing/${arch}/Kola/report/report.json`),
          'utf8',
        ),
      );
      expect(report.arch).toBe(arch);
      // The guest booted its arch's commit, with Ignition's qemu platform (AAVMF on aarch64).
      const console = await readFile(
        path.join(directory, `fcos.out/artifacts/testing/${arch}/Kola/report/consoles/vm1.log`),
        'utf8',
      );
      // First boot of the qcow2 as PlatformImage made it: GRUB's firstboot stamp, the deployment
      // ostree deployed.
      const commandLine = /command line: (.*)/i.exec(console)?.[1] ?? '';
      expect(commandLine).toMatch(/ ignition\.platform\.id=qemu /);
      expect(commandLine).toContain(' ignition.firstboot ');
      expect(commandLine).toMatch(/ostree=\/ostree\/boot\.1\/fedora-coreos\/[0-9a-f]{64}\/0/);
      // platforms.yaml: x86_64's qemu entry sets the serial console; aarch64's sets GRUB's only,
      // since the kernel finds the PL011 itself.
      if (arch === 'x86_64') expect(commandLine).toMatch(/ console=ttyS0,115200n8\s*$/);
      else expect(commandLine).not.toContain('console=');
      expect(console).toContain('FCOS-CDK: initramfs ignition done');
      expect(console).toContain(
        `FCOS-CDK: booted deployment=fedora-coreos/${outputs[`testing/${arch}/Compose`].commit.digest}.0 platform=qemu`,
      );
      expect(
        report.tests.map((test: { name: string; result: string }) => `${test.name}:${test.result}`),
      ).toEqual([
        'basic:pass',
        'ext.config.hello:pass',
        'ext.config.os-release:pass',
        'ext.config.users-groups:pass',
      ]);
    }
  });

  it('publishes a signed testing release that fcos-serve serves: graph, stream metadata, a verified ostree pull', async () => {
    const version = /published: testing (41\.\d{8}\.2\.0) in fcos\.out\/publish/.exec(first.stdout)?.[1];
    expect(version).toBeDefined();
    const publish = path.join(directory, 'fcos.out/publish');
    const metas = new Map<
      LocalArch,
      { buildid: string; 'coreos-assembler.basearch': string; 'ostree-commit': string }
    >();
    for (const arch of ARCHES) {
      const meta = JSON.parse(
        await readFile(
          path.join(publish, `prod/streams/testing/builds/${version}/${arch}/meta.json`),
          'utf8',
        ),
      );
      expect(cosaMetaProblems(meta)).toEqual([]);
      expect(meta.buildid).toBe(version);
      expect(meta['coreos-assembler.basearch']).toBe(arch);
      metas.set(arch, meta);
    }
    // The two arches are two commits of one release.
    expect(metas.get('aarch64')!['ostree-commit']).not.toBe(metas.get('x86_64')!['ostree-commit']);
    const release = JSON.parse(
      await readFile(path.join(publish, `prod/streams/testing/builds/${version}/release.json`), 'utf8'),
    );
    expect(Object.keys(release.architectures).sort()).toEqual(['aarch64', 'x86_64']);
    const meta = metas.get('x86_64')!;
    const server = await startServer({ root: publish, port: 0 });
    try {
      // The update graph per basearch: each arch's node is its own commit.
      for (const arch of ARCHES) {
        const graph = updateGraphSchema.parse(
          await (await fetch(`${server.url}/v1/graph?basearch=${arch}&stream=testing`)).json(),
        );
        expect(graph.nodes).toHaveLength(1);
        expect(graph.nodes[0]).toMatchObject({ version, payload: metas.get(arch)!['ostree-commit'] });
        expect(graph.nodes[0]!.metadata['org.fedoraproject.coreos.updates.rollout']).toBe('true');
      }
      const stream = streamMetadataSchema.parse(
        await (await fetch(`${server.url}/streams/testing.json`)).json(),
      );
      for (const arch of ARCHES) expect(stream.architectures[arch]!.artifacts.qemu!.release).toBe(version);
      // A client that trusts only the published key pulls the stream's commit, signature checked.
      const client = await makeTempDir('fcos-client-');
      const repo = path.join(client, 'repo');
      await execa('ostree', ['init', `--repo=${repo}`, '--mode=bare-user']);
      await execa('ostree', [
        'remote',
        'add',
        `--repo=${repo}`,
        '--set=gpg-verify=true',
        '--set=gpg-verify-summary=true',
        'fcos',
        `${server.url}/prod/streams/testing/repo`,
      ]);
      const key = await (await fetch(`${server.url}/signing-key.asc`)).text();
      await execa('ostree', ['remote', 'gpg-import', `--repo=${repo}`, '--stdin', 'fcos'], { input: key });
      for (const arch of ARCHES) {
        const ref = `fedora/${arch}/coreos/testing`;
        await execa('ostree', ['pull', `--repo=${repo}`, 'fcos', ref]);
        const shown = await execa('ostree', ['show', `--repo=${repo}`, ref]);
        expect(shown.stdout).toContain(`commit ${metas.get(arch)!['ostree-commit']}`);
        expect(shown.stdout).toContain('Found 1 signature');
      }
      expect(meta.buildid).toBe(version);
    } finally {
      await server.close();
    }
  });

  it('builds the live ISO and PXE artifacts, installs from each, and publishes them as the metal iso and pxe formats', async () => {
    const version = /published: testing (41\.\d{8}\.2\.0) in fcos\.out\/publish/.exec(first.stdout)?.[1];
    const publish = path.join(directory, 'fcos.out/publish');
    const stream = streamMetadataSchema.parse(
      JSON.parse(await readFile(path.join(publish, 'streams/testing.json'), 'utf8')),
    );
    for (const arch of ARCHES) {
      expect((await output(`testing/${arch}/Live`, 'live')).path).toBe(`artifacts/testing/${arch}/Live/live`);
      for (const scenario of ['iso-offline-install', 'pxe-online-install']) {
        await expectPassedReport(`testing/${arch}/InstallTest-${scenario}`, 1);
        const boots = JSON.parse(
          await readFile(
            path.join(
              directory,
              `fcos.out/artifacts/testing/${arch}/InstallTest-${scenario}/report/boots.json`,
            ),
            'utf8',
          ),
        );
        // The live system's boot (which installs), then the installed disk's own.
        expect(boots.boots.map((boot: { name: string }) => boot.name)).toHaveLength(2);
      }
      const metal = stream.architectures[arch]!.artifacts.metal!;
      expect(Object.keys(metal.formats).sort()).toEqual(['iso', 'pxe', 'raw']);
      const iso = metal.formats.iso!.disk!;
      expect(iso.location).toMatch(new RegExp(`/fedora-coreos-${version}-live-iso\\.${arch}\\.iso$`));
      expect(Object.keys(metal.formats.pxe!).sort()).toEqual(['initramfs', 'kernel', 'rootfs']);
      const archDirectory = path.join(publish, `prod/streams/testing/builds/${version}/${arch}`);
      for (const file of [path.basename(iso.location), `fedora-coreos-${version}-live-rootfs.${arch}.img`]) {
        const bytes = await readFile(path.join(archDirectory, file));
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(
          file.endsWith('.iso') ? iso.sha256 : metal.formats.pxe!.rootfs!.sha256,
        );
        await readFile(path.join(archDirectory, `${file}.sig`));
      }
    }
  });

  /** An update test's report directory in the copy. */
  const reportDir = (test: keyof typeof UPDATE_TESTS, arch: LocalArch) =>
    path.join(directory, `fcos.out/artifacts/testing/${arch}/${test}/report`);
  /** An update test's boots.json. */
  const bootsOf = async (test: keyof typeof UPDATE_TESTS, arch: LocalArch): Promise<BootsDocument> =>
    JSON.parse(await readFile(path.join(reportDir(test, arch), 'boots.json'), 'utf8'));

  it('runs the three update tests on each arch, each passing (their reports gate the release)', async () => {
    for (const arch of ARCHES) {
      for (const [test, scenario] of Object.entries(UPDATE_TESTS)) {
        await expectPassedReport(`testing/${arch}/${test}`, 1);
        const report = JSON.parse(
          await readFile(
            path.join(reportDir(test as keyof typeof UPDATE_TESTS, arch), 'report.json'),
            'utf8',
          ),
        );
        expect(report.arch).toBe(arch);
        expect(
          report.tests.map((entry: { name: string; result: string }) => [entry.name, entry.result]),
        ).toEqual([[`update.${scenario}`, 'pass']]);
      }
    }
  });

  it.each(ARCHES)(
    'upgrade on %s: two boots (stage and reboot, then power off), the FleetLock slot taken and given back',
    async (arch) => {
      const boots = await bootsOf('UpgradeTest', arch);
      expect(boots.problems).toEqual([]);
      expect(boots.machines[0]!.boots.map((boot) => boot.end)).toEqual(['reboot reason=update', 'power-off']);
      expect(boots.fleetLock.map((event) => [event.action, event.granted])).toEqual([
        ['pre-reboot', true],
        ['steady-state', true],
      ]);
      const console = await readFile(
        path.join(reportDir('UpgradeTest', arch), boots.machines[0]!.boots[1]!.console),
        'utf8',
      );
      expect(console).toContain('FCOS-CDK: agent fleet-lock released group=default');
      // The first boot consumed GRUB's firstboot stamp: the second boots without Ignition.
      const commandLine = /command line: (.*)/i.exec(console)?.[1] ?? '';
      expect(commandLine).toMatch(/ostree=\/ostree\/boot\.[01]\/fedora-coreos\/[0-9a-f]{64}\/\d/);
      expect(commandLine).not.toContain('ignition.firstboot');
      expect(console).toContain('FCOS-CDK: initramfs ignition skipped (no ignition.firstboot)');
    },
  );

  it.each(ARCHES)(
    'rollback on %s: stage, two unhealthy trial boots, the fallback boot records the rollback and powers off',
    async (arch) => {
      const boots = await bootsOf('RollbackTest', arch);
      expect(boots.problems).toEqual([]);
      expect(boots.machines[0]!.boots.map((boot) => boot.end)).toEqual([
        'reboot reason=update',
        'reboot reason=health-check',
        'reboot reason=health-check',
        'power-off',
      ]);
      const last = await readFile(
        path.join(reportDir('RollbackTest', arch), boots.machines[0]!.boots[3]!.console),
        'utf8',
      );
      expect(last).toMatch(
        /FCOS-CDK: rollback from=41\.\d{8}\.2\.1 checksum=[0-9a-f]{64} reason=required health check failed: 50-always-fails/,
      );
      expect(last).toMatch(/FCOS-CDK: agent update skipped version=41\.\d{8}\.2\.1 reason=denylisted/);
    },
  );

  it.each(ARCHES)(
    'rollout on %s: the wary machine powers off with no update, the eager one stages and reboots',
    async (arch) => {
      const boots = await bootsOf('RolloutTest', arch);
      expect(boots.problems).toEqual([]);
      expect(boots.machines.map((machine) => [machine.name, machine.boots.map((boot) => boot.end)])).toEqual([
        ['wary', ['power-off']],
        ['eager', ['reboot reason=update']],
      ]);
    },
  );

  it('serves a second run from the cache', async () => {
    const again = await bin(directory, 'fcos-run', '--plain');
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(`fcos-run: ok in .*: 0 built, ${NODES} cached, 0 failed, 0 skipped`),
    );
  });
});
