/** VMware: an OVA (OVF descriptor + streamOptimized vmdk). */
import { definePlatform } from '../../lib/platform.ts';

/** The vmware platform. */
export const vmware = definePlatform({
  name: 'vmware',
  format: 'ova',
  extension: 'ova',
  arches: ['x86_64'],
  sectorSizes: [512],
  compressions: ['none'],
  defaultCompression: 'none',
  // Guest OS type and virtual hardware version of the OVA (fedora-coreos-config's image-base.yaml).
  ova: { osType: 'fedora64Guest', hardwareVersion: 17 },
});
