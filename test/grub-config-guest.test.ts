/**
 * The guest's grub.cfg generator (local-os/packages/ostree-grub2/grub-config.sh, run by busybox's
 * shell as in the tiny OS after a deploy) writes the same text as DiskImage's renderGrubConfig for
 * the same BLS entries: the default deployment (highest `version`) first, the previous one second,
 * the platform's console settings and timeout kept from the config it replaces.
 */

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { parseBlsEntry } from '../lib/disk/bls.ts';
import { renderGrubConfig } from '../lib/disk/grub-config.ts';

const GENERATOR = path.resolve(import.meta.dirname, '../local-os/packages/ostree-grub2/grub-config.sh');

/** A BLS entry as ostree writes one for deployment `index` of two. */
function entry(version: number, title: string, serial: number): string {
  return [
    `title ${title}`,
    `version ${version}`,
    `options root=LABEL=root rw ostree=/ostree/boot.1/fedora-coreos/abc/${serial} $ignition_firstboot console=ttyS0,115200n8`,
    'linux /ostree/fedora-coreos-abc/vmlinuz-6.1.0',
    'initrd /ostree/fedora-coreos-abc/initramfs-6.1.0.img',
    '',
  ].join('\n');
}

describe('grub-config (guest)', () => {
  let temp: string | undefined;
  afterEach(async () => {
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  it('regenerates what DiskImage writes, new default first, keeping console settings and timeout', async () => {
    temp = await mkdtemp(path.join(os.tmpdir(), 'grub-config-'));
    const boot = path.join(temp, 'boot');
    await mkdir(path.join(boot, 'loader/entries'), { recursive: true });
    await mkdir(path.join(boot, 'grub2'));
    const previous = entry(1, 'Fedora CoreOS 41.20261116.2.0 (ostree:1)', 1);
    const current = entry(2, "Fedora CoreOS 41.20261116.2.1 it's new (ostree:0)", 0);
    await writeFile(path.join(boot, 'loader/entries/ostree-1-fedora-coreos.conf'), previous);
    await writeFile(path.join(boot, 'loader/entries/ostree-2-fedora-coreos.conf'), current);
    const consoleCommands = [
      'serial --speed=115200',
      'terminal_input serial console',
      'terminal_output serial console',
    ];
    // The config DiskImage/PlatformImage wrote for the first deployment alone, with a 3 s menu.
    await writeFile(
      path.join(boot, 'grub2/grub.cfg'),
      renderGrubConfig({ entries: [parseBlsEntry(previous)], consoleCommands, timeoutSeconds: 3 }),
    );
    await execa('busybox', ['sh', GENERATOR, boot], { timeout: 30_000 });
    const generated = await readFile(path.join(boot, 'grub2/grub.cfg'), 'utf8');
    expect(generated).toBe(
      renderGrubConfig({
        entries: [parseBlsEntry(current), parseBlsEntry(previous)],
        consoleCommands,
        timeoutSeconds: 3,
      }),
    );
    expect(generated.indexOf('41.20261116.2.1')).toBeLessThan(generated.indexOf('41.20261116.2.0'));
  });

  it('refuses a boot directory without BLS entries and leaves its grub.cfg alone', async () => {
    temp = await mkdtemp(path.join(os.tmpdir(), 'grub-config-'));
    const boot = path.join(temp, 'boot');
    await mkdir(path.join(boot, 'loader/entries'), { recursive: true });
    await mkdir(path.join(boot, 'grub2'));
    await writeFile(path.join(boot, 'grub2/grub.cfg'), 'kept\n');
    const result = await execa('busybox', ['sh', GENERATOR, boot], { reject: false, timeout: 30_000 });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/no BLS entry/);
    expect(await readFile(path.join(boot, 'grub2/grub.cfg'), 'utf8')).toBe('kept\n');
  });
});
