/**
 * Typed errors of the release documents: each says which document, which version or build, and
 * why the change was refused, so a publish that would rewrite history stops with one clear line.
 */
import { FcosError } from '../errors.ts';

/** A change to a stream's release index (releases.json) that would break its append-only rule. */
export class ReleaseIndexError extends FcosError {
  /** The version the refused change was about. */
  readonly version: string;

  constructor(version: string, message: string, options: { constructPath?: string; cause?: unknown } = {}) {
    super(`releases.json: cannot add release ${version}: ${message}`, { ...options, field: 'releases' });
    this.version = version;
  }
}

/** A change to a stream's builds index (builds.json) that would add an arch of a build twice. */
export class BuildsIndexError extends FcosError {
  /** The build id the refused change was about. */
  readonly buildId: string;

  constructor(buildId: string, message: string, options: { constructPath?: string; cause?: unknown } = {}) {
    super(`builds.json: cannot add build ${buildId}: ${message}`, { ...options, field: 'builds' });
    this.buildId = buildId;
  }
}

/** Builds that cannot form one release (versions differ, an arch twice, an image name unreadable). */
export class ReleaseDocumentError extends FcosError {}
