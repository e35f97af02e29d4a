/**
 * The arches the QEMU harness boots (lib/vm/qemu.ts has each one's emulator, machine and firmware),
 * as data the construct side can check at synthesis without loading the harness itself.
 */
import type { Arch } from '../artifacts.ts';

/** Arches with an emulator in the QEMU harness: x86_64 (qemu-system-x86_64) and aarch64 (qemu-system-aarch64). */
export const GUEST_ARCHES: readonly Arch[] = ['x86_64', 'aarch64'];

/** Whether the QEMU harness can boot a guest of `arch`. */
export function isGuestArch(arch: Arch): boolean {
  return GUEST_ARCHES.includes(arch);
}

/** Why an image of `arch` cannot be booted by the harness, or undefined when it can. */
export function guestArchProblem(arch: Arch): string | undefined {
  if (isGuestArch(arch)) return undefined;
  return `the QEMU harness has no emulator for ${arch} (qemu-system-${arch === 'ppc64le' ? 'ppc64' : arch} with its firmware); it boots ${GUEST_ARCHES.join(' and ')} guests`;
}
