/**
 * The serial console of each arch, as its kernel names it in `console=`: the first UART of the
 * machines Fedora CoreOS runs on (and of QEMU's: x86's 16550, aarch64 virt's PL011), as
 * fedora-coreos-config's platforms.yaml writes it.
 */
import type { Arch } from './artifacts.ts';

/** `console=` values (device and settings) of each arch's serial console. */
export const SERIAL_CONSOLES: Readonly<Record<Arch, string>> = {
  x86_64: 'ttyS0,115200n8',
  aarch64: 'ttyAMA0,115200n8',
  ppc64le: 'hvc0',
  s390x: 'ttysclp0',
};

/** The `console=` value of `arch`'s serial console (`ttyAMA0,115200n8` on aarch64). */
export function serialConsole(arch: Arch): string {
  return SERIAL_CONSOLES[arch];
}
