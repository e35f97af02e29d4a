/** QEMU: a compressed qcow2 (compat 1.1), the image kola boots. */
import { definePlatform } from '../../lib/platform.ts';

/** The qemu platform. */
export const qemu = definePlatform({
  name: 'qemu',
  format: 'qcow2',
  extension: 'qcow2',
  arches: ['x86_64', 'aarch64', 'ppc64le', 's390x'],
  sectorSizes: [512, 4096],
  compressions: ['none', 'gzip', 'xz', 'zstd'],
  defaultCompression: 'none',
  // Ignition reads its config from QEMU's fw_cfg on this platform only: the one the harness boots.
  qemuBootable: true,
});
