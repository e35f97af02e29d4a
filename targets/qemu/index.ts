/** QEMU: a compressed qcow2 (compat 1.1), the image kola boots. */
import { toQcow2 } from '../../lib/disk/formats/conversions.ts';
import type { PlatformTarget } from '../../lib/platform.ts';

/** The qemu platform. */
export const qemu: PlatformTarget = {
  name: 'qemu',
  format: 'qcow2',
  extension: 'qcow2',
  arches: ['x86_64', 'aarch64', 'ppc64le', 's390x'],
  sectorSizes: [512, 4096],
  compressions: ['none', 'gzip', 'xz', 'zstd'],
  defaultCompression: 'none',
  convert: toQcow2,
};
