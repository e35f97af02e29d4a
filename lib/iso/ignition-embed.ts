/**
 * `iso ignition embed|show|remove`, coreos-installer's commands, as library functions: put an
 * Ignition config into a built live ISO without rebuilding it, read it back, clear it. Only the
 * embed area's bytes ever change; every check runs before anything is written, so a refusal
 * leaves the ISO (and the output) as they were. With `output`, the ISO is copied to a temporary
 * file beside the output, changed there and renamed over it: the output is never half-written.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ToolExec } from '../exec.ts';
import {
  buildConfigPayload,
  isAllZero,
  readConfigPayload,
  validateIgnitionConfig,
} from './config-payload.ts';
import { locateEmbedArea, readBytes } from './embed-area.ts';
import { ConfigAlreadyEmbeddedError, EmbedAreaTooSmallError, NoEmbeddedConfigError } from './errors.ts';
import { defaultIsoExec, type FileExtent } from './file-extents.ts';

/** Options every ISO command takes. */
export interface IsoCommandOptions {
  /**
   * How tools (xorriso, xz) run: a runner's `context.exec` logs them and cancels them with the node.
   * @default runTool, without a log
   */
  readonly exec?: ToolExec;
}

/** Options of the commands that change an ISO. */
export interface IsoWriteOptions extends IsoCommandOptions {
  /**
   * Write the changed ISO to this file (replaced if it exists) and leave the input as it is.
   * @default undefined (the ISO is changed in place)
   */
  readonly output?: string;
}

/** Options of {@link embedIgnitionConfig}. */
export interface EmbedIgnitionOptions extends IsoWriteOptions {
  /**
   * Replace a config the ISO already has.
   * @default false (refused with ConfigAlreadyEmbeddedError)
   */
  readonly force?: boolean;
  /**
   * What the config is called in error messages (its file name, `stdin`).
   * @default 'the Ignition config'
   */
  readonly configName?: string;
}

/** What a command that changes an ISO did. */
export interface IsoWriteResult {
  /** The file written: the output, or the ISO itself. */
  readonly written: string;
  /** The embed area: its path in the ISO, byte offset and length. */
  readonly area: FileExtent;
}

/** What {@link embedIgnitionConfig} did. */
export interface EmbedIgnitionResult extends IsoWriteResult {
  /** Bytes of the compressed archive written at the start of the area (the rest is zeros). */
  readonly payloadBytes: number;
  /** Whether a config was there before (replaced with `force`). */
  readonly replaced: boolean;
}

/** What {@link removeIgnitionConfig} did. */
export interface RemoveIgnitionResult extends IsoWriteResult {
  /** Whether there was a config to remove (false: the area was already zeros). */
  readonly removed: boolean;
}

/** Whether `output` names the same file as `iso` (or is not given): then the ISO is changed in place. */
async function writesInPlace(iso: string, output: string | undefined): Promise<boolean> {
  if (output === undefined) return true;
  const [isoStat, outputStat] = await Promise.all([stat(iso), stat(output).catch(() => undefined)]);
  return outputStat !== undefined && outputStat.dev === isoStat.dev && outputStat.ino === isoStat.ino;
}

/** Writes `content` at `offset` of `file` and flushes it to disk. */
async function writeAt(file: string, offset: number, content: Buffer): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    let written = 0;
    while (written < content.length) {
      const { bytesWritten } = await handle.write(
        content,
        written,
        content.length - written,
        offset + written,
      );
      written += bytesWritten;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Makes `area` of the ISO hold `content` (the area's full length), in place or in a copy at
 * `output`; `content` undefined means "leave the area as it is" (only the copy is made).
 */
async function writeArea(
  iso: string,
  area: FileExtent,
  content: Buffer | undefined,
  output: string | undefined,
): Promise<string> {
  if (await writesInPlace(iso, output)) {
    if (content !== undefined) await writeAt(iso, area.offset, content);
    return iso;
  }
  const target = path.resolve(output!);
  // A missing directory is named as such, not by the temporary file that could not be made in it.
  await stat(path.dirname(target));
  const temporary = path.join(
    path.dirname(target),
    `.${path.basename(target)}.fcos-iso-${randomBytes(6).toString('hex')}`,
  );
  try {
    // A reflink where the filesystem has them (instant, no space), else an ordinary copy.
    await copyFile(iso, temporary, constants.COPYFILE_FICLONE);
    if (content !== undefined) await writeAt(temporary, area.offset, content);
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return output!;
}

/** The config's bytes: a string is taken as UTF-8 text. */
function configBytes(config: string | Uint8Array): Uint8Array {
  return typeof config === 'string' ? Buffer.from(config, 'utf8') : config;
}

/**
 * Embeds the Ignition `config` (its bytes, or text) into the live ISO `iso`: the compressed
 * archive at the start of the embed area, zeros after it. Refuses, leaving every file as it was:
 * a file that is not a live ISO (NotALiveIsoError), a config that is not JSON with
 * `ignition.version` (InvalidIgnitionConfigError), an archive larger than the area
 * (EmbedAreaTooSmallError, both sizes), an ISO that already has a config unless `force`
 * (ConfigAlreadyEmbeddedError). The same ISO and config always give the same bytes.
 */
export async function embedIgnitionConfig(
  iso: string,
  config: string | Uint8Array,
  options: EmbedIgnitionOptions = {},
): Promise<EmbedIgnitionResult> {
  const exec = options.exec ?? defaultIsoExec;
  const bytes = configBytes(config);
  validateIgnitionConfig(bytes, options.configName ?? 'the Ignition config');
  const area = await locateEmbedArea(iso, exec);
  const replaced = !isAllZero(await readBytes(iso, area.offset, area.length));
  if (replaced && !options.force) throw new ConfigAlreadyEmbeddedError(iso);
  const payload = await buildConfigPayload(bytes, exec);
  if (payload.length > area.length) throw new EmbedAreaTooSmallError(iso, payload.length, area.length);
  const content = Buffer.alloc(area.length);
  payload.copy(content);
  const written = await writeArea(iso, area, content, options.output);
  return { written, area, payloadBytes: payload.length, replaced };
}

/**
 * The Ignition config embedded in the live ISO `iso` (its bytes as they were embedded), or
 * undefined when its embed area is empty. Refuses a file that is not a live ISO and an area that
 * holds something else than an embedded config (CorruptEmbedAreaError).
 */
export async function readIgnitionConfig(
  iso: string,
  options: IsoCommandOptions = {},
): Promise<Buffer | undefined> {
  const exec = options.exec ?? defaultIsoExec;
  const area = await locateEmbedArea(iso, exec);
  return readConfigPayload(await readBytes(iso, area.offset, area.length), iso, exec);
}

/**
 * `iso ignition show`: the config embedded in `iso`; NoEmbeddedConfigError when there is none
 * (see {@link readIgnitionConfig} for the other refusals).
 */
export async function showIgnitionConfig(iso: string, options: IsoCommandOptions = {}): Promise<Buffer> {
  const config = await readIgnitionConfig(iso, options);
  if (config === undefined) throw new NoEmbeddedConfigError(iso);
  return config;
}

/**
 * `iso ignition remove`: zeroes the embed area of `iso` (in place, or in a copy at `output`), which
 * gives the pristine ISO back byte for byte. An ISO without a config is left as it is (the copy
 * is still made). Refuses a file that is not a live ISO.
 */
export async function removeIgnitionConfig(
  iso: string,
  options: IsoWriteOptions = {},
): Promise<RemoveIgnitionResult> {
  const exec = options.exec ?? defaultIsoExec;
  const area = await locateEmbedArea(iso, exec);
  const removed = !isAllZero(await readBytes(iso, area.offset, area.length));
  const written = await writeArea(iso, area, removed ? Buffer.alloc(area.length) : undefined, options.output);
  return { written, area, removed };
}
