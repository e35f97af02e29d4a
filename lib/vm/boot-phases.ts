/**
 * Where a boot's seconds went, from its console timeline (lib/vm/console-timeline.ts): each phase
 * ends at the first console line that marks its end (most of the tiny OS's steps report when they
 * are done), and starts where the previous phase that was seen ended. A phase whose marker never
 * appeared (no NIC: no DHCP; BIOS: no "blind mode" line) is left out, and its time counts in the
 * next phase that was seen. The last phase ends when QEMU exited. On aarch64 (AAVMF) GRUB's
 * "Booting `…'" line does not reach the console as a line of its own, so the menu's time counts in
 * GRUB's loading phase.
 */
import type { TimelineEntry } from './console-timeline.ts';

/** One phase of a boot. */
export interface BootPhase {
  /** What the guest was doing. */
  readonly name: string;
  /** Seconds since QEMU started when it began. */
  readonly start: number;
  /** Its length in seconds. */
  readonly seconds: number;
}

/** A phase and the console line that ends it. */
interface PhaseMarker {
  readonly name: string;
  readonly end: RegExp;
  /** The phase ends at the last matching line rather than the first (steps printing several lines). */
  readonly last?: boolean;
}

/** The phases of a boot of the tiny OS, in order (tiny-init's and tiny-dracut's protocol lines). */
const PHASES: readonly PhaseMarker[] = [
  { name: 'QEMU and firmware until GRUB', end: /Welcome to GRUB|GNU GRUB/ },
  { name: 'GRUB menu (timeout)', end: /Booting `/ },
  // x86 GRUB's Linux loader prints the first (no video under -display none); on arm64 GRUB starts
  // the kernel's EFI stub, whose first line is the second.
  { name: 'GRUB loading kernel and initramfs', end: /Booting in blind mode|EFI stub: Booting Linux Kernel/ },
  { name: 'kernel decompression and early setup (no console yet)', end: /\] Linux version / },
  { name: 'kernel init (initramfs unpacked)', end: /\] Run \/init as init process/ },
  { name: 'initramfs: modules and root device', end: /FCOS-CDK: initramfs root / },
  { name: 'initramfs: deployment', end: /FCOS-CDK: initramfs (ignition platform|ignition skipped)/ },
  { name: 'Ignition (fetch, /var, files)', end: /FCOS-CDK: initramfs ignition done/ },
  { name: 'switch root to init', end: /FCOS-CDK: booted / },
  { name: 'init: boot report', end: /FCOS-CDK: ignition result=/ },
  { name: 'DHCP', end: /FCOS-CDK: network / },
  { name: 'greenboot check', end: /FCOS-CDK: (health result|rollback from|reboot reason=health)/ },
  { name: 'update agent', end: /FCOS-CDK: agent /, last: true },
  { name: 'tests', end: /FCOS-CDK: tests total=/ },
  { name: 'finalize staged deployment', end: /FCOS-CDK: finalize / },
];

/** The name of the phase from the last marker to QEMU's exit. */
export const SHUTDOWN_PHASE = 'shutdown (until QEMU exited)';

/** Every phase's name, in boot order (for tables of several boots). */
export const PHASE_NAMES: readonly string[] = [...PHASES.map((phase) => phase.name), SHUTDOWN_PHASE];

/** Splits a boot of `totalSeconds` into phases by its console timeline. */
export function bootPhases(timeline: readonly TimelineEntry[], totalSeconds: number): BootPhase[] {
  const phases: BootPhase[] = [];
  let start = 0;
  let index = 0;
  for (const phase of PHASES) {
    let found = -1;
    for (let at = index; at < timeline.length; at++) {
      if (phase.end.test(timeline[at]?.text ?? '')) {
        found = at;
        if (!phase.last) break;
      }
    }
    const entry = found >= 0 ? timeline[found] : undefined;
    if (entry === undefined) continue;
    phases.push({ name: phase.name, start, seconds: entry.seconds - start });
    start = entry.seconds;
    index = found + 1;
  }
  phases.push({ name: SHUTDOWN_PHASE, start, seconds: Math.max(0, totalSeconds - start) });
  return phases;
}
