/**
 * Typed Ignition configs (spec 3.3.0) for the VMs the test harness boots: files, users, units,
 * inline data URLs, merging a test's own config.ign, and validation with ignition-validate (of the
 * configs written here and of a test's own file, as it is).
 */
import { writeFile } from 'node:fs/promises';
import { FcosError } from '../errors.ts';
import { findOnPath, lastLines, runTool } from '../exec.ts';
import { canonicalStringify } from '../util/canonical-json.ts';

/** The spec version written. */
export const IGNITION_SPEC_VERSION = '3.3.0';

/** A file written by Ignition. */
export interface IgnitionFile {
  /** Absolute path in the target system. */
  readonly path: string;
  /** Mode as a number (0o644 is 420). */
  readonly mode?: number;
  /** Replace a file that exists. */
  readonly overwrite?: boolean;
  /** Contents, as a data URL source. */
  readonly contents?: { readonly source: string };
  /** Owner by name. */
  readonly user?: { readonly name?: string; readonly id?: number };
  /** Group by name. */
  readonly group?: { readonly name?: string; readonly id?: number };
}

/** A directory created by Ignition. */
export interface IgnitionDirectory {
  /** Absolute path. */
  readonly path: string;
  /** Mode as a number. */
  readonly mode?: number;
}

/** A symbolic link created by Ignition. */
export interface IgnitionLink {
  /** Absolute path of the link. */
  readonly path: string;
  /** Where it points. */
  readonly target: string;
  /** Create a hard link instead. */
  readonly hard?: boolean;
}

/** A user created by Ignition. */
export interface IgnitionUser {
  /** Login name. */
  readonly name: string;
  /** User id. */
  readonly uid?: number;
  /** GECOS comment. */
  readonly gecos?: string;
  /** Home directory. */
  readonly homeDir?: string;
  /** Login shell. */
  readonly shell?: string;
  /** Do not create the home directory. */
  readonly noCreateHome?: boolean;
  /** Password hash (crypt(3)). */
  readonly passwordHash?: string;
  /** SSH public keys. */
  readonly sshAuthorizedKeys?: readonly string[];
  /** Supplementary groups. */
  readonly groups?: readonly string[];
}

/** A systemd unit written by Ignition. */
export interface IgnitionUnit {
  /** Unit name (`foo.service`). */
  readonly name: string;
  /** Unit file contents. */
  readonly contents?: string;
  /** Enable the unit. */
  readonly enabled?: boolean;
}

/** An Ignition config, spec 3.3.0 (the parts fcos-cdk writes). */
export interface IgnitionConfig {
  /** Version and merged configs. */
  readonly ignition: { readonly version: typeof IGNITION_SPEC_VERSION };
  /** Users and groups. */
  readonly passwd?: {
    readonly users?: readonly IgnitionUser[];
    readonly groups?: ReadonlyArray<{ readonly name: string; readonly gid?: number }>;
  };
  /** Files, directories, links. */
  readonly storage?: {
    readonly files?: readonly IgnitionFile[];
    readonly directories?: readonly IgnitionDirectory[];
    readonly links?: readonly IgnitionLink[];
  };
  /** systemd units. */
  readonly systemd?: { readonly units?: readonly IgnitionUnit[] };
}

/** A config that ignition-validate refuses; the message carries the validator's words. */
export class InvalidIgnitionConfigError extends FcosError {}

/** What ignition-validate said of one config file. */
export interface IgnitionValidation {
  /** Whether ignition-validate is installed and ran (otherwise nothing was checked). */
  readonly validated: boolean;
  /** Whether it accepted the config (warnings do not make a config invalid). */
  readonly valid: boolean;
  /** Its errors, one per line (`error at $.storage.files.0.path, line 2 col 29: path not absolute`). */
  readonly errors: readonly string[];
  /** Its warnings, one per line (`warning at $.storage.filez, line 1 col 44: Unused key filez`). */
  readonly warnings: readonly string[];
}

/** A `data:` URL of `contents` (base64, so any bytes survive). */
export function dataUrl(contents: string | Buffer): string {
  return `data:;base64,${Buffer.from(contents).toString('base64')}`;
}

/** A file entry with `contents` inlined as a data URL. */
export function inlineFile(filePath: string, contents: string | Buffer, mode = 0o644): IgnitionFile {
  return { path: filePath, mode, overwrite: true, contents: { source: dataUrl(contents) } };
}

/**
 * Merges a config given as plain JSON (a test's own config.ign) into `base` the way Ignition's
 * config merging treats lists of files and units: objects merged member by member, lists
 * concatenated, the second value winning for scalars.
 */
export function mergeIgnitionJson(base: unknown, extra: unknown): unknown {
  if (Array.isArray(base) && Array.isArray(extra)) return [...base, ...extra];
  const isObject = (value: unknown): value is Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!isObject(base) || !isObject(extra)) return extra === undefined ? base : extra;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) merged[key] = mergeIgnitionJson(base[key], value);
  return merged;
}

/**
 * Checks the config in `file` with ignition-validate (the harness's one validator, for the configs
 * it writes and for tests' own config.ign) when it is installed; never throws for an invalid one.
 */
export async function validateIgnitionFile(
  file: string,
  options: { signal?: AbortSignal } = {},
): Promise<IgnitionValidation> {
  const validator = findOnPath('ignition-validate');
  if (!validator) return { validated: false, valid: true, errors: [], warnings: [] };
  const result = await runTool(validator, [file], {
    okExitCodes: [0, 1],
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const lines = `${result.stdout}\n${result.stderr}`
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const warnings = lines.filter((line) => line.startsWith('warning'));
  const errors = lines.filter((line) => !line.startsWith('warning'));
  const valid = result.exitCode === 0;
  return { validated: true, valid, errors: valid ? [] : errors.length > 0 ? errors : lines, warnings };
}

/**
 * Writes `config` (canonical JSON) to `file` and checks it with ignition-validate when it is
 * installed; an invalid config is an {@link InvalidIgnitionConfigError} with the validator's words.
 */
export async function writeIgnitionConfig(
  config: unknown,
  file: string,
  options: { signal?: AbortSignal; constructPath?: string } = {},
): Promise<{ validated: boolean }> {
  await writeFile(file, `${canonicalStringify(config)}\n`);
  const validation = await validateIgnitionFile(file, options.signal ? { signal: options.signal } : {});
  if (!validation.valid) {
    throw new InvalidIgnitionConfigError(
      `the Ignition config is invalid (ignition-validate): ${lastLines(validation.errors.join('\n'), 10)}`,
      { ...(options.constructPath ? { constructPath: options.constructPath } : {}), field: 'ignition' },
    );
  }
  return { validated: validation.validated };
}
