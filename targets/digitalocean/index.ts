/** DigitalOcean: a gzip-compressed qcow2, imported as a custom image from a URL. */
import { definePlatform } from '../../lib/platform.ts';

/** The digitalocean platform. */
export const digitalocean = definePlatform({
  name: 'digitalocean',
  format: 'qcow2',
  extension: 'qcow2',
  arches: ['x86_64'],
  sectorSizes: [512],
  compressions: ['gzip'],
  defaultCompression: 'gzip',
});
