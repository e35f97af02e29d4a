/** VMware: an OVA (OVF descriptor + streamOptimized vmdk). */
import type { PlatformTarget } from '../lib/platform.ts';

/** The vmware platform. */
export const vmware: PlatformTarget = {
  name: 'vmware',
  format: 'ova',
  extension: 'ova',
  arches: ['x86_64'],
  sectorSizes: [512],
  compressions: ['none'],
  defaultCompression: 'none',
};
