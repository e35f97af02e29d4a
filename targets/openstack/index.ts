/** OpenStack: a qcow2 uploaded to Glance by the operator. */
import { definePlatform } from '../../lib/platform.ts';

/** The openstack platform. */
export const openstack = definePlatform({
  name: 'openstack',
  format: 'qcow2',
  extension: 'qcow2',
  arches: ['x86_64', 'aarch64', 'ppc64le'],
  sectorSizes: [512],
  compressions: ['none', 'gzip', 'xz', 'zstd'],
  defaultCompression: 'none',
});
