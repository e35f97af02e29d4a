/**
 * The converter of each disk format: the PlatformImage runner picks one by the format synthesis
 * recorded from the platform's data, so a platform is data and the run side needs no registry.
 */
import type { DiskFormat } from '../../platform.ts';
import {
  type ConvertRequest,
  toFixedVhd,
  toGceTarball,
  toOva,
  toQcow2,
  toRaw,
  toStreamOptimizedVmdk,
} from './conversions.ts';

/** Writes a platform's image file from its raw disk. */
export type Converter = (request: ConvertRequest) => Promise<void>;

/** The converter of each format. */
export const CONVERTERS: Readonly<Record<DiskFormat, Converter>> = {
  raw: toRaw,
  qcow2: toQcow2,
  vmdk: toStreamOptimizedVmdk,
  vhd: toFixedVhd,
  'gce-tar': toGceTarball,
  ova: toOva,
};
