/**
 * Versions as Fedora CoreOS numbers them, `X.Y.Z.A`: X the Fedora major (releasever), Y the date
 * of the content's snapshot (`YYYYMMDD`, UTC), Z the stream's code, A the respin counter. The
 * treefile's `automatic-version-prefix` spells `X.Y.Z` (`41.<date:%Y%m%d>.${stream_code}`, as
 * fedora-coreos-config does); the compose appends the respin. The version is a pure function of the
 * treefile, the snapshot time and the respin counter: nothing outside the node's inputs and props
 * decides it (no index of earlier composes, no clock), so any cache, any machine composes the same
 * commit with the same version.
 */
import { FcosError } from '../errors.ts';

/**
 * The stream codes of Fedora CoreOS versions (the `Z` of `X.Y.Z.A`): production streams are 1-3,
 * their development streams 10-30, the mechanical streams 90-99.
 */
export const STREAM_CODES = Object.freeze({
  next: 1,
  testing: 2,
  stable: 3,
  'next-devel': 10,
  'testing-devel': 20,
  rawhide: 91,
  branched: 92,
} as const);

/** A stream that has a version code. */
export type StreamName = keyof typeof STREAM_CODES;

/** A stream Fedora CoreOS gives no version code (not one of {@link STREAM_CODES}). */
export class UnknownStreamError extends FcosError {
  /** The stream asked for. */
  readonly stream: string;

  constructor(stream: string, options: { constructPath?: string; field?: string } = {}) {
    super(
      `stream '${stream}' has no Fedora CoreOS version code: known streams are ${Object.entries(STREAM_CODES)
        .map(([name, code]) => `${name} (${code})`)
        .join(', ')}`,
      { field: 'stream', ...options },
    );
    this.stream = stream;
  }
}

/** The code of `stream` in versions (`testing` → 2); an unknown stream throws {@link UnknownStreamError}. */
export function streamCode(stream: string, options: { constructPath?: string; field?: string } = {}): number {
  if (!Object.hasOwn(STREAM_CODES, stream)) throw new UnknownStreamError(stream, options);
  return STREAM_CODES[stream as StreamName];
}

/** What decides a compose's version. */
export interface VersionSource {
  /**
   * The treefile's `automatic-version-prefix`, its variables already substituted.
   * @default `<releasever>.<date:%Y%m%d>`
   */
  readonly automaticVersionPrefix?: string | undefined;
  /**
   * The treefile's `releasever`, for the default prefix.
   * @default '0'
   */
  readonly releasever?: string | number | undefined;
  /**
   * The content's snapshot time (or the `timestamp` prop that overrides it), seconds since the
   * epoch: the `<date:...>` of the prefix.
   */
  readonly timestamp: number;
  /** The respin counter: the version's last component. */
  readonly respin: number;
}

/** Expands `<date:FORMAT>` in a version prefix from the snapshot time (UTC), so versions are reproducible. */
export function expandVersionPrefix(prefix: string, timestamp: number): string {
  const date = new Date(timestamp * 1000);
  const fields: Record<string, string> = {
    Y: String(date.getUTCFullYear()),
    m: String(date.getUTCMonth() + 1).padStart(2, '0'),
    d: String(date.getUTCDate()).padStart(2, '0'),
    H: String(date.getUTCHours()).padStart(2, '0'),
    M: String(date.getUTCMinutes()).padStart(2, '0'),
  };
  return prefix.replace(/<date:([^>]*)>/g, (_, format: string) =>
    format.replace(/%([YmdHM])/g, (__, field: string) => fields[field]!),
  );
}

/** `<expanded prefix>.<respin>`: the version recorded in the commit and written into os-release. */
export function composeVersion(source: VersionSource): string {
  const prefix = source.automaticVersionPrefix ?? `${source.releasever ?? '0'}.<date:%Y%m%d>`;
  return `${expandVersionPrefix(prefix, source.timestamp)}.${source.respin}`;
}
