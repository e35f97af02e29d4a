/**
 * The Manifest flattening of a real fedora-coreos-config (pinned copies in
 * test/fixtures/fedora-coreos-config/, see its README.md), every branch, x86_64 and aarch64: the
 * repositories enabled, the package set, the postprocess order and the layers.
 *
 * How the expected values were worked out, from rpm-ostree's rules and the YAML, not from our code:
 *
 * - Repositories (src/libpriv/rpmostree-core.cxx `rpmostree_context_setup`): `repos` when the
 *   manifest has them, plus `lockfile-repos` when a lockfile exists; without `repos`, only
 *   `lockfile-repos` when a lockfile exists. Every branch has a lockfile (rawhide and branched only
 *   `manifest-lock.overrides.yaml`, which coreos-assembler also passes with `--ex-lockfile`), and
 *   manifests/fedora-coreos.yaml lists `lockfile-repos: [fedora-coreos-pool]`.
 * - Files included (rust/src/treefile.rs `treefile_parse_recurse`): manifest.yaml includes
 *   fedora-coreos.yaml, which includes fedora-coreos-base.yaml and then, in order, the
 *   conditional includes that hold for the branch's `prod` and `releasever` (written in
 *   {@link conditionalFiles}); fedora-coreos-base.yaml includes its ten files, ignition-and-ostree
 *   includes bootable-rpm-ostree.
 * - Packages: the union of `packages` and `packages-<arch>` of those files, each entry split at
 *   whitespace ({@link expectedPackages} reads the YAML itself); the counts were also computed once
 *   by hand with a separate script and are written as numbers.
 * - Postprocess and layers (`merge_vec_field`): with includes [i1 ... in] a file's list is in's,
 *   ..., i1's, then its own, recursively; written out as literals per branch below.
 */
import { cp, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Arch } from '../lib/artifacts.ts';
import { prepareComposeInput } from '../lib/treefile/compose-input.ts';
import { makeTempDir, REPO_ROOT } from './helpers/temp-project.ts';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/fedora-coreos-config');

/** The overlay.d directories of fedora-coreos-config at the pinned commits. */
const OVERLAYS = [
  '05core',
  '07fix-selinux-labels',
  '08composefs',
  '08nouveau',
  '09misc',
  '15fcos',
  '16disable-zincati',
  '20platform-chrony',
  '25azure-udev-rules',
  '30lvmdevices',
  '40grub',
];

/** What each branch's manifest.yaml sets, and what follows from the rules. */
interface Branch {
  readonly name: string;
  readonly releasever: number;
  readonly prod: boolean;
  /** Every repository enabled. */
  readonly enabled: readonly string[];
  /** treefile.json's `repos`. */
  readonly repos: readonly string[];
  /** Number of packages for x86_64 and aarch64 (computed by hand). */
  readonly packageCounts: Readonly<Record<'x86_64' | 'aarch64', number>>;
}

const POOL = 'fedora-coreos-pool';

const BRANCHES: readonly Branch[] = [
  {
    name: 'testing-devel',
    releasever: 40,
    prod: false,
    repos: ['fedora', 'fedora-updates'],
    enabled: ['fedora', 'fedora-updates', POOL],
    packageCounts: { x86_64: 146, aarch64: 144 },
  },
  // No repos key: only the pool, not the 11 enabled repositories of the .repo files.
  {
    name: 'stable',
    releasever: 40,
    prod: true,
    repos: [],
    enabled: [POOL],
    packageCounts: { x86_64: 146, aarch64: 144 },
  },
  {
    name: 'testing',
    releasever: 40,
    prod: true,
    repos: [],
    enabled: [POOL],
    packageCounts: { x86_64: 146, aarch64: 144 },
  },
  {
    name: 'next',
    releasever: 41,
    prod: true,
    repos: [],
    enabled: [POOL],
    packageCounts: { x86_64: 141, aarch64: 139 },
  },
  {
    name: 'next-devel',
    releasever: 41,
    prod: false,
    repos: ['fedora-next', 'fedora-next-updates', 'fedora-candidate-compose'],
    enabled: ['fedora-next', 'fedora-next-updates', 'fedora-candidate-compose', POOL],
    packageCounts: { x86_64: 141, aarch64: 139 },
  },
  {
    name: 'rawhide',
    releasever: 42,
    prod: false,
    repos: ['fedora-rawhide'],
    enabled: ['fedora-rawhide', POOL],
    packageCounts: { x86_64: 142, aarch64: 140 },
  },
  {
    name: 'branched',
    releasever: 41,
    prod: false,
    repos: ['fedora-next', 'fedora-next-updates'],
    enabled: ['fedora-next', 'fedora-next-updates', POOL],
    packageCounts: { x86_64: 141, aarch64: 139 },
  },
];

/** fedora-coreos.yaml's conditional includes that hold, in the order it lists them. */
function conditionalFiles(branch: Branch): string[] {
  return [
    ...(branch.prod ? [] : ['disable-zincati.yaml']),
    'grub2-removals.yaml', // basearch != "s390x"
    ...(branch.releasever < 41 ? ['exclude-dnf.yaml', 'wifi-firmwares.yaml'] : []),
    ...(branch.releasever >= 41 ? ['include-dnf.yaml', 'composefs.yaml', 'selinux-workaround.yaml'] : []),
  ];
}

/** Every file of manifests/ the branch includes. */
function includedFiles(branch: Branch): string[] {
  return [
    'fedora-coreos.yaml',
    'fedora-coreos-base.yaml',
    'kernel.yaml',
    'system-configuration.yaml',
    'ignition-and-ostree.yaml',
    'bootable-rpm-ostree.yaml',
    'file-transfer.yaml',
    'networking-tools.yaml',
    'user-experience.yaml',
    'shared-workarounds.yaml',
    'bootupd.yaml',
    'shared-el9.yaml',
    'shared-el10.yaml',
    ...conditionalFiles(branch),
  ];
}

/** A YAML file of the fixtures, parsed. */
async function readYaml(file: string): Promise<Record<string, string[] | undefined>> {
  return (parseYaml(await readFile(path.join(FIXTURES, file), 'utf8')) ?? {}) as Record<string, string[]>;
}

/** The package set, read from the YAML of the included files: `packages` and `packages-<arch>`, split at whitespace. */
async function expectedPackages(branch: Branch, arch: Arch): Promise<string[]> {
  const documents = [
    ...(await Promise.all(includedFiles(branch).map((file) => readYaml(`common/manifests/${file}`)))),
    await readYaml(`${branch.name}/manifest.yaml`),
  ];
  const entries = documents.flatMap((document) => [
    ...(document.packages ?? []),
    ...(document[`packages-${arch}`] ?? []),
  ]);
  return [...new Set(entries.flatMap((entry) => entry.split(/\s+/).filter((word) => word !== '')))].sort();
}

/** `postprocess[index]` of a manifests/ file. */
async function script(file: string, index: number): Promise<string> {
  const postprocess = (await readYaml(`common/manifests/${file}`)).postprocess ?? [];
  const text = postprocess[index];
  if (text === undefined) throw new Error(`${file} has no postprocess[${index}]`);
  return text;
}

/** The postprocess scripts in rpm-ostree's order, as (file, index) pairs. */
function expectedPostprocess(branch: Branch): Array<[string, number]> {
  // fedora-coreos-base.yaml: its includes' scripts last include first, then its own four.
  const base: Array<[string, number]> = [
    ['bootupd.yaml', 0],
    ['ignition-and-ostree.yaml', 0],
    ['system-configuration.yaml', 0],
    ['fedora-coreos-base.yaml', 0],
    ['fedora-coreos-base.yaml', 1],
    ['fedora-coreos-base.yaml', 2],
    ['fedora-coreos-base.yaml', 3],
  ];
  // fedora-coreos.yaml: selinux-workaround.yaml is its last include when it holds.
  return [
    ...(branch.releasever >= 41 ? ([['selinux-workaround.yaml', 0]] as Array<[string, number]>) : []),
    ...base,
    ['fedora-coreos.yaml', 0],
    ['fedora-coreos.yaml', 1],
    ['fedora-coreos.yaml', 2],
  ];
}

/** The layers in rpm-ostree's order. */
function expectedLayers(branch: Branch): string[] {
  return [
    ...(branch.releasever >= 41 ? ['08composefs'] : []),
    ...(branch.prod ? [] : ['16disable-zincati']),
    '07fix-selinux-labels',
    '05core',
    '08nouveau',
    '09misc',
    '20platform-chrony',
    '25azure-udev-rules',
    '30lvmdevices',
    '40grub',
    '15fcos',
  ].map((name) => `overlay/${name}`);
}

/** A checkout of `branch` in a new directory: common/, the branch's files, empty overlay.d directories. */
async function checkout(branch: Branch): Promise<string> {
  const directory = await makeTempDir(`fcos-config-${branch.name}-`);
  await cp(path.join(FIXTURES, 'common'), directory, { recursive: true });
  await cp(path.join(FIXTURES, branch.name), directory, { recursive: true });
  for (const overlay of OVERLAYS)
    await mkdir(path.join(directory, 'overlay.d', overlay), { recursive: true });
  return directory;
}

describe('fedora-coreos-config, every branch', () => {
  for (const branch of BRANCHES) {
    it(`${branch.name}: repositories, packages, postprocess order and layers as rpm-ostree flattens them`, async () => {
      const directory = await checkout(branch);
      for (const arch of ['x86_64', 'aarch64'] as const) {
        const input = await prepareComposeInput(
          {
            constructPath: `${branch.name}/Manifest`,
            projectDir: directory,
            source: { file: path.join(directory, 'manifest.yaml') },
            variables: {},
            localRepos: [],
            lockfileDirectory: directory,
          },
          arch,
        );
        expect(input.repos.enabled).toEqual(branch.enabled);
        expect(input.repos.definitions.map((definition) => definition.name)).toEqual(branch.enabled);
        expect(input.treefile.repos).toEqual(branch.repos);
        expect(input.treefile['lockfile-repos']).toEqual([POOL]);
        expect(input.lockfile).toBeDefined();

        const packages = [...(input.treefile.packages as string[])].sort();
        expect(packages).toEqual(await expectedPackages(branch, arch));
        expect(packages).toHaveLength(branch.packageCounts[arch]);
        expect(packages.includes('grub2-efi-x64')).toBe(arch === 'x86_64');
        expect(packages.includes('grub2-efi-aa64')).toBe(arch === 'aarch64');
        expect(packages.includes('dnf5')).toBe(branch.releasever >= 41);
        expect(packages.includes('atheros-firmware')).toBe(branch.releasever < 41);
        expect(packages.includes('bootc')).toBe(branch.name === 'rawhide');
        const excluded = input.treefile['exclude-packages'] as string[];
        expect(excluded.includes('dnf5')).toBe(branch.releasever < 41);

        const scripts = await Promise.all(
          expectedPostprocess(branch).map(([file, index]) => script(file, index)),
        );
        expect(input.treefile.postprocess).toEqual(scripts);
        expect(input.treefile['ostree-layers']).toEqual(expectedLayers(branch));

        expect(input.treefile).toMatchObject({
          ref: `fedora/${arch}/coreos/${branch.name}`,
          basearch: arch,
          variables: {
            stream: branch.name,
            prod: branch.prod,
            basearch: arch,
            releasever: branch.releasever,
          },
          'automatic-version-prefix': `${branch.releasever}.<date:%Y%m%d>.dev`,
          'mutate-os-release': `${branch.releasever}`,
          'add-commit-metadata': { 'fedora-coreos.stream': branch.name },
          rojig: { name: 'fedora-coreos', summary: `Fedora CoreOS ${branch.name}`, license: 'MIT' },
          'check-passwd': { type: 'file', filename: 'check-passwd' },
          'check-groups': { type: 'file', filename: 'check-groups' },
          'machineid-compat': false,
          'boot-location': 'modules',
          rpmdb: 'sqlite',
        });
        expect(input.warnings).toEqual([]);
      }
    });
  }
});
