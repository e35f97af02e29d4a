/**
 * The newcomer's job, end to end through the real binaries on a copy of the project: the default
 * pipeline's local profile builds the tiny OS, its disk, every platform image, boots the qemu image
 * and runs kola basic and tests/kola/; the summary says where the images and reports are; a second
 * run is served from the cache.
 */
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeTempProject, REPO_ROOT } from './helpers/temp-project.ts';

/** Runs one of the bins in `directory`. */
function bin(directory: string, name: string, ...args: string[]) {
  return execa('node', [path.join(REPO_ROOT, 'bin', `${name}.js`), ...args], {
    cwd: directory,
    reject: false,
  });
}

describe('the local profile of pipeline.ts', () => {
  let directory: string;
  let first: Awaited<ReturnType<typeof bin>>;

  beforeAll(async () => {
    directory = await makeTempProject('fcos-local-');
    for (const entry of ['pipeline.ts', 'local-os']) {
      await cp(path.join(REPO_ROOT, entry), path.join(directory, entry), { recursive: true });
    }
    const synth = await bin(directory, 'fcos-synth');
    expect(synth.stderr).toBe('');
    first = await bin(directory, 'fcos-run', '--plain');
  }, 300_000);

  it('builds and tests everything, and says where the images and reports are', async () => {
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toMatch(/fcos-run: ok in .*: 10 built, 0 cached, 0 failed, 0 skipped/);
    expect(first.stdout).toMatch(
      /critical path .*Compose -> testing\/x86_64\/Disk -> testing\/x86_64\/qemu -> testing\/x86_64\/Kola/,
    );
    for (const image of [
      'aws.x86_64.vmdk',
      'azure.x86_64.vhd',
      'gcp.x86_64.tar.gz',
      'metal.x86_64.raw',
      'qemu.x86_64.qcow2',
    ]) {
      expect(first.stdout).toMatch(
        new RegExp(
          `image: fcos\\.out/artifacts/testing/x86_64/\\w+/fedora-coreos-41\\.\\d{8}\\.2\\.0-${image.replace(/\./g, '\\.')}`,
        ),
      );
    }
    expect(first.stdout).toContain(
      'tests: fcos.out/artifacts/testing/x86_64/Kola/report (4 passed, 0 skipped, 0 flaky)',
    );
    const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
    expect(outputs['testing/x86_64/qemu'].image.metadata).toMatchObject({ platform: 'qemu', arch: 'x86_64' });
    expect(outputs['testing/x86_64/qemu'].image.metadata.sha256).toBe(
      outputs['testing/x86_64/qemu'].image.digest,
    );
    const report = JSON.parse(
      await readFile(
        path.join(directory, 'fcos.out/artifacts/testing/x86_64/Kola/report/report.json'),
        'utf8',
      ),
    );
    expect(
      report.tests.map((test: { name: string; result: string }) => `${test.name}:${test.result}`),
    ).toEqual([
      'basic:pass',
      'ext.config.hello:pass',
      'ext.config.os-release:pass',
      'ext.config.users-groups:pass',
    ]);
  });

  it('serves a second run from the cache', async () => {
    const again = await bin(directory, 'fcos-run', '--plain');
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/fcos-run: ok in .*: 0 built, 10 cached, 0 failed, 0 skipped/);
  });
});
