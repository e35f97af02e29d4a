/**
 * Typed errors. Every error a user can cause carries the construct path (and the field, where
 * there is one) so that the CLI can print one clear paragraph instead of a stack trace.
 */

/** Base class of every error fcos-cdk raises on purpose; the CLI prints `message` without a stack. */
export class FcosError extends Error {
  /** Construct path of the node the error is about, if any. */
  readonly constructPath: string | undefined;
  /** Dotted name of the prop or setting at fault, if any. */
  readonly field: string | undefined;

  constructor(message: string, options: { constructPath?: string; field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.constructPath = options.constructPath;
    this.field = options.field;
  }
}

/** One problem found while validating a node: which field, and what is wrong with it. */
export interface ValidationIssue {
  /** Construct path of the node. */
  readonly constructPath: string;
  /** Dotted prop name (`commit`, `options.bucket`), or undefined for a problem of the whole node. */
  readonly field?: string;
  /** What is wrong, as a sentence. */
  readonly message: string;
}

/** Renders an issue as `'path', field 'x': message`. */
export function formatIssue(issue: ValidationIssue): string {
  const where = issue.field ? `'${issue.constructPath}', field '${issue.field}'` : `'${issue.constructPath}'`;
  return `${where}: ${issue.message}`;
}

/** Props given to a construct do not match its schema, or a cross-node check failed. */
export class ValidationError extends FcosError {
  /** Every problem found, in construct-path order. */
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[]) {
    const first = issues[0];
    const lines = issues.map((issue) => `  - ${formatIssue(issue)}`);
    super(
      `invalid pipeline (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
      {
        ...(first?.constructPath !== undefined ? { constructPath: first.constructPath } : {}),
        ...(first?.field !== undefined ? { field: first.field } : {}),
      },
    );
    this.issues = issues;
  }
}

/** A context value the program asked for was not given with `-c key=value` nor defaulted. */
export class MissingContextError extends FcosError {
  constructor(key: string, constructPath: string, hint?: string) {
    super(
      `'${constructPath}' needs context value '${key}', which was not given: pass -c ${key}=VALUE` +
        (hint ? ` (${hint})` : ''),
      { constructPath, field: `context.${key}` },
    );
  }
}

/** Two constructs in one scope were given the same id. */
export class DuplicateIdError extends FcosError {
  constructor(scopePath: string, id: string) {
    super(
      `there is already a construct with id '${id}' in '${scopePath || '<root>'}': ids must be unique within their scope`,
      { constructPath: scopePath ? `${scopePath}/${id}` : id, field: 'id' },
    );
  }
}

/** Explicit dependencies (`node.addDependency`) form a cycle. */
export class CycleError extends FcosError {
  /** The nodes of the cycle, first node repeated at the end. */
  readonly cycle: readonly string[];

  constructor(cycle: readonly string[]) {
    super(
      `dependency cycle: ${cycle.map((p) => `'${p}'`).join(' -> ')}; remove one of these node.addDependency() calls`,
      { constructPath: cycle[0] ?? '', field: 'dependsOn' },
    );
    this.cycle = cycle;
  }
}

/** The pipeline program is missing, or threw while it was being run. */
export class AppError extends FcosError {}

/** `fcos.out/pipeline.json` is missing, unreadable, or not of a schema this version understands. */
export class AssemblyError extends FcosError {}

/** A filesystem has not (or no longer) the space a node needs: names its mount point and the sizes. */
export class NoSpaceError extends FcosError {
  /** Mount point of the filesystem that is full. */
  readonly mountPoint: string;
  /** Bytes the node needs there (at most). */
  readonly neededBytes: number;
  /** Bytes free there for an unprivileged writer when the error was raised. */
  readonly availableBytes: number;

  constructor(
    message: string,
    details: { mountPoint: string; neededBytes: number; availableBytes: number },
    options: { constructPath?: string; field?: string; cause?: unknown } = {},
  ) {
    super(message, options);
    this.mountPoint = details.mountPoint;
    this.neededBytes = details.neededBytes;
    this.availableBytes = details.availableBytes;
  }
}
