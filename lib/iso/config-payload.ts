/**
 * What is written into the embed area: an xz stream (CRC32 check, the only one the kernel's
 * decompressor verifies) of a newc archive holding `config.ign` (0644, owner 0:0, mtime 0), as
 * coreos-installer writes it. The kernel unpacks it as the last initrd and ignores the zeros
 * after it; the live initramfs hands `/config.ign` to Ignition.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { findOnPath, type ToolExec } from '../exec.ts';
import { CorruptEmbedAreaError, InvalidIgnitionConfigError, MissingIsoToolError } from './errors.ts';
import { NewcFormatError, readNewcArchive, writeNewcArchive } from './newc-cpio.ts';

/** The config's name in the archive, where the live initramfs looks for it. */
export const EMBEDDED_CONFIG_NAME = 'config.ign';
/** The magic bytes every xz stream starts with. */
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/**
 * Refuses `config` (read from `source`, named in the message) unless it is UTF-8 JSON whose
 * `ignition.version` is a version string: what Ignition checks first, and what tells a config
 * from any other JSON. The config's bytes are embedded as given, never re-serialized.
 */
export function validateIgnitionConfig(config: Uint8Array, source: string): void {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(config);
  } catch {
    throw new InvalidIgnitionConfigError(source, 'it is not UTF-8 text');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidIgnitionConfigError(source, `it is not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InvalidIgnitionConfigError(source, 'it is not a JSON object');
  const version = (parsed as { ignition?: { version?: unknown } }).ignition?.version;
  if (typeof version !== 'string' || !/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$/.test(version))
    throw new InvalidIgnitionConfigError(source, 'it has no "ignition": {"version": "X.Y.Z"}');
}

/** Runs `xz args` on `input` in a temporary directory and returns its (binary) output. */
async function xz(exec: ToolExec, args: readonly string[], input: Uint8Array): Promise<Buffer> {
  if (findOnPath('xz') === undefined) throw new MissingIsoToolError('xz', 'xz-utils');
  const directory = await mkdtemp(path.join(os.tmpdir(), 'fcos-iso-'));
  try {
    const output = path.join(directory, 'output');
    // The output goes to a file: runTool captures stdout as text, which would mangle binary bytes.
    await exec('xz', args, {
      input: Readable.from([Buffer.from(input)]),
      stdoutFile: output,
      quietStdout: true,
    });
    return await readFile(output);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/**
 * The bytes to write into the embed area for `config`: the same config always gives the same
 * bytes (fixed archive fields, one xz thread; xz's multi-threaded output differs).
 */
export async function buildConfigPayload(config: Uint8Array, exec: ToolExec): Promise<Buffer> {
  const archive = writeNewcArchive([{ name: EMBEDDED_CONFIG_NAME, mode: 0o644, data: config }]);
  return xz(exec, ['--format=xz', '--check=crc32', '-9e', '--threads=1', '-c'], archive);
}

/** Whether every byte of `bytes` is zero: a pristine (or cleared) embed area. */
export function isAllZero(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}

/**
 * The config embedded in `area` (the embed area's bytes of `iso`), or undefined when the area is
 * all zeros. Refuses (CorruptEmbedAreaError) anything else than an xz stream of a newc archive
 * holding config.ign; what follows the first xz stream is ignored, as the kernel ignores it.
 */
export async function readConfigPayload(
  area: Uint8Array,
  iso: string,
  exec: ToolExec,
): Promise<Buffer | undefined> {
  if (isAllZero(area)) return undefined;
  if (!Buffer.from(area.subarray(0, XZ_MAGIC.length)).equals(XZ_MAGIC))
    throw new CorruptEmbedAreaError(iso, 'it does not start with an xz stream');
  let archive: Buffer;
  try {
    archive = await xz(exec, ['--decompress', '--stdout', '--single-stream'], area);
  } catch (error) {
    if (error instanceof MissingIsoToolError) throw error;
    throw new CorruptEmbedAreaError(iso, 'its xz stream does not decompress', { cause: error });
  }
  let files: ReturnType<typeof readNewcArchive>;
  try {
    files = readNewcArchive(archive);
  } catch (error) {
    if (!(error instanceof NewcFormatError)) throw error;
    throw new CorruptEmbedAreaError(iso, `its archive is not newc cpio (${error.message})`);
  }
  const config = files.find((file) => file.name === EMBEDDED_CONFIG_NAME);
  if (config === undefined)
    throw new CorruptEmbedAreaError(iso, `its archive holds no ${EMBEDDED_CONFIG_NAME}`);
  return Buffer.from(config.data);
}
