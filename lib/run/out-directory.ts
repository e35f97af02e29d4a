/**
 * Publishing a run to its output directory (fcos.out): each node's outputs linked under
 * `artifacts/<node>/`, its log under `logs/<node>.log`, and `outputs.json` describing every
 * output of the run. Everything here is a view of the cache: hardlinks and a JSON index.
 */
import { readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { canonicalStringify } from '../util/canonical-json.ts';
import type { ArtifactStore, StoredOutput } from './artifact-store.ts';
import type { NodeOutcome } from './run-state.ts';

/** The output directory of a run, backed by the cache it links from. */
export class OutDirectory {
  constructor(
    /** Absolute path of the directory (the one holding pipeline.json). */
    readonly root: string,
    private readonly store: ArtifactStore,
    /** Every node of the pipeline: a node's artifacts directory may hold a nested node's. */
    private readonly nodePaths: readonly string[] = [],
    /**
     * Whether outputs are placed under `artifacts/` (false: `--no-artifacts`, outputs.json lists
     * digests without paths).
     */
    readonly publishes = true,
  ) {}

  /** Where a node's outputs are published. */
  artifactsDirectory(nodePath: string): string {
    return path.join(this.root, 'artifacts', ...nodePath.split('/'));
  }

  /** The log file of a node. */
  logPath(nodePath: string): string {
    return path.join(this.root, 'logs', `${nodePath}.log`);
  }

  /**
   * Where output `name` of a node is once published: its file or tree under `artifacts/`, or
   * the cache's ostree repository for a commit (commits are not copied out).
   */
  publishedPath(nodePath: string, name: string, output: StoredOutput): string {
    if (output.storage === 'ostree-commit') return this.store.ostreeRepo;
    const fileName = output.storage === 'tree' ? name : (output.fileName ?? name);
    return path.join(this.artifactsDirectory(nodePath), fileName);
  }

  /** Links a node's outputs under `artifacts/<node>/`. */
  async publishOutputs(nodePath: string, outputs: Readonly<Record<string, StoredOutput>>): Promise<void> {
    if (!this.publishes) return;
    const directory = this.artifactsDirectory(nodePath);
    for (const [name, output] of Object.entries(outputs))
      await this.store.publishOutput(output, directory, name);
  }

  /**
   * Removes what an earlier run published for a node that has now failed or was interrupted, so
   * that `artifacts/<node>/` holds nothing outputs.json does not list (CI archiving a JUnit report
   * must not publish a stale pass). The directories of nodes nested under this one are kept.
   */
  async removeOutputs(nodePath: string): Promise<void> {
    const directory = this.artifactsDirectory(nodePath);
    const prefix = `${nodePath}/`;
    const nested = new Set(
      this.nodePaths
        .filter((other) => other.startsWith(prefix))
        .map((other) => other.slice(prefix.length).split('/')[0]),
    );
    const entries = await readdir(directory).catch(() => [] as string[]);
    for (const entry of entries) {
      if (!nested.has(entry)) await rm(path.join(directory, entry), { recursive: true, force: true });
    }
  }

  /** Puts back the log a cached node had when it was built (best effort: a log is not an output). */
  async restoreLog(nodePath: string, logDigest: string): Promise<void> {
    await this.store.linkBlob(logDigest, this.logPath(nodePath)).catch(() => {});
  }

  /** Writes `outputs.json`: node → output → type, storage, digest, size, path, metadata. */
  async writeOutputsJson(outcomes: ReadonlyMap<string, NodeOutcome>): Promise<void> {
    const result: Record<string, Record<string, unknown>> = {};
    for (const [nodePath, outcome] of [...outcomes.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      if (!outcome.outputs) continue;
      result[nodePath] = Object.fromEntries(
        Object.entries(outcome.outputs).map(([name, output]) => [
          name,
          {
            type: output.type,
            storage: output.storage,
            digest: output.digest,
            size: output.size,
            ...(outcome.remoteOnly || !this.publishes
              ? {}
              : { path: path.relative(this.root, this.publishedPath(nodePath, name, output)) }),
            metadata: output.metadata,
          },
        ]),
      );
    }
    const file = path.join(this.root, 'outputs.json');
    // Written aside and renamed: a reader never sees half a file.
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, `${canonicalStringify(result, 2)}\n`);
    await rename(temporary, file);
  }
}
