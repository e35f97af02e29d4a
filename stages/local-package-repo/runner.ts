/**
 * The LocalPackageRepo runner: rpmbuild of every spec, reproducibly (SOURCE_DATE_EPOCH from the
 * spec's newest %changelog entry, the build host's inputs as fingerprint), then createrepo_c.
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
import { formatNevra, readPackageIdentities } from '../../lib/tools/rpm.ts';
import { buildBinaryRpms } from '../../lib/tools/rpmbuild.ts';
import { ChangelogDateError, newestChangelogTime } from '../../lib/tools/spec-changelog.ts';
import { directoryListing } from '../../lib/util/directory-listing.ts';
import { localPackageRepoKind } from './index.ts';

/** Where the specs take the build host's files from (`%{host_root}`). */
const HOST_ROOT = '/';

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
  rpm: 'rpm',
  createrepo: 'createrepo-c',
} as const;

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
  /** The kernel packaged as tiny-kernel. */
  readonly kernel: HostKernel;
  /** Debian version of the kernel's package, or size and mtime of its vmlinuz if no package has it. */
  readonly kernelBuild: string;
  /** Installed Debian version of each of {@link HOST_PACKAGES}, by role. */
  readonly debianVersions: Readonly<Record<keyof typeof HOST_PACKAGES, string>>;
}

/** The newest kernel of the host with modules.dep and a vmlinuz (/boot/vmlinuz-KVER or beside its modules). */
export async function findHostKernel(hostRoot = HOST_ROOT): Promise<HostKernel> {
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

/** Reads the build host's inputs of the specs. */
export async function readHostInputs(exec: ToolExec, constructPath: string): Promise<HostInputs> {
  const kernel = await findHostKernel();
  const kernelPackage = `linux-image-${kernel.version}`;
  const versions = await installedVersions(exec, [...Object.values(HOST_PACKAGES), kernelPackage]);
  const missing = Object.values(HOST_PACKAGES).filter((name) => !versions.has(name));
  if (missing.length > 0) {
    throw new MissingHostInputError(
      `the local tiny OS is built from host packages that are not installed: ${missing.join(', ')} (run scripts/setup.sh)`,
      { constructPath },
    );
  }
  const vmlinuzStat = await stat(kernel.vmlinuz);
  const debianVersions = Object.fromEntries(
    Object.entries(HOST_PACKAGES).map(([role, name]) => [role, versions.get(name) ?? '']),
  ) as Record<keyof typeof HOST_PACKAGES, string>;
  return {
    kernel,
    kernelBuild: versions.get(kernelPackage) ?? `${vmlinuzStat.size}:${Math.trunc(vmlinuzStat.mtimeMs)}`,
    debianVersions,
  };
}

/**
 * `--define`s every spec gets: host_root, kernel_version and the upstream versions of the Debian
 * packages the specs repackage (busybox_version, ignition_version, shadow_utils_version,
 * ostree_version, gnupg_version, curl_version, jq_version, bubblewrap_version).
 */
export function hostDefines(inputs: HostInputs): Record<string, string> {
  return {
    host_root: HOST_ROOT,
    kernel_version: inputs.kernel.version,
    busybox_version: upstreamVersion(inputs.debianVersions.busybox),
    ignition_version: upstreamVersion(inputs.debianVersions.ignition),
    shadow_utils_version: upstreamVersion(inputs.debianVersions.shadow),
    ostree_version: upstreamVersion(inputs.debianVersions.ostree),
    gnupg_version: upstreamVersion(inputs.debianVersions.gnupg),
    curl_version: upstreamVersion(inputs.debianVersions.curl),
    jq_version: upstreamVersion(inputs.debianVersions.jq),
    bubblewrap_version: upstreamVersion(inputs.debianVersions.bubblewrap),
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

/** The host's architecture as RPM names it, or undefined for one Fedora CoreOS is not built for. */
function hostArch(): Arch | undefined {
  const names: Partial<Record<string, Arch>> = {
    x64: 'x86_64',
    arm64: 'aarch64',
    ppc64: 'ppc64le',
    s390x: 's390x',
  };
  return names[process.arch];
}

/** Builds every spec with rpmbuild (reproducibly) and indexes the RPMs with createrepo_c. */
export default defineRunner(localPackageRepoKind, {
  timeoutSeconds: 900,

  /** Hashes the specs and their sources, and records the versions of the host files they package. */
  async fingerprint(context) {
    const inputs = await readHostInputs(context.exec, context.nodePath);
    return {
      specs: await directoryListing(path.resolve(context.projectDir, context.props.specs)),
      host: { kernel: inputs.kernel.version, kernelBuild: inputs.kernelBuild, ...inputs.debianVersions },
    };
  },

  /** rpmbuild of each spec into repo/Packages, then createrepo_c over repo/. */
  async run(context) {
    const { props } = context;
    const arch = hostArch();
    if (props.arch !== arch) {
      throw new LocalPackageRepoError(
        `the local tiny OS is made of this host's files, which are ${arch ?? process.arch}: cannot build it for ${props.arch}`,
        { constructPath: context.nodePath, field: 'arch' },
      );
    }
    const specsDirectory = path.resolve(context.projectDir, props.specs);
    const specs = await selectSpecs(specsDirectory, props.packages, context.nodePath);
    const defines = hostDefines(await readHostInputs(context.exec, context.nodePath));
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
    context.log(`repository '${props.name}': ${packages.join(' ')}`);
    return { repo: { storage: 'tree', path: repoDirectory, metadata: { name: props.name, packages } } };
  },
});
