/**
 * The rpm-ostree driver: `rpm-ostree compose tree --unified-core` on a writable copy of the
 * compose input, with the repositories as a .repo file beside the treefile, each ostree layer
 * committed to its ref first, and the version given explicitly so that rpm-ostree does not derive
 * one from the commits already in the repository.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ComposeError } from '../../lib/compose/errors.ts';
import { repoFile } from '../../lib/tools/dnf.ts';
import { commitTree, ensureArchiveRepository } from '../../lib/tools/ostree.ts';
import type { PackageIdentity } from '../../lib/tools/rpm.ts';
import type { ComposeDriver } from './driver.ts';

/** What rpm-ostree writes with --write-composejson-to, as far as the compose uses it. */
const composeJsonSchema = z.looseObject({
  'ostree-commit': z.string().min(1, 'no commit'),
  'ostree-version': z.string().optional(),
  /** (name, epoch, version, release, arch), as in the commit's `rpmdb.pkglist`. */
  packages: z.array(z.tuple([z.string(), z.string(), z.string(), z.string(), z.string()])).default([]),
});

/** The compose JSON rpm-ostree wrote; a malformed one names the node. */
async function readComposeJson(file: string, constructPath: string) {
  const parsed = composeJsonSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ComposeError(`rpm-ostree's compose JSON: ${issue?.path.join('.')}: ${issue?.message}`, {
      constructPath,
    });
  }
  return parsed.data;
}

/** A package of the compose JSON as the package list records it. */
function packageIdentity([name, epoch, version, release, arch]: readonly string[]): PackageIdentity {
  return { name: name!, epoch: Number(epoch) || 0, version: version!, release: release!, arch: arch! };
}

/** Composes with `rpm-ostree compose tree --unified-core`. */
export const composeWithRpmOstree: ComposeDriver = async (context, { input, repositories, version }) => {
  const { exec, workDir, props } = context;
  // rpm-ostree reads .repo files and the treefile's relative paths (postprocess-script,
  // check-passwd ...) next to it: a writable copy of the Manifest's tree plus a .repo file.
  const composeDir = path.join(workDir, 'compose');
  await exec('cp', ['-a', `${input.directory}/.`, `${composeDir}/`]);
  await writeFile(path.join(composeDir, 'fcos-cdk.repo'), repoFile(repositories));
  // rpm-ostree gives an added file its source's mode, which the cache's copy does not keep.
  for (const file of input.addFiles) {
    await chmod(path.join(composeDir, path.relative(input.directory, file.file)), file.mode);
  }
  await ensureArchiveRepository(exec, context.ostreeRepo);
  // ostree-layers name refs (`overlay/NAME`) that must exist in the repo: commit each layer's tree.
  for (const layer of input.layers) {
    await commitTree(exec, {
      repo: context.ostreeRepo,
      tree: path.join(composeDir, path.relative(input.directory, layer.directory)),
      ref: layer.ref,
      timestamp: props.timestamp,
      subject: layer.ref,
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
    // Given explicitly, the version takes precedence over automatic-version-prefix (and is what
    // mutate-os-release writes), so it does not depend on the commits already on the ref.
    `--add-metadata-string=version=${version}`,
  ];
  if (input.lockfileFile !== undefined) args.push(`--ex-lockfile=${input.lockfileFile}`);
  args.push(path.join(composeDir, path.basename(input.treefileFile)));
  await mkdir(path.join(workDir, 'cache'), { recursive: true });
  await exec('rpm-ostree', args, { env: { SOURCE_DATE_EPOCH: String(props.timestamp) } });
  const result = await readComposeJson(composeJson, context.nodePath);
  return {
    checksum: result['ostree-commit'],
    version: result['ostree-version'] ?? version,
    packages: result.packages.map(packageIdentity),
    metadata: {},
  };
};
