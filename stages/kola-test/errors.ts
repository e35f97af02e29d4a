/**
 * The KolaTest runner's errors: tests that failed, and a selection that names no test.
 */
import { FcosError } from '../../lib/errors.ts';

/** A test failed; the message names it and shows the console's last lines. */
export class KolaTestFailedError extends FcosError {}

/** A pattern of `tests` matches no test (kola refuses such a run too). */
export class NoMatchingTestError extends FcosError {}
