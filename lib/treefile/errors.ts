/**
 * Errors of treefile flattening: each names the node (construct path), the file it is about and
 * the key at fault, so that a failed Manifest node says exactly what to fix and where.
 */
import path from 'node:path';
import { FcosError } from '../errors.ts';

/** Where a problem is: the node, the file (as shown to the user) and the dotted key. */
export interface TreefileErrorLocation {
  /** Construct path of the Manifest node. */
  readonly constructPath: string;
  /** The file at fault, relative to the project when inside it. */
  readonly file?: string;
  /** Dotted key of the setting at fault (`include`, `conditional-include.0.if`, `packages.3`). */
  readonly field?: string;
}

/** Base class of every treefile problem: carries the file as well as the construct path and key. */
export class TreefileError extends FcosError {
  /** The file at fault, as shown in the message. */
  readonly file: string | undefined;

  constructor(message: string, location: TreefileErrorLocation, cause?: unknown) {
    super(message, {
      constructPath: location.constructPath,
      ...(location.field !== undefined ? { field: location.field } : {}),
      ...(cause !== undefined ? { cause } : {}),
    });
    this.file = location.file;
  }
}

/** A treefile is not YAML/JSON, or has an unknown key or a value of the wrong type. */
export class TreefileSchemaError extends TreefileError {}

/** An include is missing, part of a cycle, or included twice. */
export class TreefileIncludeError extends TreefileError {}

/** A `conditional-include` condition is malformed, names an unknown variable, or compares mismatched types. */
export class TreefileConditionError extends TreefileError {}

/** A `${name}` names no variable, or a variable is reserved. */
export class TreefileVariableError extends TreefileError {}

/** A `postprocess-script` or `ostree-layers` path does not exist, or layers clash. */
export class TreefilePathError extends TreefileError {}

/** A repository is defined nowhere, twice, or by a malformed `.repo` file. */
export class RepoDefinitionError extends TreefileError {}

/** A lockfile is not valid JSON/YAML or not in rpm-ostree's lockfile format. */
export class LockfileError extends TreefileError {}

/** `file` as shown in messages: relative to `projectDir` (with forward slashes) unless it is that directory. */
export function displayPath(file: string, projectDir: string): string {
  const relative = path.relative(projectDir, file);
  return relative === '' ? '.' : relative.split(path.sep).join('/');
}
