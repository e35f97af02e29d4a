/**
 * rpm-ostree's treefile rules, one table per rule, on small treefiles: which repositories are
 * enabled (rpmostree-core.cxx), package specs and where variables are substituted, the merge rule
 * of each key (treefile.rs `treefile_merge`), the keys accepted and rejected, and `basearch` /
 * `variables` in the output.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: treefiles write ${variable}, it is not a template.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Arch } from '../lib/artifacts.ts';
import { type ComposeInput, prepareComposeInput } from '../lib/treefile/compose-input.ts';
import {
  TreefileConditionError,
  TreefileSchemaError,
  TreefileVariableError,
} from '../lib/treefile/errors.ts';
import { MERGE_RULES } from '../lib/treefile/merge.ts';
import { splitPackageEntry } from '../lib/treefile/package-specs.ts';
import { TREEFILE_KEYS } from '../lib/treefile/schema.ts';
import { makeTempDir } from './helpers/temp-project.ts';

/** Three repositories, one of them disabled. */
const REPO_FILE = `[fedora]
baseurl=https://example.org/fedora/$basearch/
[updates]
baseurl=https://example.org/updates/$basearch/
[disabled]
baseurl=https://example.org/disabled/
enabled=0
[pool]
baseurl=https://example.org/pool/
enabled=0
`;

const LOCKFILE = JSON.stringify({ packages: { kernel: { evra: '6.11.4-301.fc41.x86_64' } } });

/** Writes `files` into a new directory and prepares the compose input of `manifest.yaml`. */
async function compose(files: Record<string, string>, arch: Arch = 'x86_64'): Promise<ComposeInput> {
  const directory = await makeTempDir('fcos-rules-');
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(directory, name)), { recursive: true });
    await writeFile(path.join(directory, name), content);
  }
  const main = Object.keys(files)[0] ?? 'manifest.yaml';
  return prepareComposeInput(
    {
      constructPath: 'rules/Manifest',
      projectDir: directory,
      source: { file: path.join(directory, main) },
      variables: {},
      localRepos: [],
      lockfileDirectory: directory,
    },
    arch,
  );
}

/** The error `compose(files)` fails with. */
async function failure(files: Record<string, string>): Promise<Error> {
  const error = await compose(files).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof Error)) throw new Error('expected flattening to fail');
  return error;
}

describe('repositories enabled, as rpmostree_context_setup enables them', () => {
  const cases: ReadonlyArray<{
    readonly name: string;
    readonly manifest: string;
    readonly lockfile: boolean;
    readonly enabled: readonly string[];
    readonly repos: readonly string[];
  }> = [
    {
      name: 'no repos, no lockfile-repos, no lockfile: every enabled=1',
      manifest: '{}',
      lockfile: false,
      enabled: ['fedora', 'updates'],
      repos: ['fedora', 'updates'],
    },
    {
      name: 'no repos, no lockfile-repos, a lockfile: every enabled=1',
      manifest: '{}',
      lockfile: true,
      enabled: ['fedora', 'updates'],
      repos: ['fedora', 'updates'],
    },
    {
      name: 'no repos, lockfile-repos, no lockfile: every enabled=1',
      manifest: 'lockfile-repos: [pool]',
      lockfile: false,
      enabled: ['fedora', 'updates'],
      repos: ['fedora', 'updates'],
    },
    {
      name: 'no repos, lockfile-repos, a lockfile: only lockfile-repos',
      manifest: 'lockfile-repos: [pool]',
      lockfile: true,
      enabled: ['pool'],
      repos: [],
    },
    {
      name: 'empty repos counts as none',
      manifest: 'repos: []\nlockfile-repos: [pool]',
      lockfile: true,
      enabled: ['pool'],
      repos: [],
    },
    {
      name: 'repos, no lockfile-repos, a lockfile: repos',
      manifest: 'repos: [updates, disabled]',
      lockfile: true,
      enabled: ['updates', 'disabled'],
      repos: ['updates', 'disabled'],
    },
    {
      name: 'repos, lockfile-repos, no lockfile: repos only',
      manifest: 'repos: [fedora]\nlockfile-repos: [pool]',
      lockfile: false,
      enabled: ['fedora'],
      repos: ['fedora'],
    },
    {
      name: 'repos, lockfile-repos, a lockfile: both',
      manifest: 'repos: [fedora]\nlockfile-repos: [pool]',
      lockfile: true,
      enabled: ['fedora', 'pool'],
      repos: ['fedora'],
    },
    {
      name: 'a name in both is enabled once',
      manifest: 'repos: [pool, fedora]\nlockfile-repos: [pool]',
      lockfile: true,
      enabled: ['pool', 'fedora'],
      repos: ['pool', 'fedora'],
    },
  ];
  for (const testCase of cases) {
    it(testCase.name, async () => {
      const input = await compose({
        'manifest.yaml': testCase.manifest,
        'fedora.repo': REPO_FILE,
        ...(testCase.lockfile ? { 'manifest-lock.overrides.yaml': 'packages: {}' } : {}),
      });
      expect(input.repos.enabled).toEqual(testCase.enabled);
      expect(input.repos.definitions.map((definition) => definition.name)).toEqual(testCase.enabled);
      expect(input.treefile.repos).toEqual(testCase.repos);
    });
  }

  it('a lockfile-repos name defined nowhere fails only when a lockfile enables it', async () => {
    const files = { 'manifest.yaml': 'lockfile-repos: [nowhere]', 'fedora.repo': REPO_FILE };
    expect((await compose(files)).repos.enabled).toEqual(['fedora', 'updates']);
    const error = await failure({ ...files, 'manifest-lock.x86_64.json': LOCKFILE });
    expect(error.message).toMatch(/lockfile-repos: repository 'nowhere' is defined nowhere/);
  });
});

describe('package specs, as split_whitespace_unless_quoted splits them', () => {
  const cases: ReadonlyArray<readonly [string, readonly string[]]> = [
    ['kernel', ['kernel']],
    ['nano nano-default-editor', ['nano', 'nano-default-editor']],
    ["'podman >= 4.1'", ['podman >= 4.1']],
    ["foo 'bar >= 1' baz", ['foo', 'bar >= 1', 'baz']],
    ["  a\tb  'c < 2'", ['a', 'b', 'c < 2']],
    ["x'y'z", ['x', 'y', 'z']],
    ["''", ['']],
  ];
  for (const [entry, specs] of cases) {
    it(`${JSON.stringify(entry)} → ${JSON.stringify(specs)}`, () => {
      expect(splitPackageEntry(entry, { constructPath: 'x', file: 'f', field: 'packages.0' })).toEqual(specs);
    });
  }

  it('an unterminated quote fails naming the entry', async () => {
    const error = await failure({ 'manifest.yaml': 'packages: ["ok \'podman >= 4.1"]' });
    expect(error).toBeInstanceOf(TreefileSchemaError);
    expect(error.message).toMatch(/key 'packages\.0': missing terminating quote in 'ok 'podman >= 4\.1'/);
  });

  it('splits packages-<arch>, bootstrap-packages and repo-packages too, and keeps each spec once', async () => {
    const input = await compose({
      'manifest.yaml': [
        'repos: [fedora]',
        'packages: ["a \'b >= 1\'", a]',
        'bootstrap-packages: [c d]',
        'packages-x86_64: [e f]',
        'packages-riscv64: [g]',
        'repo-packages: [{repo: fedora, packages: [h i]}]',
      ].join('\n'),
      'fedora.repo': REPO_FILE,
    });
    expect(input.treefile.packages).toEqual(['a', 'b >= 1', 'c', 'd', 'e', 'f']);
    expect(input.treefile['repo-packages']).toEqual([{ repo: 'fedora', packages: ['h', 'i'] }]);
    expect(input.treefile).not.toHaveProperty('bootstrap-packages');
    expect(input.treefile).not.toHaveProperty('packages-riscv64');
  });
});

describe('variables are substituted where substitute_vars substitutes them', () => {
  it.each([
    ['ref', 'ref: "os/${stream}"', (t: Record<string, unknown>) => t.ref, 'os/next'],
    [
      'rojig',
      'rojig: {name: "${stream}-os", summary: "OS ${stream}", license: MIT, description: "d ${stream}"}',
      (t: Record<string, unknown>) => t.rojig,
      { name: 'next-os', summary: 'OS next', license: 'MIT', description: 'd next' },
    ],
    [
      'metadata',
      'metadata: {a: "${stream}", b: 1, c: ["${stream}"]}',
      (t: Record<string, unknown>) => t.metadata,
      { a: 'next', b: 1, c: ['${stream}'] },
    ],
    [
      'add-commit-metadata',
      'add-commit-metadata: {a: "${stream}"}',
      (t: Record<string, unknown>) => t['add-commit-metadata'],
      { a: 'next' },
    ],
    [
      'automatic-version-prefix',
      'automatic-version-prefix: "${stream}.<date:%Y>"',
      (t: Record<string, unknown>) => t['automatic-version-prefix'],
      'next.<date:%Y>',
    ],
    [
      'mutate-os-release',
      'mutate-os-release: "${stream}"',
      (t: Record<string, unknown>) => t['mutate-os-release'],
      'next',
    ],
    [
      'platform-module',
      'platform-module: "platform:${stream}"',
      (t: Record<string, unknown>) => t['platform-module'],
      'platform:next',
    ],
    [
      'not packages',
      'packages: ["${stream}-release"]',
      (t: Record<string, unknown>) => t.packages,
      ['${stream}-release'],
    ],
    [
      'not postprocess',
      'postprocess: ["echo ${stream}"]',
      (t: Record<string, unknown>) => t.postprocess,
      ['echo ${stream}'],
    ],
    [
      'not units',
      'units: ["${stream}.service"]',
      (t: Record<string, unknown>) => t.units,
      ['${stream}.service'],
    ],
    ['not $name', 'ref: "os/$stream"', (t: Record<string, unknown>) => t.ref, 'os/$stream'],
  ])('%s', async (_name, line, pick, expected) => {
    const input = await compose({ 'manifest.yaml': `variables: {stream: next}\n${line}` });
    expect(pick(input.treefile)).toEqual(expected);
  });

  it('warns about ${...} left in packages', async () => {
    const input = await compose({
      'manifest.yaml': 'variables: {stream: next}\npackages: ["${stream}-release"]',
    });
    expect(input.warnings).toEqual([
      expect.stringMatching(/packages: '\$\{stream\}-release' is not substituted/),
    ]);
  });

  it("refuses a variable value holding '$', '{' or '}', as envsubst does", async () => {
    const error = await failure({ 'manifest.yaml': 'variables: {stream: "a}b"}\nref: x' });
    expect(error).toBeInstanceOf(TreefileVariableError);
    expect(error.message).toMatch(/variable 'stream' \("a}b"\) holds '}'/);
  });
});

describe('merge rule of each key, as treefile_merge merges it', () => {
  const cases: ReadonlyArray<{
    readonly key: string;
    readonly rule: string;
    readonly first: string;
    readonly second: string;
    readonly own: string;
    readonly expected: unknown;
  }> = [
    { key: 'ref', rule: 'first', first: 'a', second: 'b', own: '', expected: 'a' },
    { key: 'ref', rule: 'first', first: 'a', second: 'b', own: 'own', expected: 'own' },
    { key: 'container-cmd', rule: 'first', first: '[a]', second: '[b]', own: '', expected: ['a'] },
    {
      key: 'check-passwd',
      rule: 'first',
      first: '{type: none}',
      second: '{type: previous}',
      own: '',
      expected: { type: 'none' },
    },
    {
      key: 'postprocess',
      rule: 'append',
      first: '[a]',
      second: '[b]',
      own: '[own]',
      expected: ['b', 'a', 'own'],
    },
    { key: 'units', rule: 'append', first: '[a]', second: '[b]', own: '[own]', expected: ['b', 'a', 'own'] },
    {
      key: 'etc-group-members',
      rule: 'append',
      first: '[a]',
      second: '[a]',
      own: '[own]',
      expected: ['a', 'a', 'own'],
    },
    {
      key: 'ignore-removed-users',
      rule: 'union',
      first: '[a, b]',
      second: '[b, c]',
      own: '[a]',
      expected: ['b', 'c', 'a'],
    },
    {
      key: 'metadata',
      rule: 'map',
      first: '{a: 1, b: 1}',
      second: '{b: 2, c: 2}',
      own: '{c: 3}',
      expected: { a: 1, b: 1, c: 3 },
    },
    {
      key: 'add-commit-metadata',
      rule: 'map',
      first: '{a: 1}',
      second: '{a: 2, b: 2}',
      own: '',
      expected: { a: 1, b: 2 },
    },
    {
      key: 'repovars',
      rule: 'map',
      first: '{a: "1"}',
      second: '{b: "2"}',
      own: '',
      expected: { a: '1', b: '2' },
    },
    { key: 'platform-module', rule: 'dropped', first: 'a', second: 'b', own: '', expected: undefined },
    { key: 'platform-module', rule: 'dropped', first: 'a', second: 'b', own: 'own', expected: 'own' },
    {
      key: 'repo-packages',
      rule: 'append-last',
      first: '[{repo: r1, packages: [x, y]}]',
      second: '[{repo: r2, packages: [x]}]',
      own: '[{repo: r3, packages: [y]}]',
      // first: [r1 {x y}, r3 {y}] → [r1 {x}, r3 {y}]; second: [r2 {x}, r1 {x}, r3 {y}] → r2 loses x.
      expected: [
        { repo: 'r1', packages: ['x'] },
        { repo: 'r3', packages: ['y'] },
      ],
    },
  ];
  for (const testCase of cases) {
    it(`${testCase.key} (${testCase.rule}): include [first, second]${testCase.own ? ' + own' : ''}`, async () => {
      expect(MERGE_RULES.get(testCase.key)).toBe(testCase.rule);
      const input = await compose({
        'manifest.yaml': `include: [first.yaml, second.yaml]\n${testCase.own ? `${testCase.key}: ${testCase.own}` : ''}`,
        'first.yaml': `${testCase.key}: ${testCase.first}`,
        'second.yaml': `${testCase.key}: ${testCase.second}`,
      });
      expect(input.treefile[testCase.key]).toEqual(testCase.expected);
    });
  }

  it('every accepted key has a merge rule', () => {
    const withoutRule = TREEFILE_KEYS.filter((key) => !MERGE_RULES.has(key) && !/_/.test(key));
    expect(withoutRule).toEqual([]);
  });
});

describe('keys, as current rpm-ostree accepts and rejects them', () => {
  it('accepts every key the issue lists, and the derive keys', async () => {
    const input = await compose({
      'manifest.yaml': [
        'edition: "2024"',
        'repovars: {contentdir: fedora}',
        'ignore-devices: true',
        'selinux-label-version: 1',
        'sysusers: compose-forced',
        'ima: false',
        'bootstrap-packages: [bash]',
        'ostree-override-layers: []',
        'platform-module: platform:f41',
        'no-initramfs: false',
        'automatic-version-suffix: "-"',
        'preserve-passwd: true',
        'add-files: [[extra.conf, /etc/extra.conf]]',
        'repo-metadata: detached',
        'advisories-metadata: disabled',
        'rpmdb-normalize: true',
        'cliwrap-binaries: [rpm]',
        'opt-usrlocal: stateoverlay',
        'base-refspec: fedora:fedora/x86_64/coreos/stable',
        'override-remove: [nano]',
        'packages-local: {foo: sha}',
        'initramfs: {regenerate: true}',
        'custom: {url: https://example.org}',
      ].join('\n'),
      'extra.conf': 'x\n',
    });
    // edition 2024 defaults boot-location to modules and tmp-is-dir to true.
    expect(input.treefile).toMatchObject({
      'boot-location': 'modules',
      'tmp-is-dir': true,
      packages: ['bash'],
    });
    expect(input.treefile['packages-local']).toEqual({ foo: 'sha' });
  });

  it.each([
    ['modules', 'modules: {enable: [a]}', /unknown key 'modules' \(rpm-ostree dropped modularity support/],
    [
      'sysroot-readonly',
      'sysroot-readonly: true',
      /unknown key 'sysroot-readonly' \(current rpm-ostree no longer accepts it/,
    ],
    ['a typo', 'unit: [a]', /^manifest\.yaml: unknown key 'unit'$/],
    [
      'packages-<arch> not a list',
      'packages-x86_64: kernel',
      /key 'packages-x86_64': expected a list of strings/,
    ],
    ['a wrong enum', 'boot-location: legacy', /key 'boot-location'/],
    ['a negative selinux-label-version', 'selinux-label-version: 2', /invalid selinux-label-version 2/],
    ['both legacy and new forms', 'gpg_key: a\ngpg-key: b', /cannot use both the new and the legacy form/],
    [
      'an add-files destination outside /usr and /etc',
      'add-files: [[f, /var/f]]',
      /add-files\.0.*unsupported path \/var\/f/,
    ],
    [
      'a two-character automatic-version-suffix',
      'automatic-version-suffix: "--"',
      /exactly one ASCII character/,
    ],
    ['repovars.releasever', 'repovars: {releasever: "41"}', /repovars\.releasever/],
    [
      'units with machineid-compat false',
      'units: [a.service]\nmachineid-compat: false',
      /incompatible with machineid-compat: false/,
    ],
    ['another basearch', 'basearch: aarch64', /cross-composes are not supported/],
  ])('rejects %s', async (_name, manifest, message) => {
    const error = await failure({ 'manifest.yaml': manifest, f: '' });
    expect(error).toBeInstanceOf(TreefileSchemaError);
    expect(error.message).toMatch(message);
  });

  it('migrates a legacy underscore key', async () => {
    const input = await compose({ 'manifest.yaml': 'default_target: multi-user.target' });
    expect(input.treefile['default-target']).toBe('multi-user.target');
    expect(input.treefile).not.toHaveProperty('default_target');
  });

  it('ignores unknown keys of a JSON treefile with a warning, as rpm-ostree ignores them', async () => {
    const input = await compose({ 'manifest.json': JSON.stringify({ ref: 'x', modules: { enable: [] } }) });
    expect(input.treefile.ref).toBe('x');
    expect(input.treefile).not.toHaveProperty('modules');
    expect(input.warnings).toEqual([
      expect.stringMatching(/manifest\.json: unknown key 'modules'.* ignored/),
    ]);
  });

  it('container: true forces the container defaults in its file', async () => {
    const input = await compose({
      'manifest.yaml': 'container: true\nselinux: true\ncheck-passwd: {type: previous}',
    });
    expect(input.treefile).toMatchObject({
      selinux: false,
      'boot-location': 'modules',
      'tmp-is-dir': true,
      'preserve-passwd': false,
      'check-passwd': { type: 'none' },
      'check-groups': { type: 'none' },
    });
  });
});

describe('conditions, as IncludeCondition parses and evaluates them', () => {
  it.each([
    ['n == 1', true],
    ['n >= 2', false],
    ['s == "a b"', false],
    ['s == "x"', true],
    ['b != false', true],
  ])('%s', async (condition, included) => {
    const input = await compose({
      'manifest.yaml': `variables: {n: 1, s: x, b: true}\nconditional-include: [{if: '${condition}', include: {packages: [yes]}}]`,
    });
    expect(input.treefile.packages).toEqual(included ? ['yes'] : []);
  });

  it.each([
    ["s == 'x'", /invalid condition/],
    ['s < "y"', /< compares numbers only/],
    // rpm-ostree's regex backtracks the greedy operator into the number: op '>=1', value 0.
    ['n>=10', /expected one of .* but got >=1$/],
    ['missing == 1', /unknown variable 'missing'/],
    ['n == "1"', /compares number variable 'n' \(1\) with a string/],
  ])('%s fails', async (condition, message) => {
    const error = await failure({
      'manifest.yaml': `variables: {n: 1, s: x}\nconditional-include: [{if: "${condition.replaceAll('"', '\\"')}", include: x.yaml}]`,
      'x.yaml': '{}',
    });
    expect(error).toBeInstanceOf(TreefileConditionError);
    expect(error.message).toMatch(message);
  });

  it('sees the variables of files read earlier, not those of its own includes', async () => {
    const input = await compose({
      'manifest.yaml': 'include: [a.yaml, b.yaml]',
      'a.yaml': 'variables: {fromA: true}',
      'b.yaml': 'conditional-include: [{if: fromA == true, include: {packages: [seen]}}]',
    });
    expect(input.treefile.packages).toEqual(['seen']);
    const error = await failure({
      'manifest.yaml':
        'include: a.yaml\nconditional-include: [{if: fromA == true, include: {packages: [x]}}]',
      'a.yaml': 'variables: {fromA: true}',
    });
    expect(error.message).toMatch(/unknown variable 'fromA'/);
  });
});

describe('the output carries basearch and every variable', () => {
  it.each(['x86_64', 'aarch64'] as const)('%s', async (arch) => {
    const input = await compose(
      {
        'manifest.yaml': 'releasever: 41\nvariables: {stream: a}\ninclude: b.yaml',
        'b.yaml': 'variables: {stream: b, extra: 1}\nreleasever: 40',
      },
      arch,
    );
    expect(input.treefile.basearch).toBe(arch);
    expect(input.treefile.releasever).toBe(41);
    expect(input.treefile.variables).toEqual({ stream: 'a', extra: 1, basearch: arch, releasever: 41 });
  });
});
