/**
 * The image a KolaTest boots, as QEMU can open it: the input itself, or a decompressed copy in the
 * work directory when it is xz, gzip or zstd (detected by its magic bytes), with its arch.
 */
import path from 'node:path';
import { uncompressed } from '../../lib/tools/compress.ts';
import { VM_ARCHES, type VmArch } from '../../lib/vm/machines.ts';
import type { KolaRunnerContext } from './runner-context.ts';

/** A disk image QEMU opens. */
export interface BootableImage {
  /** The file. */
  readonly file: string;
  /** Its format. */
  readonly format: 'qcow2' | 'raw';
  /** The guest's architecture (the image's metadata). */
  readonly arch: VmArch;
}

/** The image input as QEMU can open it: decompressed into the work dir when it is compressed. */
export async function bootableImage(context: KolaRunnerContext): Promise<BootableImage> {
  const image = context.inputs.image!;
  const name = String(image.metadata.path ?? image.metadata.fileName ?? path.basename(image.path));
  const format = /\.qcow2(\.|$)/.test(name) || image.metadata.format === 'qcow2' ? 'qcow2' : 'raw';
  const arch = String(image.metadata.arch ?? 'x86_64');
  // The runner checked the arch before this (vmProblem); x86_64 is what an image without one is.
  const vmArch = VM_ARCHES.find((candidate) => candidate === arch) ?? 'x86_64';
  const file = await uncompressed(context.exec, image.path, context.workDir, `image.${format}`);
  return { file, format, arch: vmArch };
}
