import { chmod, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTool } from '../lib/exec.ts';
import { consoleTail, parseConsole } from '../lib/kola/console.ts';
import { judge, readDenylist } from '../lib/kola/denylist.ts';
import { admits, discoverExternalTests, scanExternalTests } from '../lib/kola/external-tests.ts';
import { readDataFiles } from '../lib/kola/test-data.ts';
import type { RunnerContext } from '../lib/runner.ts';
import { InvalidIgnitionConfigError } from '../lib/vm/ignition.ts';
import { groupIntoVms } from '../stages/kola-test/reruns.ts';
import type { KolaRunnerContext, KolaRunnerProps } from '../stages/kola-test/runner-context.ts';
import { checkTestConfigs, pointIntoFile } from '../stages/kola-test/test-configs.ts';
import { planTests } from '../stages/kola-test/test-plan.ts';
import { vmIgnitionConfig } from '../stages/kola-test/vm-config.ts';
import { KOLA_NODE_PROPS } from './helpers/kola-props.ts';
import { RUNNERS } from './helpers/runners.ts';
import { makeTempDir } from './helpers/temp-project.ts';

describe('kola denylist', () => {
  it('reads the kola-denylist.yaml format and matches by pattern, arch, stream, platform, snooze and warn', async () => {
    const directory = await makeTempDir();
    const file = path.join(directory, 'kola-denylist.yaml');
    await writeFile(
      file,
      `- pattern: fcos.internet
  tracker: https://example.invalid/1478
- pattern: ext.mirror*
  arches: [ppc64le]
  warn: true
- pattern: ext.crash
  streams: [next, rawhide]
- pattern: ext.cloudy
  platforms: aws
- pattern: ext.snoozed
  snooze: 2026-01-01
- pattern: ext.flaky
  warn: true
`,
    );
    const entries = await readDenylist(file);
    const today = new Date('2026-06-01T00:00:00Z');
    const on = (test: string, extra: Partial<{ arch: string; stream: string; platform: string }> = {}) =>
      judge(entries, { test, arch: 'x86_64', platform: 'qemu', today, ...extra }).action;
    expect(on('fcos.internet')).toBe('skip');
    expect(on('ext.mirror-boot')).toBe('run');
    expect(on('ext.mirror-boot', { arch: 'ppc64le' })).toBe('warn');
    expect(on('ext.crash')).toBe('run');
    expect(on('ext.crash', { stream: 'next' })).toBe('skip');
    expect(on('ext.cloudy')).toBe('run');
    expect(on('ext.cloudy', { platform: 'aws' })).toBe('skip');
    expect(on('ext.snoozed')).toBe('run');
    expect(
      judge(entries, { test: 'ext.snoozed', arch: 'x86_64', platform: 'qemu', today: new Date('2025-12-01') })
        .action,
    ).toBe('skip');
    expect(on('ext.flaky')).toBe('warn');
    expect(on('basic')).toBe('run');
  });

  it('names the bad entry of a malformed denylist', async () => {
    const file = path.join(await makeTempDir(), 'deny.yaml');
    await writeFile(file, '- pattern: x\n  colour: blue\n');
    await expect(readDenylist(file)).rejects.toThrow(/deny\.yaml: entry 0: Unrecognized key: "colour"/);
  });
});

describe('external tests', () => {
  it('finds tests/kola/<name>/ with its executables and kola.json, and names a bad directory', async () => {
    const directory = await makeTempDir();
    const addTest = async (name: string, kolaJson: string | undefined, executables: string[]) => {
      await mkdir(path.join(directory, name));
      if (kolaJson !== undefined) await writeFile(path.join(directory, name, 'kola.json'), kolaJson);
      for (const executable of executables) {
        await writeFile(path.join(directory, name, executable), '#!/bin/sh\nexit 0\n');
        await chmod(path.join(directory, name, executable), 0o755);
      }
    };
    await addTest(
      'hello',
      '{"architectures": "x86_64 aarch64", "tags": ["smoke"], "timeoutMin": 2, "exclusive": false, "additionalDisks": ["1G"]}',
      ['test.sh'],
    );
    const tests = await discoverExternalTests(directory);
    expect(tests).toHaveLength(1);
    expect(tests[0]).toMatchObject({
      name: 'ext.config.hello',
      executable: 'test.sh',
      metadata: { architectures: ['x86_64', 'aarch64'], tags: ['smoke'], timeoutMin: 2 },
    });
    expect(tests[0]!.warnings).toEqual([
      'kola.json key additionalDisks (["1G"]) is not supported by the QEMU harness and was ignored: extra disks are not attached',
    ]);
    // kola needs no kola.json; an executable not called test.sh gives its name to the test.
    await addTest('nojson', undefined, ['test']);
    expect((await discoverExternalTests(directory)).map((test) => test.name)).toEqual([
      'ext.config.hello',
      'ext.config.nojson.test',
    ]);
    await writeFile(path.join(directory, 'nojson', 'kola.json'), '{"timeoutMin": "soon"}');
    await expect(discoverExternalTests(directory)).rejects.toThrow(
      /test directory 'nojson': kola.json timeoutMin: Invalid input/,
    );
    await writeFile(path.join(directory, 'nojson', 'kola.json'), '{');
    await expect(discoverExternalTests(directory)).rejects.toThrow(
      /test directory 'nojson': kola.json is not JSON/,
    );
    await writeFile(path.join(directory, 'nojson', 'kola.json'), '{"colour": "blue"}');
    await expect(discoverExternalTests(directory)).rejects.toThrow(
      /test directory 'nojson': kola.json Unrecognized key: "colour"/,
    );
    await writeFile(path.join(directory, 'nojson', 'kola.json'), '{}');
    // Several executables in one directory: one test each, named after it.
    await addTest('two', '{}', ['a', 'b']);
    expect((await discoverExternalTests(directory)).map((test) => test.name)).toEqual([
      'ext.config.hello',
      'ext.config.nojson.test',
      'ext.config.two.a',
      'ext.config.two.b',
    ]);
  });

  it('reads kola lists with negations', () => {
    expect(admits(undefined, 's390x')).toBe(true);
    expect(admits(['x86_64', 'aarch64'], 's390x')).toBe(false);
    expect(admits(['!s390x'], 'x86_64')).toBe(true);
    expect(admits(['!s390x'], 's390x')).toBe(false);
  });
});

describe('console', () => {
  it('parses the FCOS-CDK line protocol and finds failure patterns', () => {
    const log = [
      '[    0.000000] Linux version 6.1.0',
      '[    0.000000] Kernel command line: BOOT_IMAGE=/ostree/x/vmlinuz ostree=/ostree/boot.1/fedora-coreos/abc/0 ignition.platform.id=qemu',
      'FCOS-CDK: booted deployment=fedora-coreos/abc.0 platform=qemu',
      'FCOS-CDK: usr-readonly yes',
      'FCOS-CDK: ignition result=present',
      'FCOS-CDK: user core uid=1000 home=/home/core',
      '  basic| all good',
      'FCOS-CDK: test basic pass',
      'FCOS-CDK: test ext.broken fail exit 3: boom',
      '[   12.000000] a.out[42]: segfault at 0 ip 00000000 sp 0 error 4',
      'FCOS-CDK: done',
    ].join('\r\n');
    const report = parseConsole(log);
    expect(report).toMatchObject({
      deployment: 'fedora-coreos/abc.0',
      platform: 'qemu',
      usrReadOnly: true,
      ignitionResult: true,
      done: true,
    });
    expect(report.commandLine).toContain('ignition.platform.id=qemu');
    expect(report.tests).toEqual([
      { name: 'basic', passed: true, reason: '' },
      { name: 'ext.broken', passed: false, reason: 'exit 3: boom' },
    ]);
    expect(report.users).toEqual([{ name: 'core', uid: 1000, home: '/home/core' }]);
    expect(report.failures).toEqual([expect.stringMatching(/^segfault: .*segfault at 0 ip/)]);
    expect(parseConsole('Kernel panic - not syncing: VFS').failures).toHaveLength(1);
    expect(consoleTail('a\n\x1b[2Jb\n\nc\n', 2)).toBe('b\nc');
  });
});

/** Writes `contents` at `root/relative` (directories created), with `mode`. */
async function put(root: string, relative: string, contents: string, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(path.join(root, relative)), { recursive: true });
  await writeFile(path.join(root, relative), contents);
  await chmod(path.join(root, relative), mode);
}

/**
 * A tests/kola tree laid out like fedora-coreos-config's: a top-level test and data/, a directory
 * of several executables with inline metadata and a data/ link to the shared one, a nested
 * directory, a test with its own config.ign and kola.json, one with config.bu, a README, a script
 * that lost its executable bit and a kola.json beside no test.
 */
async function configTree(): Promise<string> {
  const root = path.join(await makeTempDir('fcos-kola-tree-'), 'tests/kola');
  await put(root, 'data/commonlib.sh', 'fatal() { echo "$@"; exit 1; }\n');
  await put(
    root,
    'gshadow',
    '#!/bin/bash\n## kola:\n##   description: Verify that glibc\'s parsing of /etc/gshadow does\n##     not crash.\n##   tags: "platform-independent"\n\nset -xeuo pipefail\n',
    0o755,
  );
  await put(
    root,
    'files/fcos_users',
    `#!/usr/bin/env bash\n## kola:\n##   distros: fcos\n##   exclusive: false\n##   conflicts: ["ext.config.files.license"]\n##   description: Verify system users.\n\n. "\${KOLA_EXT_DATA}/commonlib.sh"\n`,
    0o755,
  );
  await put(
    root,
    'files/license',
    '#!/bin/bash\n# kola: {"architectures": "!s390x ppc64le", "tags": "needs-internet", "exclusive": false, "minMemory": 1536}\ntest -e /usr/share/licenses\n',
    0o755,
  );
  await put(root, 'files/README.md', '# Tests of files\n');
  await put(root, 'files/helper.sh', '#!/bin/sh\necho "sourced, not run"\n', 0o744);
  await mkdir(path.join(root, 'files/data'));
  await symlink('../../data/commonlib.sh', path.join(root, 'files/data/commonlib.sh'));
  await put(root, 'files/data/bin/tool', '#!/bin/sh\n', 0o755);
  await put(
    root,
    'files/initrd/compression',
    '#!/bin/bash\n## kola:\n##   creationDate: 2026-05-20\nexit 0\n',
    0o755,
  );
  await put(
    root,
    'ignition/kargs/config.ign',
    JSON.stringify({ ignition: { version: '3.3.0' }, kernelArguments: { shouldExist: ['foo=bar'] } }),
  );
  await put(
    root,
    'ignition/kargs/kola.json',
    JSON.stringify({ appendKernelArgs: 'enforcing=0', timeoutMin: 5, requiredTag: 'special' }),
  );
  await put(root, 'ignition/kargs/test.sh', '#!/bin/bash\ngrep foo=bar /proc/cmdline\n', 0o755);
  await put(root, 'butane/grub-users/config.bu', 'variant: fcos\nversion: 1.5.0\n');
  await put(root, 'butane/grub-users/test.sh', '#!/bin/bash\ntrue\n', 0o755);
  await put(root, 'orphan/kola.json', '{"tags": "lonely"}');
  return root;
}

describe('a fedora-coreos-config tests/kola tree', () => {
  it('names and describes every test as kola does', async () => {
    const root = await configTree();
    const { tests, warnings } = await scanExternalTests(root);
    expect(tests.map((test) => test.name)).toEqual([
      'ext.config.butane.grub-users',
      'ext.config.files.initrd.compression',
      'ext.config.files.fcos_users',
      'ext.config.files.license',
      'ext.config.ignition.kargs',
      // kola registers a directory's own executables after walking its subdirectories.
      'ext.config.gshadow',
    ]);
    const byName = Object.fromEntries(tests.map((test) => [test.name, test]));
    expect(byName['ext.config.gshadow']).toMatchObject({
      executable: 'gshadow',
      directory: root,
      metadataSource: 'inline YAML',
      metadata: {
        description: "Verify that glibc's parsing of /etc/gshadow does not crash.",
        tags: ['platform-independent'],
      },
      dataDirectory: path.join(root, 'data'),
      warnings: [],
    });
    expect(byName['ext.config.files.fcos_users']).toMatchObject({
      metadataSource: 'inline YAML',
      metadata: { distros: ['fcos'], exclusive: false, conflicts: ['ext.config.files.license'] },
      dataDirectory: path.join(root, 'files/data'),
    });
    expect(byName['ext.config.files.license']).toMatchObject({
      metadataSource: 'inline JSON',
      metadata: { architectures: ['!s390x', '!ppc64le'], tags: ['needs-internet'], minMemory: 1536 },
    });
    expect(byName['ext.config.files.initrd.compression']).toMatchObject({
      metadataSource: 'inline YAML',
      metadata: { creationDate: '2026-05-20' },
    });
    expect(byName['ext.config.files.initrd.compression']!.dataDirectory).toBeUndefined();
    expect(byName['ext.config.ignition.kargs']).toMatchObject({
      executable: 'test.sh',
      metadataSource: 'kola.json',
      metadata: { appendKernelArgs: 'enforcing=0', timeoutMin: 5, requiredTag: 'special' },
      ignitionConfig: { kernelArguments: { shouldExist: ['foo=bar'] } },
      warnings: [
        'kola.json key appendKernelArgs ("enforcing=0") is not supported by the QEMU harness and was ignored: the image boots with its own kernel arguments',
      ],
    });
    expect(byName['ext.config.butane.grub-users']).toMatchObject({
      butaneConfig: path.join(root, 'butane/grub-users/config.bu'),
      metadataSource: 'none',
      metadata: {},
    });
    expect(warnings).toEqual([
      "test directory 'files': helper.sh starts with #! but is not executable by others (chmod a+x), so it is not a test",
      "test directory 'orphan': kola.json applies to no test: no executable beside it",
    ]);
    const data = await readDataFiles(path.join(root, 'files/data'));
    expect(data.map((file) => [file.relativePath, file.mode.toString(8), file.contents.toString()])).toEqual([
      ['bin/tool', '755', '#!/bin/sh\n'],
      ['commonlib.sh', '644', 'fatal() { echo "$@"; exit 1; }\n'],
    ]);
  });

  it('rejects bad inline metadata and config.fcc, naming the file', async () => {
    const root = await configTree();
    await put(root, 'files/broken', '#!/bin/bash\n## kola:\n##   timeoutMin: soon\n\n', 0o755);
    await expect(scanExternalTests(root)).rejects.toThrow(
      /test directory 'files': broken \(ext\.config\.files\.broken\): metadata: timeoutMin: Invalid input/,
    );
    await put(
      root,
      'files/broken',
      '#!/bin/bash\n## kola:\n##   exclusive: true\n# kola: {"exclusive": false}\n',
      0o755,
    );
    await expect(scanExternalTests(root)).rejects.toThrow(/found both ## kola: and # kola: metadata/);
    await rm(path.join(root, 'files/broken'));
    await put(root, 'ignition/kargs/config.fcc', 'variant: fcos\n');
    await expect(scanExternalTests(root)).rejects.toThrow(
      "test directory 'ignition/kargs': config.fcc is not supported anymore; rename it to config.bu",
    );
  });

  it('plans them as kola filters them: patterns, tags, required tags, arch, distro, Butane, grace period', async () => {
    const root = await configTree();
    const projectDir = path.dirname(path.dirname(root));
    const props = { ...KOLA_NODE_PROPS, tests: ['basic', 'ext.*'] };
    const plan = (extra: Partial<Record<'tests' | 'tags', string[]>>, arch = 'x86_64') =>
      planTests({
        props: { ...props, ...extra },
        projectDir,
        arch,
        platform: 'qemu',
        today: new Date('2026-06-01T00:00:00Z'),
      });
    const all = await plan({});
    expect(all.planned.map((test) => [test.name, test.exclusive, test.warnOnly])).toEqual([
      ['basic', false, false],
      ['ext.config.files.initrd.compression', true, true],
      ['ext.config.files.fcos_users', false, false],
      ['ext.config.files.license', false, false],
      ['ext.config.gshadow', true, false],
    ]);
    expect(all.skipped).toEqual([
      {
        name: 'ext.config.butane.grub-users',
        result: 'skip',
        durationSeconds: 0,
        reason: expect.stringMatching(/^its config.bu needs Butane/),
      },
      {
        name: 'ext.config.ignition.kargs',
        result: 'skip',
        durationSeconds: 0,
        reason: 'requires tag special',
      },
    ]);
    expect(all.planned[1]!.warnings).toEqual([
      "created 2026-05-20: in kola's 30-day grace period, a failure is a warning",
    ]);
    expect(all.warnings).toHaveLength(2);
    const license = all.planned.find((test) => test.name === 'ext.config.files.license')!;
    expect(license).toMatchObject({ minMemoryMiB: 1536, timeoutSeconds: 120, external: true });
    const fcosUsers = all.planned.find((test) => test.name === 'ext.config.files.fcos_users')!;
    expect(fcosUsers.dataFiles.map((file) => file.relativePath)).toEqual(['bin/tool', 'commonlib.sh']);

    expect((await plan({}, 'ppc64le')).skipped.map((test) => [test.name, test.reason])).toContainEqual([
      'ext.config.files.license',
      'not for ppc64le on qemu',
    ]);
    const special = await plan({ tags: ['special'] });
    expect(special.planned.map((test) => test.name)).toEqual(['ext.config.ignition.kargs']);
    expect(special.planned[0]).toMatchObject({ timeoutSeconds: 300, exclusive: true });
    await expect(plan({ tests: ['ext.config.nothing*'] })).rejects.toThrow(
      /^the pattern 'ext.config.nothing\*' matches no test \(tests: basic, ext.config.butane.grub-users, .*\); test directory 'files': helper.sh starts with #!/,
    );
  });

  it('gives a VM kola environment, data and merged configs, and buckets tests by their conflicts', async () => {
    const root = await configTree();
    const { planned } = await planTests({
      props: { ...KOLA_NODE_PROPS, tests: ['basic', 'ext.config.files.*'] },
      projectDir: path.dirname(path.dirname(root)),
      arch: 'x86_64',
      platform: 'qemu',
      today: new Date('2026-06-01T00:00:00Z'),
    });
    const vms = groupIntoVms(planned);
    expect(vms.map((tests) => tests.map((test) => test.name))).toEqual([
      ['basic', 'ext.config.files.fcos_users'],
      ['ext.config.files.license'],
      ['ext.config.files.initrd.compression'],
    ]);
    const config = vmIgnitionConfig(vms[0]!, 1) as {
      storage: { files: Array<{ path: string; mode: number; contents: { source: string } }> };
    };
    const files = Object.fromEntries(
      config.storage.files.map((file) => [
        file.path,
        [
          file.mode.toString(8),
          Buffer.from(file.contents.source.replace(/^data:;base64,/, ''), 'base64').toString(),
        ],
      ]),
    );
    const testDirectory = '/etc/fcos-cdk/tests/ext.config.files.fcos_users';
    expect(files[`${testDirectory}/test`]).toEqual([
      '755',
      [
        '#!/usr/bin/sh',
        "# Written by fcos-cdk's kola harness: kola's environment for an external test, then the test.",
        "export KOLA_TEST='ext.config.files.fcos_users'",
        "export KOLA_TEST_EXE='fcos_users'",
        "export KOLA_UNIT='kola-runext-2.service'",
        "export KOLA_EXT_DATA='/var/opt/kola/extdata-2'",
        `exec '${testDirectory}/kola-runext-fcos_users'`,
        '',
      ].join('\n'),
    ]);
    expect(files[`${testDirectory}/kola-runext-fcos_users`]?.[0]).toBe('755');
    expect(files['/var/opt/kola/extdata-2/commonlib.sh']).toEqual([
      '644',
      'fatal() { echo "$@"; exit 1; }\n',
    ]);
    expect(files['/var/opt/kola/extdata-2/bin/tool']).toEqual(['755', '#!/bin/sh\n']);
    expect(files['/etc/fcos-cdk/tests/basic/test']?.[1]).toMatch(/^#!\/usr\/bin\/sh\n# kola basic/);
    const alone = vmIgnitionConfig(vms[2]!, 2) as typeof config;
    const aloneFiles = alone.storage.files.map((file) => file.path);
    expect(aloneFiles).toContain('/etc/fcos-cdk/tests/ext.config.files.initrd.compression/test');
    expect(aloneFiles.some((file) => file.startsWith('/var/opt/kola/extdata'))).toBe(false);
  });
});

describe("a test's own Ignition config", () => {
  /** A project whose tests/kola has a test with an invalid config.ign, and two whose configs only warn. */
  async function configProject(): Promise<string> {
    const projectDir = await makeTempDir('fcos-kola-configs-');
    const root = path.join(projectDir, 'tests/kola');
    const script = '#!/bin/sh\nexit 0\n';
    await put(root, 'bad-config/test.sh', script, 0o755);
    await put(
      root,
      'bad-config/config.ign',
      `${JSON.stringify({ ignition: { version: '3.3.0' }, storage: { files: [{ path: 'relative/path', mode: 420 }] } }, null, 2)}\n`,
    );
    const unusedKey = `${JSON.stringify({ ignition: { version: '3.3.0' }, storage: { filez: [] } }, null, 2)}\n`;
    await put(root, 'warned/test.sh', script, 0o755);
    await put(root, 'warned/config.ign', unusedKey);
    await put(root, 'allowed/test.sh', script, 0o755);
    await put(root, 'allowed/config.ign', unusedKey);
    await put(root, 'allowed/kola.json', JSON.stringify({ allowConfigWarnings: true }));
    return projectDir;
  }

  /** The KolaTest runner's context for `projectDir` with `tests`; its image does not exist. */
  function kolaContext(projectDir: string, workDir: string, tests: string[]): RunnerContext {
    return {
      nodePath: 'testing/x86_64/Kola',
      props: { ...KOLA_NODE_PROPS, tests },
      inputs: {
        image: {
          type: 'platform-image',
          digest: '0'.repeat(64),
          storage: 'file',
          path: path.join(workDir, 'no-such-image.qcow2'),
          metadata: { arch: 'x86_64', platform: 'qemu', format: 'qcow2' },
        },
      },
      declaredOutputs: {},
      projectDir,
      signal: new AbortController().signal,
      workDir,
      ostreeRepo: '',
      log: () => {},
      exec: (file, args, options) => runTool(file, args, options),
    };
  }

  it('points each line of the validator into the file', () => {
    expect(
      pointIntoFile('t/config.ign', 'error at $.storage.files.0.path, line 5 col 19: path not absolute'),
    ).toBe('t/config.ign:5:19: $.storage.files.0.path: path not absolute');
    expect(pointIntoFile('t/config.ign', 'error at line 1 col 78: json: cannot unmarshal string')).toBe(
      't/config.ign:1:78: json: cannot unmarshal string',
    );
    expect(pointIntoFile('t/config.ign', "couldn't parse config: invalid config version")).toBe(
      "t/config.ign: couldn't parse config: invalid config version",
    );
  });

  it('is checked before anything boots: an invalid one fails the node naming the test and the place in its file', async () => {
    const projectDir = await configProject();
    const workDir = await makeTempDir('fcos-kola-work-');
    const error = await RUNNERS.KolaTest.run(kolaContext(projectDir, workDir, ['ext.*'])).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(InvalidIgnitionConfigError);
    expect(error).toMatchObject({ constructPath: 'testing/x86_64/Kola', field: 'testsDir' });
    // The line and column of the bad value in the user's file, as written above.
    const text = await readFile(path.join(projectDir, 'tests/kola/bad-config/config.ign'), 'utf8');
    const line = text.split('\n').findIndex((row) => row.includes('relative/path')) + 1;
    expect((error as Error).message).toMatch(
      new RegExp(
        `^the Ignition config of ext\\.config\\.bad-config is invalid \\(ignition-validate\\):\\n  tests/kola/bad-config/config\\.ign:${line}:\\d+: \\$\\.storage\\.files\\.0\\.path: path not absolute$`,
      ),
    );
    // Not even the image was looked at (it does not exist), let alone a VM booted.
    expect(await readdir(workDir)).toEqual([]);
  });

  it("adds the validator's warnings to the test's, unless its kola.json allows them", async () => {
    const projectDir = await configProject();
    const workDir = await makeTempDir('fcos-kola-work-');
    const context = kolaContext(projectDir, workDir, ['ext.config.warned', 'ext.config.allowed']);
    const plan = await planTests({
      props: context.props as unknown as KolaRunnerProps,
      projectDir,
      arch: 'x86_64',
      platform: 'qemu',
      today: new Date('2026-06-01T00:00:00Z'),
    });
    const checked = await checkTestConfigs(context as unknown as KolaRunnerContext, plan.planned);
    expect(Object.fromEntries(checked.map((test) => [test.name, test.warnings]))).toEqual({
      'ext.config.allowed': [],
      'ext.config.warned': [
        expect.stringMatching(
          /^Ignition config warning: tests\/kola\/warned\/config\.ign:\d+:\d+: \$\.storage\.filez: Unused key filez$/,
        ),
      ],
    });
  });
});
