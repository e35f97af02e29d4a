/**
 * The KolaTest runner for real: the tiny OS's qemu image booted under QEMU with a real Ignition
 * config (a file and a user, checked from inside the guest), external tests that pass, fail, are
 * flaky, denylisted or not for this arch, the JUnit report, a broken image that never boots, and an
 * invalid Ignition config rejected before any boot. Three boots in all.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { runTool } from '../lib/exec.ts';
import type { RunnerContext } from '../lib/runner.ts';
import type { JsonValue } from '../lib/util/canonical-json.ts';
import { buildDisk, buildImage } from './helpers/disk-images.ts';
import { KOLA_NODE_PROPS } from './helpers/kola-props.ts';
import { RUNNERS } from './helpers/runners.ts';
import { makeTempDir, REPO_ROOT } from './helpers/temp-project.ts';

/** Writes an external test directory with its script, kola.json and optional config.ign. */
async function externalTest(root: string, name: string, script: string, kolaJson: object, config?: object) {
  const directory = path.join(root, name);
  await mkdir(directory, { recursive: true });
  await writeFile(path.join(directory, 'test.sh'), `#!/usr/bin/sh\n${script}\n`);
  await chmod(path.join(directory, 'test.sh'), 0o755);
  await writeFile(path.join(directory, 'kola.json'), JSON.stringify(kolaJson));
  if (config) await writeFile(path.join(directory, 'config.ign'), JSON.stringify(config));
}

/** Runs the KolaTest runner on `image` with `props` over the defaults; the work dir is returned too. */
async function kola(
  image: { path: string; digest: string },
  props: Record<string, JsonValue>,
  projectDir: string,
) {
  const workDir = await makeTempDir('fcos-kola-');
  const log: string[] = [];
  const context: RunnerContext = {
    nodePath: 'testing/x86_64/Kola',
    props: { ...KOLA_NODE_PROPS, ...props },
    inputs: {
      image: {
        type: 'platform-image',
        digest: image.digest,
        storage: 'file',
        path: image.path,
        metadata: {
          arch: 'x86_64',
          platform: 'qemu',
          format: 'qcow2',
          fileName: 'fedora-coreos-qemu.x86_64.qcow2',
        },
      },
    },
    declaredOutputs: {},
    projectDir,
    signal: new AbortController().signal,
    workDir,
    ostreeRepo: '',
    log: (line) => log.push(line),
    exec: (file, args, options) => runTool(file, args, { ...options, log: (line) => log.push(line) }),
  };
  const run = RUNNERS.KolaTest.run(context);
  return { run, workDir, log };
}

/** Whether a qemu process booting `file` is still alive. */
async function qemuRunningFor(file: string): Promise<boolean> {
  const result = await execa('pgrep', ['-f', `qemu-system.*${file}`], { reject: false });
  return result.exitCode === 0;
}

describe('KolaTest', () => {
  let image: { path: string; digest: string };
  let project: string;

  beforeAll(async () => {
    const disk = await buildDisk();
    const qcow2 = await buildImage(disk, 'qemu');
    image = { path: qcow2.path, digest: qcow2.digest };
    project = await makeTempDir('fcos-kola-project-');
    const tests = path.join(project, 'tests/kola');
    // exclusive: false shares basic's VM (kola's default for an external test is a VM of its own).
    await externalTest(
      tests,
      'hello',
      'test -L /ostree && . "$KOLA_EXT_DATA/greeting.sh" && echo "hello from the guest, $GREETING $KOLA_TEST"',
      { tags: ['smoke'], exclusive: false },
    );
    // data/ beside a test reaches the guest at $KOLA_EXT_DATA, as kola copies it.
    await mkdir(path.join(tests, 'hello/data'));
    await writeFile(path.join(tests, 'hello/data/greeting.sh'), 'GREETING="data from the host for"\n');
    await externalTest(tests, 'broken', 'echo "about to fail"\necho boom\nexit 3', {
      timeoutMin: 1,
      exclusive: false,
    });
    await externalTest(
      tests,
      'flaky',
      'test "$(cat /etc/fcos-cdk/attempt)" = 2 || { echo "first attempt"; exit 1; }',
      { exclusive: false },
    );
    await externalTest(tests, 'denied', 'exit 1', {});
    await externalTest(tests, 'arm-only', 'exit 1', { architectures: 'aarch64' });
    await writeFile(
      path.join(project, 'denylist.yaml'),
      '- pattern: ext.config.denied\n  tracker: https://example.invalid/issue/7\n',
    );
  }, 180_000);

  it('boots the image with Ignition, checks basic from inside the guest, and reports every test', async () => {
    const { run, workDir, log } = await kola(
      image,
      { tests: ['basic', 'ext.*'], denylist: 'denylist.yaml' },
      project,
    );
    const failure = await run.then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure?.message).toMatch(
      /^1 test failed: ext\.config\.broken; ext\.config\.broken: exit 3: boom\n--- last console lines of ext\.config\.broken ---\n/,
    );
    expect(failure?.message).toContain('FCOS-CDK: test ext.config.broken fail exit 3: boom');
    expect(failure).toMatchObject({ constructPath: 'testing/x86_64/Kola', field: 'tests' });
    expect(log.join('\n')).toContain('rerunning ext.config.broken, ext.config.flaky');

    const report = JSON.parse(await readFile(path.join(workDir, 'report/report.json'), 'utf8'));
    const results = Object.fromEntries(
      report.tests.map((test: { name: string; result: string }) => [test.name, test.result]),
    );
    expect(results).toEqual({
      basic: 'pass',
      'ext.config.arm-only': 'skip',
      'ext.config.broken': 'fail',
      'ext.config.denied': 'skip',
      'ext.config.flaky': 'flaky',
      'ext.config.hello': 'pass',
    });
    const denied = report.tests.find((test: { name: string }) => test.name === 'ext.config.denied');
    expect(denied.reason).toBe('denylisted (https://example.invalid/issue/7)');

    const console = await readFile(path.join(workDir, 'report/consoles/vm1.log'), 'utf8');
    expect(console).toMatch(/Kernel command line: .*ignition\.platform\.id=qemu/);
    expect(console).toContain('FCOS-CDK: user core uid=1000 home=/home/core');
    expect(console).toContain('basic: file, user and read-only /usr as expected');
    expect(console).toContain('hello from the guest, data from the host for ext.config.hello');

    const junit = await readFile(path.join(workDir, 'report/junit.xml'), 'utf8');
    expect(junit).toMatch(
      /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="kola" tests="6" failures="1" skipped="2" /,
    );
    expect(junit).toMatch(
      /<testsuite name="testing\/x86_64\/Kola \(qemu, x86_64\)" tests="6" failures="1" skipped="2"/,
    );
    expect(junit).toMatch(
      /<testcase classname="kola\.qemu" name="ext\.config\.broken" time="[\d.]+">\n\s+<failure message="exit 3: boom"\/>/,
    );
    expect(junit).toMatch(
      /<testcase classname="kola\.qemu" name="ext\.config\.denied" time="0\.000">\n\s+<skipped message="denylisted/,
    );
    expect(junit).toMatch(
      /<testcase classname="kola\.qemu" name="ext\.config\.flaky"[^>]*>\n\s+<system-err>flaky: failed, then passed on rerun/,
    );
    expect(junit.match(/<testcase /g)).toHaveLength(6);
    expect(junit.match(/<\/testcase>/g)).toHaveLength(6);
    expect(junit).not.toContain(String.fromCharCode(27));
    expect(await qemuRunningFor(image.path)).toBe(false);
  }, 240_000);

  it('stops a VM whose image does not boot, in time, with the console tail, and leaves no qemu behind', async () => {
    const broken = await buildImage(await buildDisk({ kargs: ['rdinit=/bin/sh'] }), 'qemu');
    const started = Date.now();
    const { run } = await kola(
      { path: broken.path, digest: broken.digest },
      // Long enough for the kernel to have printed even when another test file shares the cores
      // (its first line came 7.5 s after QEMU started in the local pipeline's Kola boot, TCG).
      { bootTimeoutSeconds: 30, rerunFailed: false },
      REPO_ROOT,
    );
    await expect(run).rejects.toThrow(
      /1 test failed: basic; basic: no result: the OS did not boot in 30 s, the VM was stopped before the test reported\n--- last console lines of basic ---\n\[\s*\d+\.\d+\] /,
    );
    expect(Date.now() - started).toBeLessThan(100_000);
    expect(await qemuRunningFor(broken.path)).toBe(false);
  }, 180_000);

  it("rejects a test's invalid Ignition config before booting, pointing into its config.ign", async () => {
    const badProject = await makeTempDir('fcos-kola-bad-');
    await externalTest(
      path.join(badProject, 'tests/kola'),
      'bad-config',
      'exit 0',
      {},
      {
        ignition: { version: '3.3.0' },
        storage: { files: [{ path: 'relative/path', mode: 420 }] },
      },
    );
    const { run, workDir } = await kola(image, { tests: ['ext.*'] }, badProject);
    // Checked in the user's file, before the image is even decompressed.
    await expect(run).rejects.toThrow(
      /^the Ignition config of ext\.config\.bad-config is invalid \(ignition-validate\):\n {2}tests\/kola\/bad-config\/config\.ign:1:\d+: \$\.storage\.files\.0\.path: path not absolute$/,
    );
    await expect(readFile(path.join(workDir, 'report/consoles/vm1.log'))).rejects.toThrow(/ENOENT/);
  });

  it('names a test directory whose script is not executable when nothing matches', async () => {
    const badProject = await makeTempDir('fcos-kola-nojson-');
    await mkdir(path.join(badProject, 'tests/kola/orphan'), { recursive: true });
    await writeFile(path.join(badProject, 'tests/kola/orphan/test.sh'), '#!/bin/sh\n');
    const { run } = await kola(image, { tests: ['ext.*'] }, badProject);
    await expect(run).rejects.toThrow("test directory 'orphan'");
  });
});
