/** Assemblies for the engine-export tests: the default pipeline's, and generated DAGs with awkward node paths. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../lib/cli/synth.ts';
import { type Assembly, type AssemblyNode, readAssembly } from '../../lib/synth/assembly.ts';
import { REPO_ROOT } from './link-project.ts';

/** Synthesizes the repository's pipeline.ts with `-c` values `context` (in a temporary output directory). */
export async function defaultAssembly(context: Record<string, string> = {}): Promise<Assembly> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'fcos-emit-'));
  try {
    const argv = ['--app', path.join(REPO_ROOT, 'pipeline.ts'), '--out', out, '-q'];
    for (const [key, value] of Object.entries(context)) argv.push('-c', `${key}=${value}`);
    const errors: string[] = [];
    const code = await main(argv, { stdout: () => {}, stderr: (text) => errors.push(text) });
    if (code !== 0) throw new Error(`fcos-synth failed: ${errors.join('')}`);
    return await readAssembly(path.join(out, 'pipeline.json'));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** A small deterministic pseudo-random generator (mulberry32), so a generated DAG is the same on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Node paths that engines' id rules must tell apart: `/` against `-`, case, characters no engine
 * accepts, a leading digit, and paths longer than any id may be.
 */
const AWKWARD_PATHS = [
  'a/b',
  'a-b',
  'x/Disk',
  'x/disk',
  '9lives',
  'with space/and.dot',
  `long/${'VeryLongConstructName'.repeat(6)}/one`,
  `long/${'VeryLongConstructName'.repeat(6)}/two`,
  '---',
];

/**
 * A generated assembly of `count` nodes (at least the awkward paths): each node needs up to three
 * earlier ones, some form chains, about one in five is a `vm` node. Same `seed`, same assembly.
 */
export function generatedAssembly(count: number, seed: number): Assembly {
  const next = random(seed);
  const paths = [...AWKWARD_PATHS];
  for (let index = paths.length; index < count; index++) {
    paths.push(`stream${index % 3}/arch${index % 2}/Node${index}`);
  }
  const nodes: Record<string, AssemblyNode> = {};
  paths.forEach((nodePath, index) => {
    const inputs: AssemblyNode['inputs'] = {};
    const chained = index > 0 && next() < 0.3;
    const predecessors = chained ? 1 : Math.floor(next() * 4);
    for (let input = 0; input < Math.min(predecessors, index); input++) {
      const producer = chained ? paths[index - 1]! : paths[Math.floor(next() * index)]!;
      inputs[`input${input}`] = { node: producer, output: 'out', type: 'blob' };
    }
    nodes[nodePath] = {
      kind: 'Generated',
      kindVersion: 1,
      runner: 'generated/runner',
      props: {},
      inputs,
      dependsOn: [],
      resources: { class: next() < 0.2 ? 'vm' : 'cpu' },
      outputs: { out: { type: 'blob', attributes: {} } },
    };
  });
  return {
    schemaVersion: 2,
    pipeline: { name: 'generated', context: {}, project: '..', app: 'pipeline.ts' },
    nodes,
  };
}
