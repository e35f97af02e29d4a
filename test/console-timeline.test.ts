import { appendFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { bootPhases, SHUTDOWN_PHASE } from '../lib/vm/boot-phases.ts';
import {
  formatTimeline,
  parseTimeline,
  recordConsoleTimeline,
  type TimelineEntry,
  timelineFileOf,
} from '../lib/vm/console-timeline.ts';
import { makeTempDir } from './helpers/temp-project.ts';

describe('recordConsoleTimeline', () => {
  it('times each line by its first byte, splits a paused line and a cleared screen, and keeps the log intact', async () => {
    const directory = await makeTempDir('fcos-timeline-');
    const consoleLog = path.join(directory, 'vm1.log');
    await writeFile(consoleLog, 'left over from an earlier boot\n');
    const started = performance.now();
    const recorder = await recordConsoleTimeline(consoleLog, started);
    // What a writer appends, as QEMU's file chardev does: the firmware, GRUB's countdown, the kernel.
    await appendFile(consoleLog, 'BdsDxe: loading\r\n\x1b[1;1HWelcome to GRUB!\n');
    await sleep(400);
    await appendFile(consoleLog, 'automatically in 1s.');
    await sleep(600);
    await appendFile(consoleLog, ' automatically in 0s.\x1b[2J\x1b[01;01H    Booting `Fedora');
    await appendFile(consoleLog, "'\n[    0.000000] Linux version 6.1\n");
    const entries = await recorder.stop();
    expect(entries.map((entry) => [entry.line, entry.text])).toEqual([
      [1, 'BdsDxe: loading'],
      [2, 'Welcome to GRUB!'],
      [3, 'automatically in 1s.'],
      [3, 'automatically in 0s.'],
      [3, "Booting `Fedora'"],
      [4, '[ 0.000000] Linux version 6.1'],
    ]);
    const seconds = entries.map((entry) => entry.seconds);
    expect(seconds).toEqual([...seconds].sort((a, b) => a - b));
    expect(seconds[2]! - seconds[1]!).toBeGreaterThan(0.3);
    expect(seconds[3]! - seconds[2]!).toBeGreaterThan(0.5);
    expect(seconds[4]).toBe(seconds[3]);
    // The console log holds exactly what was written (the earlier boot's text is gone).
    expect((await readFile(consoleLog, 'latin1')).startsWith('BdsDxe: loading\r\n\x1b[1;1HWelcome')).toBe(
      true,
    );
    expect(parseTimeline(formatTimeline(entries))).toEqual(
      entries.map((entry) => ({ ...entry, seconds: Number(entry.seconds.toFixed(3)) })),
    );
    expect(timelineFileOf(consoleLog)).toBe(path.join(directory, 'vm1.timeline.tsv'));
  });
});

describe('bootPhases', () => {
  /** A timeline of the given lines at the given seconds. */
  const timeline = (lines: [number, string][]): TimelineEntry[] =>
    lines.map(([seconds, text], index) => ({ seconds, line: index + 1, text }));

  it('ends each phase at its marker line, leaves out phases that never showed, and ends at the exit', () => {
    const phases = bootPhases(
      timeline([
        [3, 'Welcome to GRUB!'],
        [4.1, "Booting `Fedora CoreOS 41 (ostree:0)'"],
        [5, 'Booting in blind mode'],
        [9, '[ 0.000000] Linux version 6.1.0'],
        [13, '[ 4.000000] Run /init as init process'],
        [14.5, 'FCOS-CDK: initramfs root /dev/vda4 (LABEL=root) mounted'],
        [14.6, 'FCOS-CDK: initramfs ignition skipped (no ignition.firstboot)'],
        [15, 'FCOS-CDK: booted deployment=fedora-coreos/abc.0 platform=qemu'],
        [15.2, 'FCOS-CDK: ignition result=present'],
        [16, 'FCOS-CDK: network eth0 address=10.0.2.15/24'],
        [16.5, 'FCOS-CDK: health result=healthy'],
        [18, 'FCOS-CDK: agent booted version=41'],
        [20, 'FCOS-CDK: agent update none'],
        [21, 'FCOS-CDK: tests total=0 failed=0'],
        [21, 'FCOS-CDK: done'],
      ]),
      21.5,
    );
    expect(phases.map((phase) => [phase.name, Number(phase.seconds.toFixed(2))])).toEqual([
      ['QEMU and firmware until GRUB', 3],
      ['GRUB menu (timeout)', 1.1],
      ['GRUB loading kernel and initramfs', 0.9],
      ['kernel decompression and early setup (no console yet)', 4],
      ['kernel init (initramfs unpacked)', 4],
      ['initramfs: modules and root device', 1.5],
      ['initramfs: deployment', 0.1],
      ['switch root to init', 0.4],
      ['init: boot report', 0.2],
      ['DHCP', 0.8],
      ['greenboot check', 0.5],
      ['update agent', 3.5],
      ['tests', 1],
      [SHUTDOWN_PHASE, 0.5],
    ]);
    expect(phases.reduce((total, phase) => total + phase.seconds, 0)).toBeCloseTo(21.5);
  });

  it('gives a boot with no console at all one phase: the whole run', () => {
    expect(bootPhases([], 7)).toEqual([{ name: SHUTDOWN_PHASE, start: 0, seconds: 7 }]);
  });
});
