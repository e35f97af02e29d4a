import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { consoleTail, parseConsole } from '../lib/kola/console.ts';
import { judge, readDenylist } from '../lib/kola/denylist.ts';
import { admits, discoverExternalTests } from '../lib/kola/external-tests.ts';
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
  it('finds tests/kola/<name>/ with one executable and kola.json, and names a bad directory', async () => {
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
      name: 'ext.hello',
      executable: 'test.sh',
      metadata: { architectures: ['x86_64', 'aarch64'], tags: ['smoke'], timeoutMin: 2 },
    });
    await addTest('nojson', undefined, ['test']);
    await expect(discoverExternalTests(directory)).rejects.toThrow("test directory 'nojson'");
    await writeFile(path.join(directory, 'nojson', 'kola.json'), '{"timeoutMin": "soon"}');
    await expect(discoverExternalTests(directory)).rejects.toThrow(
      /test directory 'nojson': kola.json timeoutMin: Invalid input/,
    );
    await writeFile(path.join(directory, 'nojson', 'kola.json'), '{');
    await expect(discoverExternalTests(directory)).rejects.toThrow(
      /test directory 'nojson': kola.json is not JSON/,
    );
    await writeFile(path.join(directory, 'nojson', 'kola.json'), '{}');
    await addTest('two', '{}', ['a', 'b']);
    await expect(discoverExternalTests(directory)).rejects.toThrow(
      "test directory 'two' must hold exactly one executable, found a, b",
    );
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
