/**
 * The metadata of a LiveImage's `live` output: what InstallTest and Build read of it, apart from
 * the runner so that reading it loads no tool wrapper.
 */
import { z } from 'zod';
import { archSchema } from '../../lib/artifacts.ts';

/** The metadata of a LiveImage's `live` output, as InstallTest and Build read it. */
export const liveMetadataSchema = z.object({
  arch: archSchema,
  osName: z.string(),
  version: z.string(),
  commit: z.string(),
  volumeId: z.string(),
  /** The live system's kernel arguments (the ISO's, without coreos.liveiso=): what a PXE config passes. */
  kernelArguments: z.array(z.string()),
  /** File names in the output directory, by meta.json's names. */
  files: z.object({
    'live-iso': z.string(),
    'live-kernel': z.string(),
    'live-initramfs': z.string(),
    'live-rootfs': z.string(),
  }),
  /** The offline images in the ISO, as coreos/metal.json lists them. */
  metalImages: z.array(
    z.object({
      file: z.string(),
      sha256: z.string(),
      sectorSize: z.number().int(),
      /** For an image carried as its data extents: the image's size and the extents, `[offset, length]`. */
      size: z.number().int().optional(),
      extents: z.array(z.tuple([z.number().int(), z.number().int()])).optional(),
    }),
  ),
});

/** Metadata of a LiveImage's `live` output. */
export type LiveImageMetadata = z.output<typeof liveMetadataSchema>;
