/** The typed errors of the Release kind. */
import { FcosError } from '../../lib/errors.ts';

/** A gate of the release failed: names the failed tests and the node whose report has them. */
export class ReleaseGateError extends FcosError {
  /** The failed tests, as `<report node>: <test>`. */
  readonly failedTests: readonly string[];

  constructor(
    message: string,
    failedTests: readonly string[],
    options: { constructPath: string; field: string },
  ) {
    super(message, options);
    this.failedTests = failedTests;
  }
}

/** release.json cannot be made: a build input is not a Build's meta.json, or the document is invalid. */
export class ReleaseError extends FcosError {}
