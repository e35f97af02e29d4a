/**
 * The version of a compose, a pure function of the treefile, the commit time and the respin
 * counter: `<automatic-version-prefix with <date:...> expanded>.<respin>`. Nothing outside the
 * node's inputs and props decides it (no index of earlier composes), so any cache, any machine
 * composes the same commit with the same version.
 */

/** What decides a compose's version. */
export interface VersionSource {
  /**
   * The treefile's `automatic-version-prefix`.
   * @default `<releasever>.<date:%Y%m%d>`
   */
  readonly automaticVersionPrefix?: string | undefined;
  /**
   * The treefile's `releasever`, for the default prefix.
   * @default '0'
   */
  readonly releasever?: string | number | undefined;
  /** Commit timestamp, seconds since the epoch: the `<date:...>` of the prefix. */
  readonly timestamp: number;
  /** The respin counter: the version's last component. */
  readonly respin: number;
}

/** Expands `<date:FORMAT>` in a version prefix from the commit time (UTC), so versions are reproducible. */
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
