/**
 * The LocalPackageRepo runner: rpmbuild of every spec, reproducibly (SOURCE_DATE_EPOCH from the
 * spec's newest %changelog entry, the build host's inputs as fingerprint), then createrepo_c.
 * The specs take Debian files from `%{host_root}`: `/` for the host's arch, the foreign root of
 * scripts/foreign-root.sh for another one (lib/tools/foreign-root.ts), whose lock is then the
 * fingerprint and the source of the versions.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import PQueue from 'p-queue';
import type { Arch } from '../../lib/artifacts.ts';
import { FcosError } from '../../lib/errors.ts';
import type { ToolExec } from '../../lib/exec.ts';
import { defineRunner } from '../../lib/runner.ts';
import { createRepository } from '../../lib/tools/createrepo.ts';
import { installedVersions, upstreamVersion } from '../../lib/tools/dpkg.ts';
import {
  type ArchFacts,
  archFacts,
  archRoot,
  hostArch,
  isForeignArch,
  type LockedPackage,
  readForeignRootLock,
} from '../../lib/tools/foreign-root.ts';
import { formatNevra, readPackageIdentities } from '../../lib/tools/rpm.ts';
import { buildBinaryRpms } from '../../lib/tools/rpmbuild.ts';
import { ChangelogDateError, newestChangelogTime } from '../../lib/tools/spec-changelog.ts';
import { directoryListing } from '../../lib/util/directory-listing.ts';
import { localPackageRepoKind } from './index.ts';

/** Debian packages whose files or behaviour decide the bytes of the RPMs, by role. */
const HOST_PACKAGES = {
  busybox: 'busybox-static',
  ignition: 'ignition',
  /** useradd, groupadd ... and /etc/default/useradd (shadow-utils.spec). */
  shadow: 'passwd',
  /** /etc/login.defs (shadow-utils.spec). */
  login: 'login',
  /** /usr/bin/ostree (ostree.spec). */
  ostree: 'ostree',
  /** libostree, which does the work of the ostree CLI (ostree.spec). */
  libostree: 'libostree-1-1',
  /** gpgme, through which libostree verifies signatures (ostree.spec). */
  gpgme: 'libgpgme11',
  /** /usr/bin/gpg, the program gpgme runs (ostree.spec). */
  gnupg: 'gpg',
  /** /usr/bin/gpgv (ostree.spec). */
  gpgv: 'gpgv',
  /** /usr/bin/gpgconf, which gpgme asks where gpg is (ostree.spec). */
  gpgconf: 'gpgconf',
  /** /usr/bin/curl (curl.spec). */
  curl: 'curl',
  /** libcurl, which does the work of the curl CLI (curl.spec). */
  libcurl: 'libcurl4',
  /** /usr/bin/jq (jq.spec). */
  jq: 'jq',
  /** libjq, which does the work of the jq CLI (jq.spec). */
  libjq: 'libjq1',
  /** /usr/bin/bwrap, which ostree runs to finalize a deployment (bubblewrap.spec). */
  bubblewrap: 'bubblewrap',
  /** /usr/bin/zstd, coreos-installer's decompressor of zstd images (zstd.spec). */
  zstd: 'zstd',
  rpm: 'rpm',
  createrepo: 'createrepo-c',
} as const;

/** The roles of {@link HOST_PACKAGES} that are build tools: always the build host's, whatever the arch. */
const BUILD_TOOL_ROLES: ReadonlySet<keyof typeof HOST_PACKAGES> = new Set(['rpm', 'createrepo']);

/** The resolver of the shared libraries of ELF files the specs use, in the specs directory. */
const ELF_LIBRARIES_SCRIPT = 'elf-libraries.sh';

/** A file or Debian package of the build host that the specs take is not installed. */
export class MissingHostInputError extends FcosError {}

/** The props ask for something this host cannot build (a package without a spec, another arch). */
export class LocalPackageRepoError extends FcosError {}

/** The host kernel the tiny-kernel package is made from. */
export interface HostKernel {
  /** Its version: the directory name under /usr/lib/modules (`6.1.0-56-amd64`). */
  readonly version: string;
  /** Path of its vmlinuz. */
  readonly vmlinuz: string;
}

/** The build host's inputs of the specs: what the RPMs are made from, besides the specs. */
export interface HostInputs {
  /** The architecture the files are of. */
  readonly arch: Arch;
  /** Where the files are (`%{host_root}`): `/`, or the arch's foreign root. */
  readonly root: string;
  /** What differs between arches (multiarch triplet, dynamic loader). */
  readonly facts: ArchFacts;
  /** The foreign root's lock (what it is made of), undefined for the host's own files. */
  readonly lock: readonly LockedPackage[] | undefined;
  /** The kernel packaged as tiny-kernel. */
  readonly kernel: HostKernel;
  /** Debian version of the kernel's package, or size and mtime of its vmlinuz if no package has it. */
  readonly kernelBuild: string;
  /** Installed Debian version of each of {@link HOST_PACKAGES}, by role. */
  readonly debianVersions: Readonly<Record<keyof typeof HOST_PACKAGES, string>>;
}

/** The newest kernel of the host with modules.dep and a vmlinuz (/boot/vmlinuz-KVER or beside its modules). */
export async function findHostKernel(hostRoot = '/'): Promise<HostKernel> {
  const modulesRoot = path.join(hostRoot, 'usr/lib/modules');
  const versions = existsSync(modulesRoot) ? await readdir(modulesRoot) : [];
  const kernels: HostKernel[] = [];
  for (const version of versions) {
    if (!existsSync(path.join(modulesRoot, version, 'modules.dep'))) continue;
    const vmlinuz = [
      path.join(hostRoot, 'boot', `vmlinuz-${version}`),
      path.join(modulesRoot, version, 'vmlinuz'),
    ].find((candidate) => existsSync(candidate));
    if (vmlinuz) kernels.push({ version, vmlinuz });
  }
  kernels.sort((left, right) => left.version.localeCompare(right.version, 'en', { numeric: true }));
  const newest = kernels.at(-1);
  if (!newest) {
    throw new MissingHostInputError(
      `no kernel with modules.dep and a vmlinuz under ${modulesRoot}: install linux-image-amd64 (scripts/setup.sh)`,
    );
  }
  return newest;
}

/**
 * Reads the build host's inputs of the specs for `arch`: the host's installed packages for its own
 * arch; for another one, the versions of the foreign root's lock (the build tools stay the host's).
 */
export async function readHostInputs(
  exec: ToolExec,
  constructPath: string,
  arch: Arch = hostArch() ?? 'x86_64',
): Promise<HostInputs> {
  const facts = archFacts(arch);
  if (!facts) {
    throw new LocalPackageRepoError(
      `the local tiny OS cannot be built for ${arch}: only for ${['x86_64', 'aarch64'].join(' and ')}`,
      { constructPath, field: 'arch' },
    );
  }
  const root = archRoot(arch);
  const lock = isForeignArch(arch) ? readForeignRootLock(arch) : undefined;
  if (isForeignArch(arch) && !lock) {
    throw new MissingHostInputError(
      `the local tiny OS for ${arch} is made of Debian ${facts.debianArch} files, and their root ${root} is missing or incomplete (no ${path.join(root, '.fcos-cdk-lock')}): run scripts/setup.sh (it runs scripts/foreign-root.sh)`,
      { constructPath, field: 'arch' },
    );
  }
  const kernel = await findHostKernel(root);
  const kernelPackage = `linux-image-${kernel.version}`;
  const hostVersions = await installedVersions(exec, [...Object.values(HOST_PACKAGES), kernelPackage]);
  const lockVersions = new Map(lock?.map((entry) => [entry.name, entry.version]));
  // Which version each package of the specs has: the lock's for a foreign root, the host's else.
  const versionOf = (role: keyof typeof HOST_PACKAGES): string | undefined =>
    lock && !BUILD_TOOL_ROLES.has(role)
      ? lockVersions.get(HOST_PACKAGES[role])
      : hostVersions.get(HOST_PACKAGES[role]);
  const roles = Object.keys(HOST_PACKAGES) as (keyof typeof HOST_PACKAGES)[];
  const missing = roles.filter((role) => versionOf(role) === undefined).map((role) => HOST_PACKAGES[role]);
  if (missing.length > 0) {
    throw new MissingHostInputError(
      lock
        ? `the ${arch} foreign root ${root} has no ${missing.join(', ')}: regenerate its lock (scripts/foreign-root.sh --update-lock ${arch}) and run scripts/setup.sh`
        : `the local tiny OS is built from host packages that are not installed: ${missing.join(', ')} (run scripts/setup.sh)`,
      { constructPath, ...(lock ? { field: 'arch' } : {}) },
    );
  }
  const vmlinuzStat = await stat(kernel.vmlinuz);
  const debianVersions = Object.fromEntries(roles.map((role) => [role, versionOf(role) ?? ''])) as Record<
    keyof typeof HOST_PACKAGES,
    string
  >;
  const kernelVersion = lock ? lockVersions.get(kernelPackage) : hostVersions.get(kernelPackage);
  return {
    arch,
    root,
    facts,
    lock,
    kernel,
    kernelBuild: kernelVersion ?? `${vmlinuzStat.size}:${Math.trunc(vmlinuzStat.mtimeMs)}`,
    debianVersions,
  };
}

/**
 * `--define`s every spec gets: host_root, kernel_version, the arch's facts (multiarch_triplet;
 * elf_interpreter, where the dynamic loader goes in a package: under /usr), elf_libraries (the
 * path of the specs directory's library resolver) and the upstream versions of the Debian
 * packages the specs repackage (busybox_version, ignition_version, shadow_utils_version,
 * ostree_version, gnupg_version, curl_version, jq_version, bubblewrap_version, zstd_version).
 */
export function hostDefines(inputs: HostInputs, specsDirectory: string): Record<string, string> {
  return {
    host_root: inputs.root,
    multiarch_triplet: inputs.facts.multiarchTriplet,
    elf_interpreter: `/usr${inputs.facts.elfInterpreter}`,
    elf_libraries: path.join(specsDirectory, ELF_LIBRARIES_SCRIPT),
    kernel_version: inputs.kernel.version,
    busybox_version: upstreamVersion(inputs.debianVersions.busybox),
    ignition_version: upstreamVersion(inputs.debianVersions.ignition),
    shadow_utils_version: upstreamVersion(inputs.debianVersions.shadow),
    ostree_version: upstreamVersion(inputs.debianVersions.ostree),
    gnupg_version: upstreamVersion(inputs.debianVersions.gnupg),
    curl_version: upstreamVersion(inputs.debianVersions.curl),
    jq_version: upstreamVersion(inputs.debianVersions.jq),
    bubblewrap_version: upstreamVersion(inputs.debianVersions.bubblewrap),
    zstd_version: upstreamVersion(inputs.debianVersions.zstd),
  };
}

/** The `*.spec` files of `specsDirectory` to build (all, or those named in `packages`), sorted. */
async function selectSpecs(
  specsDirectory: string,
  packages: readonly string[] | undefined,
  constructPath: string,
): Promise<string[]> {
  const available = (await readdir(specsDirectory))
    .filter((name) => name.endsWith('.spec'))
    .map((name) => name.slice(0, -'.spec'.length))
    .sort();
  const wanted = packages ? [...packages].sort() : available;
  const missing = wanted.filter((name) => !available.includes(name));
  if (missing.length > 0 || wanted.length === 0) {
    throw new LocalPackageRepoError(
      missing.length > 0
        ? `no spec file for ${missing.map((name) => `'${name}'`).join(', ')} in ${specsDirectory}`
        : `no *.spec file in ${specsDirectory}`,
      { constructPath, field: missing.length > 0 ? 'packages' : 'specs' },
    );
  }
  return wanted.map((name) => path.join(specsDirectory, `${name}.spec`));
}

/**
 * SOURCE_DATE_EPOCH of one spec: `sourceDateEpoch` when the props give it, else the spec's newest
 * %changelog entry (rpm's `source_date_epoch_from_changelog`), the date of the content it packages.
 */
export async function specSourceDateEpoch(
  specFile: string,
  sourceDateEpoch: number | undefined,
  constructPath: string,
): Promise<number> {
  if (sourceDateEpoch !== undefined) return sourceDateEpoch;
  const spec = path.basename(specFile);
  let time: number | undefined;
  try {
    time = newestChangelogTime(await readFile(specFile, 'utf8'));
  } catch (error) {
    if (!(error instanceof ChangelogDateError)) throw error;
    throw new LocalPackageRepoError(`${spec}: ${error.message}`, {
      constructPath,
      field: 'sourceDateEpoch',
      cause: error,
    });
  }
  if (time === undefined) {
    throw new LocalPackageRepoError(
      `${spec} has no %changelog entry to date its build from: add one (the date of its content), or set sourceDateEpoch`,
      { constructPath, field: 'sourceDateEpoch' },
    );
  }
  return time;
}

/** Builds every spec with rpmbuild (reproducibly) and indexes the RPMs with createrepo_c. */
export default defineRunner(localPackageRepoKind, {
  timeoutSeconds: 900,

  /** Hashes the specs and their sources, and records the versions of the host files they package. */
  async fingerprint(context) {
    const inputs = await readHostInputs(context.exec, context.nodePath, context.props.arch);
    return {
      specs: await directoryListing(path.resolve(context.projectDir, context.props.specs)),
      host: { kernel: inputs.kernel.version, kernelBuild: inputs.kernelBuild, ...inputs.debianVersions },
      // A foreign root is what its lock pins (every package's version and sha256).
      ...(inputs.lock
        ? { foreignRoot: inputs.lock.map((entry) => `${entry.name} ${entry.version} ${entry.sha256}`) }
        : {}),
    };
  },

  /** rpmbuild of each spec into repo/Packages, then createrepo_c over repo/. */
  async run(context) {
    const { props } = context;
    const inputs = await readHostInputs(context.exec, context.nodePath, props.arch);
    const specsDirectory = path.resolve(context.projectDir, props.specs);
    const specs = await selectSpecs(specsDirectory, props.packages, context.nodePath);
    const defines = hostDefines(inputs, specsDirectory);
    const repoDirectory = path.join(context.workDir, 'repo');
    // Every spec is dated before anything is built: a spec without a date fails the node at once.
    const epochs = new Map<string, number>();
    for (const specFile of specs) {
      epochs.set(specFile, await specSourceDateEpoch(specFile, props.sourceDateEpoch, context.nodePath));
    }
    // The specs are independent: built as many at a time as there are cores (this node is the
    // root of the DAG, alone at its start), each in its own rpmbuild tree.
    const builds = new PQueue({ concurrency: availableParallelism() });
    const written = await builds.addAll(
      specs.map((specFile) => () => {
        const name = path.basename(specFile, '.spec');
        const sources = path.join(specsDirectory, name);
        return buildBinaryRpms(context.exec, {
          specFile,
          sourceDir: existsSync(sources) ? sources : specsDirectory,
          topDir: path.join(context.workDir, 'rpmbuild', name),
          rpmDir: path.join(repoDirectory, 'Packages'),
          sourceDateEpoch: epochs.get(specFile)!,
          targetArch: props.arch,
          defines,
        });
      }),
    );
    const rpmFiles = written.flat();
    // The repository is as new as its newest package.
    const revision = Math.max(...epochs.values());
    await createRepository(context.exec, { directory: repoDirectory, revision });
    const packages = (await readPackageIdentities(context.exec, rpmFiles)).map(formatNevra).sort();
    context.log(`repository '${props.name}' (${props.arch}, from ${inputs.root}): ${packages.join(' ')}`);
    return {
      repo: {
        storage: 'tree',
        path: repoDirectory,
        metadata: { name: props.name, arch: props.arch, packages },
      },
    };
  },
});
