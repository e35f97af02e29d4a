/**
 * dpkg-query: versions of installed Debian packages, for fingerprints of host inputs and for the
 * versions of RPMs repackaged from them. Quirk handled here: dpkg-query exits 1 when any package
 * is unknown but still prints the known ones, and prints an empty version for packages that are
 * known but not installed (only their config files left).
 */
import type { ToolExec } from './tool-exec.ts';

/** dpkg-query's output format (its own `${field}` syntax, tab-separated, one package a line). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template.
const FORMAT = '${Package}\\t${db:Status-Status}\\t${Version}\\n';

/** Installed version of each of `packages` that is installed (`1:1.35.0-4+deb12u1+b1`). */
export async function installedVersions(
  exec: ToolExec,
  packages: readonly string[],
): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  if (packages.length === 0) return versions;
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
