/** Bare metal: the raw disk, written to a drive by coreos-installer; `metal4k` has 4096-byte sectors. */
import { definePlatform } from '../../lib/platform.ts';

/** The metal platform. */
export const metal = definePlatform({
  name: 'metal',
  format: 'raw',
  extension: 'raw',
  arches: ['x86_64', 'aarch64', 'ppc64le', 's390x'],
  sectorSizes: [512, 4096],
  compressions: ['none', 'gzip', 'xz', 'zstd'],
  defaultCompression: 'none',
});
