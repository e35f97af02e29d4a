/**
 * dnf: installing packages into a root from the given repositories only (local directories, or
 * remote baseurls/metalinks on a host that reaches them). Quirks handled here
 * (measured on Debian 12 with dnf 4): Debian's rpm keeps its database in `~/.rpmdb` unless a HOME
 * whose `.rpmmacros` sets `%_dbpath` is given; the host's dnf.conf turns gpgcheck on and its
 * repos.d points at the network, so reposdir is an empty directory; `--installroot` must be
 * absolute; plugins and weak dependencies are off. dnf keeps its repo cache in `cachedir` on the
 * host but also writes `ROOT/<cachedir>/expired_repos.json`, `ROOT/<logdir>` and
 * `ROOT/<persistdir>`, plus `etc/dnf/modules.d` and sqlite side files in the root: all of that is
 * removed after the install, so the root holds only what the packages installed. A package in no
 * repository is named first (with where it was asked for), not after dnf's long command line.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FcosError } from '../errors.ts';
import { ToolError, type ToolExec } from '../exec.ts';

/** Where the rpm database lives in the root, as on Fedora. */
export const RPM_DB_PATH = 'usr/lib/sysimage/rpm';

/** A local repository dnf reads. */
export interface LocalRepository {
  /** Repository id. */
  readonly name: string;
  /** Path of the directory holding `repodata/`. */
  readonly directory: string;
}

/** A remote repository, as a .repo file defines it. */
export interface RemoteRepository {
  /** Repository id. */
  readonly name: string;
  /** Base URLs (mirrors). */
  readonly baseurl?: readonly string[];
  /** Metalink URL. */
  readonly metalink?: string;
  /** Mirror list URL. */
  readonly mirrorlist?: string;
}

/** A repository dnf reads. */
export type Repository = LocalRepository | RemoteRepository;

/** Options of {@link installPackages}. */
export interface InstallPackagesOptions {
  /** The root to install into (created if missing). */
  readonly installRoot: string;
  /** A fresh scratch directory for dnf's HOME, empty repos.d, cache and logs (outside the root). */
  readonly stateDir: string;
  /** The repositories to read (no other is enabled). */
  readonly repositories: readonly Repository[];
  /** Package names (or specs) to install. */
  readonly packages: readonly string[];
  /**
   * Packages never to install (`exclude-packages`).
   * @default []
   */
  readonly exclude?: readonly string[];
  /** `$releasever`. */
  readonly releaseVersion: string;
  /**
   * SOURCE_DATE_EPOCH: makes rpmdb.sqlite byte-identical run to run.
   * @default not set
   */
  readonly sourceDateEpoch?: number;
  /**
   * Where the packages were asked for, as a person reads it (`treefile fedora/x86_64/coreos`): named
   * when a package is in no repository.
   * @default not named
   */
  readonly origin?: string;
  /**
   * Construct path of the node installing, carried by the errors.
   * @default none
   */
  readonly constructPath?: string;
  /**
   * Architecture to install for (`--forcearch`), when it is not the host's: dnf then takes that
   * arch's and noarch packages. rpm runs a foreign scriptlet only if the host can execute the
   * arch (qemu-user binfmt); otherwise the scriptlet fails with a warning and the install goes on.
   * @default the host's arch
   */
  readonly forceArch?: string;
}

/** Packages asked for are in none of the enabled repositories (dnf's "No match for argument"). */
export class PackageNotFoundError extends FcosError {
  /** The package names or specs dnf found nowhere, in dnf's order. */
  readonly packages: readonly string[];
  /** The repositories that were enabled. */
  readonly repositories: readonly string[];

  constructor(
    packages: readonly string[],
    repositories: readonly string[],
    options: { origin?: string; constructPath?: string; dnfLines?: readonly string[]; cause?: unknown } = {},
  ) {
    const names = packages.map((name) => `'${name}'`).join(', ');
    const origin = options.origin ? ` (${options.origin})` : '';
    const [subject, verb] = packages.length === 1 ? ['package', 'is'] : ['packages', 'are'];
    super(
      `${subject} ${names}${origin} ${verb} in no enabled repository (${repositories.join(', ') || 'none'})` +
        (options.dnfLines ?? []).map((line) => `\n  dnf: ${line}`).join(''),
      {
        field: 'packages',
        ...(options.constructPath === undefined ? {} : { constructPath: options.constructPath }),
        cause: options.cause,
      },
    );
    this.packages = packages;
    this.repositories = repositories;
  }
}

/**
 * The packages dnf's output says it found in no repository: dnf 4's `No match for argument: X`
 * (one line each) and `Error: Unable to find a match: X Y` (dnf 4 and 5, all on one line).
 */
export function unmatchedPackages(output: string): string[] {
  const names = new Set<string>();
  for (const match of output.matchAll(/^No match for argument: (.+)$/gm)) names.add(match[1]!.trim());
  for (const match of output.matchAll(/Unable to find a match: (.+)$/gm)) {
    for (const name of match[1]!.trim().split(/\s+/)) names.add(name);
  }
  return [...names];
}

/** Installs `packages` into `installRoot` from `repositories` only, then tidies the root. */
export async function installPackages(exec: ToolExec, options: InstallPackagesOptions): Promise<void> {
  const installRoot = path.resolve(options.installRoot);
  const state = path.resolve(options.stateDir);
  const directories = {
    home: path.join(state, 'home'),
    repos: path.join(state, 'repos.d'),
    cache: path.join(state, 'cache'),
    log: path.join(state, 'log'),
    persist: path.join(state, 'persist'),
  };
  for (const directory of [installRoot, ...Object.values(directories)])
    await mkdir(directory, { recursive: true });
  await writeFile(path.join(directories.home, '.rpmmacros'), `%_dbpath /${RPM_DB_PATH}\n`);
  const existedBefore = existingPaths(installRoot, [
    ...ancestorsInside(state),
    'etc/dnf',
    'etc/dnf/modules.d',
  ]);
  const args = [
    '-y',
    `--installroot=${installRoot}`,
    `--releasever=${options.releaseVersion}`,
    '--nogpgcheck',
    `--setopt=reposdir=${directories.repos}`,
    `--setopt=cachedir=${directories.cache}`,
    `--setopt=logdir=${directories.log}`,
    `--setopt=persistdir=${directories.persist}`,
    '--setopt=install_weak_deps=False',
    '--setopt=tsflags=nodocs',
    '--disableplugin=*',
  ];
  await writeFile(path.join(directories.repos, 'fcos-cdk.repo'), repoFile(options.repositories));
  for (const repository of options.repositories) args.push(`--repo=${repository.name}`);
  for (const name of options.exclude ?? []) args.push(`--exclude=${name}`);
  if (options.forceArch !== undefined) args.push(`--forcearch=${options.forceArch}`);
  args.push('install', ...options.packages);
  const env: Record<string, string> = { HOME: directories.home };
  if (options.sourceDateEpoch !== undefined) env.SOURCE_DATE_EPOCH = String(options.sourceDateEpoch);
  try {
    await exec('dnf', args, { env });
  } catch (error) {
    const missing = error instanceof ToolError ? unmatchedPackages(error.outputTail) : [];
    if (missing.length === 0) throw error;
    throw new PackageNotFoundError(
      missing,
      options.repositories.map((repository) => repository.name),
      {
        ...(options.origin === undefined ? {} : { origin: options.origin }),
        ...(options.constructPath === undefined ? {} : { constructPath: options.constructPath }),
        dnfLines: (error as ToolError).outputTail
          .split('\n')
          .filter((line) => /No match for argument: |Unable to find a match: /.test(line)),
        cause: error,
      },
    );
  }
  await removeLeftovers(installRoot, state, existedBefore);
}

/** A dnf .repo file defining `repositories` (gpgcheck off: packages come from the pipeline's own inputs). */
export function repoFile(repositories: readonly Repository[]): string {
  return repositories
    .map((repository) => {
      const lines = [`[${repository.name}]`, `name=${repository.name}`, 'enabled=1', 'gpgcheck=0'];
      if ('directory' in repository) lines.push(`baseurl=file://${path.resolve(repository.directory)}`);
      else {
        if (repository.baseurl?.length) lines.push(`baseurl=${repository.baseurl.join(' ')}`);
        if (repository.metalink) lines.push(`metalink=${repository.metalink}`);
        if (repository.mirrorlist) lines.push(`mirrorlist=${repository.mirrorlist}`);
      }
      return `${lines.join('\n')}\n`;
    })
    .join('\n');
}

/** Relative paths of `absolute`'s directory and its ancestors, deepest first (`a/b/c`, `a/b`, `a`). */
function ancestorsInside(absolute: string): string[] {
  const segments = absolute.split(path.sep).filter(Boolean);
  return segments.map((_, index) => segments.slice(0, segments.length - index).join('/'));
}

/** Which of `relativePaths` exist in `root`. */
function existingPaths(root: string, relativePaths: readonly string[]): Set<string> {
  return new Set(relativePaths.filter((relative) => existsSync(path.join(root, relative))));
}

/** Removes dnf's files from the root, and the directories it created for them if now empty. */
async function removeLeftovers(
  installRoot: string,
  state: string,
  existedBefore: Set<string>,
): Promise<void> {
  await rm(path.join(installRoot, state), { recursive: true, force: true });
  for (const name of ['.rpm.lock', 'rpmdb.sqlite-shm', 'rpmdb.sqlite-wal']) {
    await rm(path.join(installRoot, RPM_DB_PATH, name), { force: true });
  }
  // Top-level directories (tmp, work ...) may belong to a package: only deeper ones are removed.
  const created = [...ancestorsInside(state).slice(0, -1), 'etc/dnf/modules.d', 'etc/dnf'];
  for (const relative of created) {
    if (!existedBefore.has(relative)) await removeIfEmpty(path.join(installRoot, relative));
  }
}

/** Removes `directory` if it exists and is empty. */
async function removeIfEmpty(directory: string): Promise<void> {
  if (!existsSync(directory)) return;
  if ((await readdir(directory)).length === 0) await rmdir(directory);
}
