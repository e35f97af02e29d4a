/**
 * qemu-img: converting the raw disk to the platforms' formats, and reading them back (info,
 * compare). Quirks handled here (QEMU 7.2): a fixed VHD is `vpc` with `subformat=fixed`, and only
 * `force_size` keeps its size exact (otherwise it is rounded to a CHS geometry); `qemu-img info`
 * takes a fixed VHD for raw unless told `-f vpc`; `compare` exits 1 for different images.
 */
import { z } from 'zod';
import type { ToolExec } from '../exec.ts';

/** Image formats as qemu-img names them. */
export type QemuImageFormat = 'raw' | 'qcow2' | 'vmdk' | 'vpc';

/** Options of {@link convertImage}. */
export interface ConvertImageOptions {
  /** The raw disk. */
  readonly input: string;
  /** The file to write. */
  readonly output: string;
  /** Output format. */
  readonly format: QemuImageFormat;
  /**
   * Format options (`-o`), in order.
   * @default []
   */
  readonly options?: readonly string[];
  /**
   * Compress the clusters (`-c`: qcow2, vmdk streamOptimized compresses anyway).
   * @default false
   */
  readonly compress?: boolean;
}

/** Converts a raw disk to another format. */
export async function convertImage(exec: ToolExec, options: ConvertImageOptions): Promise<void> {
  const args = ['convert', '-f', 'raw', '-O', options.format];
  if (options.compress) args.push('-c');
  if (options.options && options.options.length > 0) args.push('-o', options.options.join(','));
  await exec('qemu-img', [...args, options.input, options.output]);
}

/** What `qemu-img info --output=json` reports (the fields used here). */
export const imageInfoSchema = z
  .object({
    format: z.string(),
    'virtual-size': z.number(),
    'actual-size': z.number().optional(),
    'format-specific': z
      .object({ type: z.string(), data: z.record(z.string(), z.unknown()) })
      .loose()
      .optional(),
  })
  .loose();

/** Parsed `qemu-img info`. */
export type ImageInfo = z.output<typeof imageInfoSchema>;

/** `qemu-img info` of `file`, read as `format` if given (a fixed VHD needs `vpc`). */
export async function imageInfo(exec: ToolExec, file: string, format?: QemuImageFormat): Promise<ImageInfo> {
  const args = ['info', '--output=json', ...(format ? ['-f', format] : []), file];
  const { stdout } = await exec('qemu-img', args, { quietStdout: true });
  return imageInfoSchema.parse(JSON.parse(stdout));
}

/** Whether two images have the same guest-visible content (`qemu-img compare`; a size difference counts only if the extra part is not zeros). */
export async function sameContent(
  exec: ToolExec,
  first: { readonly file: string; readonly format: QemuImageFormat },
  second: { readonly file: string; readonly format: QemuImageFormat },
): Promise<boolean> {
  const result = await exec(
    'qemu-img',
    ['compare', '-f', first.format, '-F', second.format, first.file, second.file],
    { okExitCodes: [0, 1] },
  );
  return result.exitCode === 0;
}
