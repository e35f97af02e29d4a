/**
 * Typed errors of signing: where the key was to come from, what is wrong with it, and what to set.
 * They never carry key material: only environment variable names, paths and fingerprints.
 */
import { FcosError } from '../errors.ts';

/** The signing key could not be found, read or used; the message says what to set. */
export class SigningKeyError extends FcosError {
  constructor(message: string, options: { constructPath?: string; field?: string; cause?: unknown } = {}) {
    super(message, { field: 'signing', ...options });
  }
}

/** A signature could not be made or checked. */
export class SigningError extends FcosError {}
