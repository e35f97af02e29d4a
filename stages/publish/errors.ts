/**
 * Typed errors of Publish: each names the node, the destination and the key at fault, so that a
 * publish that would rewrite what is already published stops with one clear paragraph.
 */
import { FcosError } from '../../lib/errors.ts';

/**
 * Publishing would change what the destination already holds in a way the release rules forbid:
 * a published file with other content, a release index that is not append-only, a build's arch
 * published twice.
 */
export class PublishConflictError extends FcosError {
  /** The destination key at fault. */
  readonly key: string;

  constructor(message: string, details: { constructPath: string; key: string; cause?: unknown }) {
    super(message, { constructPath: details.constructPath, field: 'release', cause: details.cause });
    this.key = details.key;
  }
}

/** The node's inputs do not make one publishable release (a file or commit missing, streams mixed). */
export class PublishInputError extends FcosError {}
