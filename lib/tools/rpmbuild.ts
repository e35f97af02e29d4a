/**
 * rpmbuild: binary RPMs from a spec file, reproducibly. Quirks handled here: the user's
 * `~/.rpmmacros` would leak into the build (HOME is pointed at an empty directory); build time,
 * build host and file mtimes come from SOURCE_DATE_EPOCH only with three defines; the default gzip -9
 * payload is slow (zstd level 3 is ten times faster and smaller); RPMs are written flat into one
 * directory instead of `ARCH/` subdirectories; the scriptlets rpmbuild writes (`rpm-tmp.*`, in
 * /var/tmp by default, left there when it is killed) go to `%{_tmppath}` under the top directory,
 * so they are removed with it (a node's work directory is swept even after a `kill -9`).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { FcosError } from '../errors.ts';
import type { ToolExec } from '../exec.ts';

/** Options of {@link buildBinaryRpms}. */
export interface RpmbuildOptions {
  /** The spec file. */
  readonly specFile: string;
  /** Where the spec's `SourceN` files are (`%{_sourcedir}`). */
  readonly sourceDir: string;
  /** rpmbuild's `%{_topdir}` (BUILD, BUILDROOT ..., and `tmp` as `%{_tmppath}`), created if missing. */
  readonly topDir: string;
  /** Directory the RPMs are written to (flat: `NAME-VERSION-RELEASE.ARCH.rpm`), created if missing. */
  readonly rpmDir: string;
  /** SOURCE_DATE_EPOCH: build time and the clamp of every file's mtime. */
  readonly sourceDateEpoch: number;
  /** Target architecture (`--target`); noarch specs stay noarch. */
  readonly targetArch: string;
  /**
   * Extra macros (`--define "NAME VALUE"`), e.g. where host files are.
   * @default {}
   */
  readonly defines?: Readonly<Record<string, string>>;
}

/** rpmbuild finished without writing any package. */
export class RpmbuildNoOutputError extends FcosError {}

/** Macros that make the RPM bytes depend only on the spec, its sources and SOURCE_DATE_EPOCH. */
export const REPRODUCIBLE_DEFINES: Readonly<Record<string, string>> = {
  use_source_date_epoch_as_buildtime: '1',
  clamp_mtime_to_source_date_epoch: '1',
  _buildhost: 'builder',
  _binary_payload: 'w3.zstdio',
};

/** Runs `rpmbuild -bb` on one spec; resolves with the paths of the RPMs it wrote, sorted. */
export async function buildBinaryRpms(exec: ToolExec, options: RpmbuildOptions): Promise<string[]> {
  const home = path.join(options.topDir, 'home');
  const temporary = path.join(options.topDir, 'tmp');
  await mkdir(home, { recursive: true });
  await mkdir(temporary, { recursive: true });
  await mkdir(options.rpmDir, { recursive: true });
  const defines: Record<string, string> = {
    _topdir: options.topDir,
    _sourcedir: options.sourceDir,
    _rpmdir: options.rpmDir,
    _tmppath: temporary,
    _build_name_fmt: '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm',
    ...REPRODUCIBLE_DEFINES,
    ...options.defines,
  };
  const args = ['-bb', '--target', options.targetArch];
  for (const [name, value] of Object.entries(defines)) args.push('--define', `${name} ${value}`);
  args.push(options.specFile);
  const result = await exec('rpmbuild', args, {
    env: { HOME: home, SOURCE_DATE_EPOCH: String(options.sourceDateEpoch), TZ: 'UTC' },
  });
  const written = writtenPackages(result.stdout + result.stderr);
  if (written.length === 0) {
    throw new RpmbuildNoOutputError(`rpmbuild ${options.specFile} wrote no package (no 'Wrote:' line)`);
  }
  return written;
}

/** Paths of the `Wrote: PATH` lines of rpmbuild's output, sorted. */
export function writtenPackages(output: string): string[] {
  const paths: string[] = [];
  for (const line of output.split('\n')) {
    const match = /^Wrote: (.+\.rpm)$/.exec(line.trim());
    if (match?.[1]) paths.push(match[1]);
  }
  return paths.sort();
}
