/**
 * Versions of installed Debian packages, for fingerprints of host inputs and for the versions of
 * RPMs repackaged from them. Fingerprints run on every node of every run, so the versions are read
 * from dpkg's database file (/var/lib/dpkg/status, parsed once per process and again only when it
 * changes) instead of a dpkg-query process per node; dpkg-query remains the fallback. Its quirks:
 * it exits 1 when any package is unknown but still prints the known ones, and prints an empty
 * version for packages that are known but not installed (only their config files left).
 */
import { readFileSync, statSync } from 'node:fs';
import type { ToolExec } from '../exec.ts';

/** dpkg's database of installed packages. */
const DPKG_STATUS_FILE = '/var/lib/dpkg/status';

/** dpkg-query's output format (its own `${field}` syntax, tab-separated, one package a line). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template.
const FORMAT = '${Package}\\t${db:Status-Status}\\t${Version}\\n';

/** The status file parsed, with the mtime it was parsed at. */
let parsedStatus: { mtimeMs: number; versions: Map<string, string> } | undefined;

/** Installed package → version, from dpkg's status file (cached while the file is unchanged). */
function versionsFromStatusFile(): Map<string, string> | undefined {
  const stats = statSync(DPKG_STATUS_FILE, { throwIfNoEntry: false });
  if (!stats) return undefined;
  if (parsedStatus?.mtimeMs === stats.mtimeMs) return parsedStatus.versions;
  const versions = new Map<string, string>();
  for (const paragraph of readFileSync(DPKG_STATUS_FILE, 'utf8').split(/\n\n+/)) {
    const name = /^Package: (\S+)$/m.exec(paragraph)?.[1];
    const status = /^Status: .* (\S+)$/m.exec(paragraph)?.[1];
    const version = /^Version: (\S+)$/m.exec(paragraph)?.[1];
    if (name && status === 'installed' && version) versions.set(name, version);
  }
  parsedStatus = { mtimeMs: stats.mtimeMs, versions };
  return versions;
}

/** Installed version of each of `packages` that is installed (`1:1.35.0-4+deb12u1+b1`). */
export async function installedVersions(
  exec: ToolExec,
  packages: readonly string[],
): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  if (packages.length === 0) return versions;
  const database = versionsFromStatusFile();
  if (database) {
    for (const name of packages) {
      const version = database.get(name);
      if (version) versions.set(name, version);
    }
    return versions;
  }
  const result = await exec('dpkg-query', ['-W', '-f', FORMAT, ...packages], { okExitCodes: [0, 1] });
  for (const line of result.stdout.split('\n')) {
    const [name, status, version] = line.split('\t');
    if (name && status === 'installed' && version) versions.set(name, version);
  }
  return versions;
}

/**
 * The upstream part of a Debian version, usable as an RPM Version: no epoch, no Debian revision
 * (`1:1.35.0-4+deb12u1+b1` gives `1.35.0`, `2.14.0+ds1-1+b6` gives `2.14.0+ds1`).
 */
export function upstreamVersion(debianVersion: string): string {
  const withoutEpoch = debianVersion.replace(/^\d+:/, '');
  const dash = withoutEpoch.lastIndexOf('-');
  const upstream = dash > 0 ? withoutEpoch.slice(0, dash) : withoutEpoch;
  return upstream.replace(/[^A-Za-z0-9._+~^]/g, '_');
}
