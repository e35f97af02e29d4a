/**
 * The RpmOstreeCompose runner: reads the Manifest's compose input, picks a driver (rpm-ostree
 * when installed, else dnf + ostree) and records the commit and its package list.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  applyLayers,
  convertToOstreeLayout,
  findKernelVersion,
  mutateOsRelease,
  placeKernel,
  removeFiles,
  removeFromPackages,
  runPostprocess,
} from '../../lib/compose/ostree-layout.ts';
import { FcosError } from '../../lib/errors.ts';
import { findOnPath, runTool } from '../../lib/exec.ts';
import {
  defineRunner,
  type FingerprintContext,
  type NodeProps,
  type RunnerContext,
  type RunnerOutput,
} from '../../lib/runner.ts';
import { installPackages, type Repository, repoFile } from '../../lib/tools/dnf.ts';
import { installedVersions } from '../../lib/tools/dpkg.ts';
import { commitTree, ensureArchiveRepository } from '../../lib/tools/ostree.ts';
import { type RemoteRepositoryUrls, repositoryFingerprint } from '../../lib/tools/repomd.ts';
import { installedPackages } from '../../lib/tools/rpm.ts';
import { buildInitramfs, TINY_DRACUT_PATH } from '../../lib/tools/tiny-dracut.ts';
import type { ToolExec } from '../../lib/tools/tool-exec.ts';
import { canonicalStringify, type JsonValue } from '../../lib/util/canonical-json.ts';
import { COMPOSE_DRIVERS, type RpmOstreeComposeConfig, rpmOstreeComposeKind } from './index.ts';

/** The flattened treefile as the Manifest stage writes it (`treefile.json` of its output tree). */
const flattenedTreefileSchema = z
  .object({
    ref: z.string().min(1, 'the treefile has no ref'),
    releasever: z.union([z.string(), z.number()]).optional(),
    packages: z.array(z.string()).default([]),
    'exclude-packages': z.array(z.string()).default([]),
    repos: z.array(z.string()).default([]),
    'lockfile-repos': z.array(z.string()).default([]),
    postprocess: z.array(z.string()).default([]),
    'remove-files': z.array(z.string()).default([]),
    'remove-from-packages': z.array(z.array(z.string())).default([]),
    'add-commit-metadata': z.record(z.string(), z.json()).default({}),
    'automatic-version-prefix': z.string().optional(),
    'mutate-os-release': z.string().optional(),
    'ostree-layers': z.array(z.string()).default([]),
  })
  .loose();

/** One repository definition of `repos.json`. */
const repositorySchema = z
  .object({
    name: z.string(),
    local: z.boolean().optional(),
    baseurl: z.union([z.string(), z.array(z.string())]).optional(),
    metalink: z.string().optional(),
    mirrorlist: z.string().optional(),
  })
  .loose();

/** An rpm-ostree lockfile (`lockfile.json`, overrides already merged). */
const lockfileSchema = z
  .object({
    packages: z.record(
      z.string(),
      z.object({ evra: z.string().optional(), evr: z.string().optional() }).loose(),
    ),
  })
  .loose();

/** Props of the node as its runner receives them. */
type ComposeRunnerProps = NodeProps<RpmOstreeComposeConfig>;

/** The compose failed because of its inputs (a repo without definition, a bad lockfile ...). */
export class ComposeError extends FcosError {}

/** Reads and validates a JSON file of the Manifest's output tree. */
async function readTreefileJson<T>(
  directory: string,
  name: string,
  schema: z.ZodType<T>,
  nodePath: string,
): Promise<T | undefined> {
  const file = path.join(directory, name);
  if (!existsSync(file)) return undefined;
  const parsed = schema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ComposeError(`${name} of the treefile input: ${issue?.path.join('.')}: ${issue?.message}`, {
      constructPath: nodePath,
      field: 'treefile',
    });
  }
  return parsed.data;
}

/** The repositories dnf reads: local ones from the compose's inputs by name, remote ones as defined. */
function resolveRepositories(
  names: readonly string[],
  definitions: ReadonlyArray<z.output<typeof repositorySchema>>,
  inputs: RunnerContext['inputs'],
  nodePath: string,
): Repository[] {
  const localByName = new Map<string, string>();
  for (const [field, input] of Object.entries(inputs)) {
    if (field.startsWith('localRepos.')) localByName.set(String(input.metadata.name), input.path);
  }
  return names.map((name) => {
    const local = localByName.get(name);
    if (local) return { name, directory: local };
    const definition = definitions.find((candidate) => candidate.name === name && !candidate.local);
    if (!definition) {
      throw new ComposeError(
        `the treefile's repos name '${name}', but it is neither a local repository input (${[...localByName.keys()].join(', ') || 'none'}) nor defined in a .repo file`,
        { constructPath: nodePath, field: 'repos' },
      );
    }
    const baseurl = definition.baseurl === undefined ? [] : [definition.baseurl].flat();
    return {
      name,
      ...(baseurl.length > 0 ? { baseurl } : {}),
      ...(definition.metalink ? { metalink: definition.metalink } : {}),
      ...(definition.mirrorlist ? { mirrorlist: definition.mirrorlist } : {}),
    };
  });
}

/** dnf install specs: locked packages at their exact version, the others by name. */
function installSpecs(
  packages: readonly string[],
  lockfile: z.output<typeof lockfileSchema> | undefined,
): string[] {
  const locked = lockfile?.packages ?? {};
  const specs = new Set<string>();
  for (const [name, lock] of Object.entries(locked)) {
    const version = lock.evra ?? lock.evr;
    if (version) specs.add(`${name}-${version.replace(/^0:/, '')}`);
  }
  for (const name of packages) if (!(name in locked)) specs.add(name);
  return [...specs].sort();
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

/**
 * The version of this compose: `<prefix>.<N>` where N counts the distinct contents composed under
 * that prefix and ref in this cache (cosa's rule: a new content on the same day gets the next N,
 * the same content gets its old version back).
 */
async function assignVersion(
  ostreeRepo: string,
  ref: string,
  prefix: string,
  contentId: string,
): Promise<string> {
  const directory = path.join(path.dirname(ostreeRepo), 'versions');
  await mkdir(directory, { recursive: true });
  const file = path.join(directory, `${createHash('sha256').update(ref).digest('hex').slice(0, 32)}.json`);
  const index: Record<string, string[]> = existsSync(file) ? JSON.parse(await readFile(file, 'utf8')) : {};
  const known = index[prefix] ?? [];
  let position = known.indexOf(contentId);
  if (position < 0) {
    position = known.push(contentId) - 1;
    index[prefix] = known;
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, `${canonicalStringify(index, 2)}\n`);
    await rename(temporary, file);
  }
  return `${prefix}.${position}`;
}

/** The driver `auto` resolves to on this host. */
function resolveDriver(driver: ComposeRunnerProps['driver']): 'rpm-ostree' | 'dnf' {
  if (driver !== 'auto') return driver;
  return findOnPath('rpm-ostree') ? 'rpm-ostree' : 'dnf';
}

/** What every driver reads from the Manifest's output tree and the local repository inputs. */
async function readComposeInputs(context: RunnerContext<ComposeRunnerProps>) {
  const input = context.inputs.treefile!;
  const treefile = await readTreefileJson(
    input.path,
    'treefile.json',
    flattenedTreefileSchema,
    context.nodePath,
  );
  if (!treefile) {
    throw new ComposeError('the treefile input has no treefile.json', {
      constructPath: context.nodePath,
      field: 'treefile',
    });
  }
  const definitions =
    (await readTreefileJson(input.path, 'repos.json', z.array(repositorySchema), context.nodePath)) ?? [];
  const lockfile = await readTreefileJson(input.path, 'lockfile.json', lockfileSchema, context.nodePath);
  const names = [...new Set([...treefile.repos, ...treefile['lockfile-repos']])];
  const repositories = resolveRepositories(names, definitions, context.inputs, context.nodePath);
  return { input, treefile, lockfile, repositories };
}

/** The compose with dnf --installroot and ostree commit: portable, and what runs on this kind of host. */
async function composeWithDnf(
  context: RunnerContext<ComposeRunnerProps>,
): Promise<Readonly<Record<string, RunnerOutput>>> {
  const { exec, workDir, props } = context;
  const { input, treefile, lockfile, repositories } = await readComposeInputs(context);
  const root = path.join(workDir, 'rootfs');
  await installPackages(exec, {
    installRoot: root,
    stateDir: path.join(workDir, 'dnf'),
    repositories,
    packages: installSpecs(treefile.packages, lockfile),
    exclude: treefile['exclude-packages'],
    releaseVersion: String(treefile.releasever ?? '0'),
    sourceDateEpoch: props.timestamp,
  });
  const packages = await installedPackages(exec, root);
  await applyLayers(
    exec,
    root,
    treefile['ostree-layers'].map((layer) => path.join(input.path, 'layers', layer)),
  );
  await removeFromPackages(exec, root, treefile['remove-from-packages']);
  const scripts = [...treefile.postprocess];
  const scriptFile = path.join(input.path, 'postprocess-script');
  if (existsSync(scriptFile)) scripts.push(await readFile(scriptFile, 'utf8'));
  await runPostprocess(exec, root, scripts);
  await removeFiles(root, treefile['remove-files']);
  const prefix = expandVersionPrefix(
    treefile['automatic-version-prefix'] ?? `${treefile.releasever ?? '0'}.<date:%Y%m%d>`,
    props.timestamp,
  );
  const contentId = createHash('sha256')
    .update(
      canonicalStringify({
        treefile: input.digest,
        inputs: Object.values(context.inputs)
          .map((item) => item.digest)
          .sort(),
        timestamp: props.timestamp,
      }),
    )
    .digest('hex');
  const version = await assignVersion(context.ostreeRepo, treefile.ref, prefix, contentId);
  if (treefile['mutate-os-release']) await mutateOsRelease(root, treefile['mutate-os-release'], version);
  const kernelVersion = await findKernelVersion(root);
  await placeKernel(root, kernelVersion);
  const initramfs = path.join(root, 'usr/lib/modules', kernelVersion, 'initramfs.img');
  if (existsSync(path.join(root, TINY_DRACUT_PATH))) {
    await buildInitramfs(exec, { root, kernelVersion, output: initramfs, sourceDateEpoch: props.timestamp });
  } else {
    await exec(
      'chroot',
      [
        root,
        'dracut',
        '--no-hostonly',
        '--reproducible',
        '--force',
        '--kver',
        kernelVersion,
        `/usr/lib/modules/${kernelVersion}/initramfs.img`,
      ],
      {
        env: { SOURCE_DATE_EPOCH: String(props.timestamp) },
      },
    );
  }
  await convertToOstreeLayout(root, context.log);
  await ensureArchiveRepository(exec, context.ostreeRepo);
  const stringMetadata: Record<string, string> = { version };
  const variantMetadata: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(treefile['add-commit-metadata'])) {
    if (typeof value === 'string') stringMetadata[key] = value;
    else variantMetadata[key] = value as JsonValue;
  }
  const checksum = await commitTree(exec, {
    repo: context.ostreeRepo,
    tree: root,
    ref: treefile.ref,
    timestamp: props.timestamp,
    subject: `${treefile.ref} ${version}`,
    metadata: stringMetadata,
    variantMetadata,
  });
  context.log(`committed ${checksum} to ${treefile.ref} as version ${version} (${packages.length} packages)`);
  const packagesFile = path.join(workDir, 'packages.json');
  await writeFile(packagesFile, `${canonicalStringify({ packages }, 2)}\n`);
  const arch = String(input.metadata.arch ?? '');
  return {
    commit: {
      storage: 'ostree-commit',
      checksum,
      metadata: { ref: treefile.ref, version, arch, driver: 'dnf', kernelVersion },
    },
    packages: { storage: 'file', path: packagesFile, metadata: { arch, count: packages.length } },
  };
}

/** The compose with `rpm-ostree compose tree --unified-core`, where rpm-ostree is installed. */
async function composeWithRpmOstree(
  context: RunnerContext<ComposeRunnerProps>,
): Promise<Readonly<Record<string, RunnerOutput>>> {
  const { exec, workDir, props } = context;
  const { input, treefile, repositories } = await readComposeInputs(context);
  // rpm-ostree reads .repo files and the treefile's relative paths (postprocess-script,
  // check-passwd ...) next to it: a writable copy of the Manifest's tree plus a .repo file.
  const composeDir = path.join(workDir, 'compose');
  await exec('cp', ['-a', `${input.path}/.`, `${composeDir}/`]);
  await writeFile(path.join(composeDir, 'fcos-cdk.repo'), repoFile(repositories));
  await ensureArchiveRepository(exec, context.ostreeRepo);
  // ostree-layers name refs (`overlay/NAME`) that must exist in the repo: commit each layer's tree.
  for (const layer of treefile['ostree-layers']) {
    await commitTree(exec, {
      repo: context.ostreeRepo,
      tree: path.join(composeDir, 'layers', layer),
      ref: layer,
      timestamp: props.timestamp,
      subject: layer,
      bootable: false,
    });
  }
  const composeJson = path.join(workDir, 'compose.json');
  const args = [
    'compose',
    'tree',
    '--unified-core',
    `--repo=${context.ostreeRepo}`,
    `--cachedir=${path.join(workDir, 'cache')}`,
    `--write-composejson-to=${composeJson}`,
  ];
  if (existsSync(path.join(input.path, 'lockfile.json')))
    args.push(`--ex-lockfile=${path.join(input.path, 'lockfile.json')}`);
  args.push(path.join(composeDir, 'treefile.json'));
  await mkdir(path.join(workDir, 'cache'), { recursive: true });
  await exec('rpm-ostree', args, { env: { SOURCE_DATE_EPOCH: String(props.timestamp) } });
  const result = JSON.parse(await readFile(composeJson, 'utf8')) as Record<string, JsonValue>;
  const checksum = String(result['ostree-commit'] ?? '');
  const version = String(result['ostree-version'] ?? '');
  const packagesFile = path.join(workDir, 'packages.json');
  await writeFile(packagesFile, `${canonicalStringify({ packages: result.packages ?? [] }, 2)}\n`);
  const arch = String(input.metadata.arch ?? '');
  return {
    commit: {
      storage: 'ostree-commit',
      checksum,
      metadata: { ref: treefile.ref, version, arch, driver: 'rpm-ostree' },
    },
    packages: { storage: 'file', path: packagesFile, metadata: { arch } },
  };
}

/**
 * Cheap facts that decide a compose besides its inputs: the driver, the versions of the tools, and
 * each remote repository's repomd.xml checksum (local repositories are inputs, with digests).
 */
async function composeFingerprint(context: FingerprintContext<ComposeRunnerProps>): Promise<JsonValue> {
  const driver = resolveDriver(context.props.driver);
  const exec: ToolExec = (file, args, options) => runTool(file, args, { ...options, signal: context.signal });
  const tools = findOnPath('dpkg-query')
    ? Object.fromEntries(await installedVersions(exec, ['ostree', 'dnf', 'rpm', 'rpm-ostree']))
    : (
        await exec('rpm', ['-q', 'ostree', 'dnf', 'rpm', 'rpm-ostree'], { okExitCodes: [0, 1, 2, 3, 4] })
      ).stdout
        .trim()
        .split('\n');
  const remote = (context.inputs.treefile?.metadata.remoteRepos ?? []) as unknown as RemoteRepositoryUrls[];
  const repositories: Record<string, string> = {};
  for (const repository of remote) {
    try {
      repositories[repository.name] = await repositoryFingerprint(repository, context.signal);
    } catch (error) {
      if (error instanceof FcosError)
        throw new ComposeError(error.message, { constructPath: context.nodePath, field: 'repos' });
      throw error;
    }
  }
  return { driver, tools, repositories };
}

export default defineRunner(rpmOstreeComposeKind, {
  timeoutSeconds: 3600,
  fingerprint: composeFingerprint,
  async run(context) {
    return resolveDriver(context.props.driver) === 'rpm-ostree'
      ? composeWithRpmOstree(context)
      : composeWithDnf(context);
  },
});
