/**
 * The UpdateTest runner's errors: inputs that cannot make the scenario (not a test failure, which
 * is a `fail` result in the report), and a served tree that does not offer what the scenario needs.
 */
import { FcosError } from '../../lib/errors.ts';

/** The inputs cannot make the scenario (an image not of the `from` commit, no version, no key). */
export class UpdateTestInputError extends FcosError {}

/** The served graph does not offer (or hide) the target as the scenario needs: the harness's fault. */
export class UpdateTestSetupError extends FcosError {}
