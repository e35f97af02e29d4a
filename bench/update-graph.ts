/**
 * Update graph benchmark: a stream of 1,000 releases on two arches, with 20 barriers, a dead-end
 * and three rollouts in progress. Measures building one arch's graph from releases.json and
 * updates/<stream>.json, and one request's throttled view (wariness hashed from a node UUID).
 * Targets: build < 50 ms, throttled query < 2 ms.
 * Run alone: `npx tsx --conditions=fcos-cdk-source bench/update-graph.ts`.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReleaseIndex, UpdateMetadataDocument } from '../lib/release/formats.ts';
import { rolloutWariness, throttleGraph } from '../lib/release/rollout-throttle.ts';
import { buildUpdateGraph } from '../lib/release/update-graph.ts';
import { median, printTable } from './report.ts';

const RELEASES = 1000;
const BARRIERS = 20;
const ROLLOUTS = 3;
const ROLLOUT_START = 1_700_000_000;
const ARCHES = ['x86_64', 'aarch64'] as const;

/** releases.json and updates/<stream>.json of the benchmark stream. */
function benchmarkStream(): { index: ReleaseIndex; updates: UpdateMetadataDocument } {
  const versions = Array.from({ length: RELEASES }, (_, n) => `40.${20240101 + n}.2.0`);
  const index: ReleaseIndex = {
    stream: 'testing',
    metadata: { 'last-modified': '2024-01-01T00:00:00Z' },
    releases: versions.map((version) => ({
      version,
      metadata: `http://127.0.0.1:8080/prod/streams/testing/builds/${version}/release.json`,
      commits: ARCHES.map((architecture) => ({
        architecture,
        checksum: createHash('sha256').update(`${version}/${architecture}`).digest('hex'),
      })),
    })),
  };
  const releases: UpdateMetadataDocument['releases'] = [];
  const barrierEvery = Math.floor((RELEASES - ROLLOUTS) / BARRIERS);
  for (let n = 1; n <= BARRIERS; n++) {
    releases.push({
      version: versions[n * barrierEvery - 1]!,
      metadata: { barrier: { reason: `barrier ${n}` } },
    });
  }
  releases.push({ version: versions[RELEASES / 2 + 1]!, metadata: { deadend: { reason: 'broken' } } });
  for (let n = RELEASES - ROLLOUTS; n < RELEASES; n++) {
    releases.push({
      version: versions[n]!,
      metadata: { rollout: { start_epoch: ROLLOUT_START, start_percentage: 0, duration_minutes: 2880 } },
    });
  }
  return {
    index,
    updates: { stream: 'testing', metadata: { 'last-modified': '2024-01-01T00:00:00Z' }, releases },
  };
}

/** Milliseconds one call of `work` takes, median of `runs` after `warmups` unmeasured calls. */
function measure(work: () => unknown, runs: number, warmups = 5): number {
  for (let n = 0; n < warmups; n++) work();
  const times: number[] = [];
  for (let n = 0; n < runs; n++) {
    const start = performance.now();
    work();
    times.push(performance.now() - start);
  }
  return median(times);
}

/** Runs the benchmark and prints its numbers. */
export async function main(): Promise<void> {
  const { index, updates } = benchmarkStream();
  const graph = buildUpdateGraph(index, updates, 'x86_64');
  const now = ROLLOUT_START + 2880 * 30;
  let uuidCounter = 0;
  const query = () =>
    throttleGraph(graph, rolloutWariness({ nodeUuid: `e0f3745b108f471cbd4883c6fbed${uuidCounter++}` }), now);
  const buildMs = measure(() => buildUpdateGraph(index, updates, 'x86_64'), 21);
  const queryMs = measure(query, 201);
  printTable('update graph of a stream with 1,000 releases, 20 barriers, 3 rollouts', [
    ['nodes / edges', `${graph.nodes.length} / ${graph.edges.length}`],
    ['graph build, median of 21 (target < 50 ms)', `${buildMs.toFixed(2)} ms`],
    ['throttled query incl. node_uuid hash, median of 201 (target < 2 ms)', `${queryMs.toFixed(3)} ms`],
  ]);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
