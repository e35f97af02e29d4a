/**
 * The image a KolaTest boots, as QEMU can open it: the input itself, or a decompressed copy in the
 * work directory when it is xz, gzip or zstd (detected by its magic bytes).
 */
import path from 'node:path';
import { uncompressed } from '../../lib/tools/compress.ts';
import type { KolaRunnerContext } from './runner-context.ts';

/** A disk image QEMU opens. */
export interface BootableImage {
  /** The file. */
  readonly file: string;
  /** Its format. */
  readonly format: 'qcow2' | 'raw';
}

/** The image input as QEMU can open it: decompressed into the work dir when it is compressed. */
export async function bootableImage(context: KolaRunnerContext): Promise<BootableImage> {
  const image = context.inputs.image!;
  const name = String(image.metadata.path ?? image.metadata.fileName ?? path.basename(image.path));
  const format = /\.qcow2(\.|$)/.test(name) || image.metadata.format === 'qcow2' ? 'qcow2' : 'raw';
  const file = await uncompressed(context.exec, image.path, context.workDir, `image.${format}`);
  return { file, format };
}
