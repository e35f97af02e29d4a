/** VMware: an OVA (OVF descriptor + streamOptimized vmdk). */
import { toOva } from '../../lib/disk/formats/conversions.ts';
import type { PlatformTarget } from '../../lib/platform.ts';

/** Guest OS type and virtual hardware version of the OVA (fedora-coreos-config's image-base.yaml). */
export const VMWARE_SETTINGS = { osType: 'fedora64Guest', hardwareVersion: 17 } as const;

/** The vmware platform. */
export const vmware: PlatformTarget = {
  name: 'vmware',
  format: 'ova',
  extension: 'ova',
  arches: ['x86_64'],
  sectorSizes: [512],
  compressions: ['none'],
  defaultCompression: 'none',
  convert: (request) => toOva(request, VMWARE_SETTINGS),
};
