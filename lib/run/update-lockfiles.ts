/**
 * `fcos-run --update-lockfiles`: after a successful run, write each compose's package set as
 * rpm-ostree's `manifest-lock.<arch>.json` next to the treefile that produced it (or into the
 * Manifest's `lockfileDir`), so the next compose installs exactly these versions.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Assembly } from '../synth/assembly.ts';
import type { PackageIdentity } from '../tools/rpm.ts';
import { writeLockfile } from '../treefile/lockfile.ts';
import type { NodeOutcome } from './executor.ts';

/** A lockfile written, and for which compose. */
export interface UpdatedLockfile {
  /** The compose node. */
  readonly node: string;
  /** The file written. */
  readonly file: string;
  /** How many packages it locks. */
  readonly packages: number;
}

/** Writes the lockfiles of every compose of the run; composes whose Manifest is inline are skipped. */
export async function updateLockfiles(
  assembly: Assembly,
  outcomes: ReadonlyMap<string, NodeOutcome>,
  outdir: string,
  projectDir: string,
): Promise<UpdatedLockfile[]> {
  const written: UpdatedLockfile[] = [];
  for (const [nodePath, node] of Object.entries(assembly.nodes)) {
    if (node.kind !== 'RpmOstreeCompose') continue;
    const outcome = outcomes.get(nodePath);
    const packagesOutput = outcome?.outputs?.packages;
    const manifestNode = node.inputs.treefile ? assembly.nodes[node.inputs.treefile.node] : undefined;
    if (!packagesOutput?.fileName || !manifestNode) continue;
    const props = manifestNode.props as { lockfileDir?: string; file?: string };
    const directory = props.lockfileDir ?? (props.file ? path.posix.dirname(props.file) : undefined);
    if (directory === undefined) continue;
    const listFile = path.join(outdir, 'artifacts', ...nodePath.split('/'), packagesOutput.fileName);
    const list = JSON.parse(await readFile(listFile, 'utf8')) as { packages: PackageIdentity[] };
    const arch = String(outcome?.outputs?.commit?.metadata.arch ?? packagesOutput.metadata.arch);
    const file = await writeLockfile(path.resolve(projectDir, directory), arch, list.packages);
    written.push({ node: nodePath, file, packages: list.packages.length });
  }
  return written;
}
