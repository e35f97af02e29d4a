/** The typed error of the Build kind. */
import { FcosError } from '../../lib/errors.ts';

/**
 * A Build cannot write its meta.json: an input from another commit, an image without
 * PlatformImage metadata, an unreadable release index, or a meta.json cosa's schema refuses.
 */
export class BuildError extends FcosError {}
