/** DigitalOcean: a gzip-compressed qcow2, imported as a custom image from a URL. */
import { toQcow2 } from '../../lib/disk/formats/conversions.ts';
import type { PlatformTarget } from '../../lib/platform.ts';

/** The digitalocean platform. */
export const digitalocean: PlatformTarget = {
  name: 'digitalocean',
  format: 'qcow2',
  extension: 'qcow2',
  arches: ['x86_64'],
  sectorSizes: [512],
  compressions: ['gzip'],
  defaultCompression: 'gzip',
  convert: toQcow2,
};
