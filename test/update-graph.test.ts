/** The Cincinnati update graph and rollout throttling: fedora-coreos-cincinnati's rules, reproduced on small streams and on the reference response. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ReleaseIndex,
  type UpdateEntryMetadata,
  type UpdateMetadataDocument,
  updateGraphSchema,
} from '../lib/release/formats.ts';
import {
  parseRolloutWariness,
  rolloutThreshold,
  rolloutWariness,
  throttleGraph,
} from '../lib/release/rollout-throttle.ts';
import { buildUpdateGraph, graphMetadataKeys, rustNumber } from '../lib/release/update-graph.ts';
import { rustDefaultHashOfString } from '../lib/util/siphash13.ts';

const REFERENCE = path.resolve(import.meta.dirname, 'fixtures/reference');

/** A release of a test stream: its version, the arches it has, what the update metadata says about it. */
interface TestRelease {
  readonly version: string;
  readonly arches?: readonly string[];
  readonly update?: UpdateEntryMetadata;
}

/** A made-up commit checksum of one version and arch. */
function checksum(version: string, arch: string): string {
  return createHash('sha256').update(`${version}/${arch}`).digest('hex');
}

/** releases.json and updates/<stream>.json for a test stream. */
function stream(releases: readonly TestRelease[]): { index: ReleaseIndex; updates: UpdateMetadataDocument } {
  return {
    index: {
      stream: 'testing',
      metadata: { 'last-modified': '2024-01-01T00:00:00Z' },
      releases: releases.map(({ version, arches = ['x86_64'] }) => ({
        version,
        metadata: `http://127.0.0.1:8080/prod/streams/testing/builds/${version}/release.json`,
        commits: arches.map((architecture) => ({ architecture, checksum: checksum(version, architecture) })),
      })),
    },
    updates: {
      stream: 'testing',
      metadata: { 'last-modified': '2024-01-01T00:00:00Z' },
      releases: releases.flatMap(({ version, update }) => (update ? [{ version, metadata: update }] : [])),
    },
  };
}

const START = 1_700_000_000;
const barrier = { barrier: { reason: 'https://example.com/barrier' } };
const rollout = { rollout: { start_epoch: START, start_percentage: 0, duration_minutes: 60 } };
const deadend = { deadend: { reason: 'https://example.com/deadend' } };

describe('buildUpdateGraph: edges', () => {
  const cases: {
    name: string;
    releases: TestRelease[];
    basearch?: string;
    edges: [number, number][];
  }[] = [
    {
      name: 'a rollout after a barrier is reached from the barrier on; the barrier from everything before it',
      releases: [
        { version: '40.1.2.0' },
        { version: '40.2.2.0' },
        { version: '40.3.2.0', update: barrier },
        { version: '40.4.2.0' },
        { version: '40.5.2.0', update: rollout },
      ],
      edges: [
        [2, 4],
        [3, 4],
        [0, 2],
        [1, 2],
      ],
    },
    {
      name: 'two parallel rollouts are each reached from every older node (newest rollout first)',
      releases: [
        { version: '40.1.2.0' },
        { version: '40.2.2.0' },
        { version: '40.3.2.0', update: rollout },
        { version: '40.4.2.0', update: rollout },
      ],
      edges: [
        [0, 3],
        [1, 3],
        [2, 3],
        [0, 2],
        [1, 2],
      ],
    },
    {
      name: 'a barrier that is also a rollout gets its edges once, from the rollout rule',
      releases: [
        { version: '40.1.2.0' },
        { version: '40.2.2.0' },
        { version: '40.3.2.0', update: { ...barrier, ...rollout } },
        { version: '40.4.2.0' },
        { version: '40.5.2.0', update: rollout },
      ],
      edges: [
        [2, 4],
        [3, 4],
        [0, 2],
        [1, 2],
      ],
    },
    {
      name: 'a release with no update metadata gets no incoming edge, even when newest',
      releases: [{ version: '40.1.2.0' }, { version: '40.2.2.0', update: rollout }, { version: '40.3.2.0' }],
      edges: [[0, 1]],
    },
    {
      name: 'no edge leaves a dead-end, and a dead-end alone is no update target',
      releases: [
        { version: '40.1.2.0' },
        { version: '40.2.2.0', update: deadend },
        { version: '40.3.2.0', update: rollout },
      ],
      edges: [[0, 2]],
    },
    {
      name: 'a barrier after a barrier is reached from the previous barrier on',
      releases: [
        { version: '40.1.2.0' },
        { version: '40.2.2.0', update: barrier },
        { version: '40.3.2.0' },
        { version: '40.4.2.0', update: barrier },
      ],
      edges: [
        [0, 1],
        [1, 3],
        [2, 3],
      ],
    },
    {
      name: 'a release without the basearch is no node; edges use node positions',
      basearch: 'aarch64',
      releases: [
        { version: '40.1.2.0', arches: ['x86_64', 'aarch64'] },
        { version: '40.2.2.0', arches: ['x86_64'], update: barrier },
        { version: '40.3.2.0', arches: ['x86_64', 'aarch64'], update: rollout },
      ],
      edges: [[0, 1]],
    },
    {
      name: 'the same stream for x86_64 has the barrier node',
      releases: [
        { version: '40.1.2.0', arches: ['x86_64', 'aarch64'] },
        { version: '40.2.2.0', arches: ['x86_64'], update: barrier },
        { version: '40.3.2.0', arches: ['x86_64', 'aarch64'], update: rollout },
      ],
      edges: [
        [1, 2],
        [0, 1],
      ],
    },
  ];
  for (const testCase of cases) {
    it(testCase.name, () => {
      const { index, updates } = stream(testCase.releases);
      const graph = buildUpdateGraph(index, updates, testCase.basearch ?? 'x86_64');
      expect(graph.edges).toEqual(testCase.edges);
      expect(updateGraphSchema.parse(graph)).toEqual(graph);
    });
  }
});

describe('buildUpdateGraph: nodes', () => {
  it('names each node by its commit, with age_index counted in releases.json (before arches are dropped)', () => {
    const { index, updates } = stream([
      { version: '40.1.2.0', arches: ['x86_64', 'aarch64'] },
      { version: '40.2.2.0', arches: ['x86_64'] },
      { version: '40.3.2.0', arches: ['aarch64', 'x86_64'] },
    ]);
    const graph = buildUpdateGraph(index, updates, 'aarch64');
    expect(graph.nodes).toEqual([
      {
        version: '40.1.2.0',
        payload: checksum('40.1.2.0', 'aarch64'),
        metadata: { [graphMetadataKeys.ageIndex]: '0', [graphMetadataKeys.scheme]: 'checksum' },
      },
      {
        version: '40.3.2.0',
        payload: checksum('40.3.2.0', 'aarch64'),
        metadata: { [graphMetadataKeys.ageIndex]: '2', [graphMetadataKeys.scheme]: 'checksum' },
      },
    ]);
    expect(buildUpdateGraph(index, updates, 's390x')).toEqual({ nodes: [], edges: [] });
  });

  it('carries barrier, dead-end (with reasons, empty → generic) and rollout parameters as strings', () => {
    const { index, updates } = stream([
      { version: '40.1.2.0', update: { deadend: { reason: '' }, barrier: { reason: 'keys' } } },
      { version: '40.2.2.0', update: { rollout: { start_epoch: START, start_percentage: 1e-7 } } },
      { version: '40.3.2.0', update: { rollout: { start_percentage: 1 } } },
    ]);
    const [first, second, third] = buildUpdateGraph(index, updates, 'x86_64').nodes;
    expect(first?.metadata).toEqual({
      [graphMetadataKeys.ageIndex]: '0',
      [graphMetadataKeys.scheme]: 'checksum',
      [graphMetadataKeys.deadend]: 'true',
      [graphMetadataKeys.deadendReason]: 'generic',
      [graphMetadataKeys.barrier]: 'true',
      [graphMetadataKeys.barrierReason]: 'keys',
    });
    expect(second?.metadata).toMatchObject({
      [graphMetadataKeys.rollout]: 'true',
      [graphMetadataKeys.startEpoch]: String(START),
      [graphMetadataKeys.startValue]: '0.0000001',
    });
    expect(second?.metadata).not.toHaveProperty(graphMetadataKeys.durationMinutes);
    expect(third?.metadata).toMatchObject({ [graphMetadataKeys.startValue]: '1' });
    expect(third?.metadata).not.toHaveProperty(graphMetadataKeys.startEpoch);
  });

  it('applies every update entry of a version in order, and ignores versions not in the index', () => {
    const { index } = stream([{ version: '40.1.2.0' }, { version: '40.2.2.0' }]);
    const updates: UpdateMetadataDocument = {
      stream: 'testing',
      metadata: { 'last-modified': '2024-01-01T00:00:00Z' },
      releases: [
        { version: '40.2.2.0', metadata: { rollout: { start_epoch: 5, start_percentage: 0.5 } } },
        { version: '40.2.2.0', metadata: { rollout: { start_percentage: 0.25, duration_minutes: 10 } } },
        { version: '39.9.2.0', metadata: barrier },
      ],
    };
    const graph = buildUpdateGraph(index, updates, 'x86_64');
    expect(graph.nodes[1]?.metadata).toMatchObject({
      [graphMetadataKeys.startEpoch]: '5',
      [graphMetadataKeys.startValue]: '0.25',
      [graphMetadataKeys.durationMinutes]: '10',
    });
    expect(graph.edges).toEqual([[0, 1]]);
    expect(buildUpdateGraph(index, undefined, 'x86_64').edges).toEqual([]);
  });

  it('writes numbers as Rust does: shortest digits, never an exponent', () => {
    expect([0, 1, 0.5, 1e-7, 1.5e-10, 0.1 + 0.2, 1e21, -2.5e-8].map(rustNumber)).toEqual([
      '0',
      '1',
      '0.5',
      '0.0000001',
      '0.00000000015',
      '0.30000000000000004',
      '1000000000000000000000',
      '-0.000000025',
    ]);
  });
});

describe('the reference graph response', () => {
  const reference = updateGraphSchema.parse(
    JSON.parse(readFileSync(path.join(REFERENCE, 'cincinnati-graph-response.json'), 'utf8')),
  );

  it('is reproduced, nodes and edges, from an equivalent releases.json and updates document', () => {
    const index: ReleaseIndex = {
      stream: 'testing',
      metadata: { 'last-modified': '2020-06-05T00:00:00Z' },
      releases: reference.nodes.map((node) => ({
        version: node.version,
        metadata: `https://builds.coreos.fedoraproject.org/prod/streams/testing/builds/${node.version}/release.json`,
        commits: [{ architecture: 'x86_64', checksum: node.payload }],
      })),
    };
    const updates: UpdateMetadataDocument = {
      stream: 'testing',
      metadata: { 'last-modified': '2020-06-05T00:00:00Z' },
      releases: [
        {
          version: '32.20200601.1.1',
          metadata: { rollout: { start_epoch: 1591279200, start_percentage: 0, duration_minutes: 2880 } },
        },
      ],
    };
    const graph = buildUpdateGraph(index, updates, 'x86_64');
    expect(graph.edges).toEqual(reference.edges);
    expect(graph.nodes).toEqual(reference.nodes);
    // Half-way through its two days, the rollout is offered to wariness 0.5 and below.
    const halfway = 1591279200 + 2880 * 30;
    expect(throttleGraph(graph, 0.5, halfway).edges).toEqual(reference.edges);
    expect(throttleGraph(graph, 0.51, halfway).edges).toEqual([]);
  });

  it('the real stable stream: every edge leads to a barrier or rollout and none leaves a dead-end', () => {
    const index = JSON.parse(
      readFileSync(path.join(REFERENCE, 'fcos-releases.json'), 'utf8'),
    ) as ReleaseIndex;
    const updates = JSON.parse(
      readFileSync(path.join(REFERENCE, 'fcos-updates-stable.json'), 'utf8'),
    ) as UpdateMetadataDocument;
    const graph = buildUpdateGraph(index, updates, 'x86_64');
    expect(graph.nodes.length).toBe(index.releases.length);
    const targets = graph.nodes.filter(
      (node) => graphMetadataKeys.barrier in node.metadata || graphMetadataKeys.rollout in node.metadata,
    );
    expect(targets.length).toBeGreaterThan(0);
    for (const [source, target] of graph.edges) {
      expect(source).toBeLessThan(target);
      const metadata = graph.nodes[target]!.metadata;
      expect(graphMetadataKeys.barrier in metadata || graphMetadataKeys.rollout in metadata).toBe(true);
      expect(graph.nodes[source]!.metadata[graphMetadataKeys.deadend]).toBeUndefined();
    }
  });
});

describe('rolloutWariness', () => {
  it('clamps a given rollout_wariness to [0,1]', () => {
    expect(rolloutWariness({ rolloutWariness: 0.3, nodeUuid: 'ignored' })).toBe(0.3);
    expect(rolloutWariness({ rolloutWariness: 7 })).toBe(1);
    expect(rolloutWariness({ rolloutWariness: -1 })).toBe(0);
    expect(rolloutWariness({ rolloutWariness: Number.NaN })).toBe(0);
  });

  // Values printed by rustc 1.x for `uuid.hash(&mut DefaultHasher::new())` and fcos-policy-engine's scaling.
  const fromRust: [string, bigint, number][] = [
    ['', 3476900567878811119n, 0.18848315746051456],
    ['a', 8186225505942432243n, 0.4437761738999516],
    ['abcdefg', 2492161047327640297n, 0.13510032108481887],
    ['abcdefgh', 6689927370435554326n, 0.3626616894398233],
    ['e0f3745b108f471cbd4883c6fbed8cdd', 12051689558367979132n, 0.6533234000651716],
    ['0123456789abcdef0123456789abcdef01234567', 9224564023651408900n, 0.5000646177337242],
    ['ÿé✓', 14197979688700637814n, 0.7696740211697148],
  ];
  for (const [uuid, digest, wariness] of fromRust) {
    it(`hashes node_uuid ${JSON.stringify(uuid)} as fedora-coreos-cincinnati does`, () => {
      expect(rustDefaultHashOfString(uuid)).toBe(digest);
      expect(rolloutWariness({ nodeUuid: uuid })).toBe(wariness);
    });
  }

  it('reads rollout_wariness as Rust parses an f64', () => {
    expect(parseRolloutWariness('0.25')).toBe(0.25);
    expect(parseRolloutWariness('.5')).toBe(0.5);
    expect(parseRolloutWariness('1e-1')).toBe(0.1);
    expect(parseRolloutWariness('inf')).toBe(Number.POSITIVE_INFINITY);
    for (const bad of ['', ' 0.5', '0x1', 'half', undefined])
      expect(parseRolloutWariness(bad)).toBeUndefined();
  });
});

describe('throttleGraph', () => {
  const { index, updates } = stream([
    { version: '40.1.2.0' },
    { version: '40.2.2.0', update: barrier },
    // 20% at the start, all of the fleet after 100 minutes.
    {
      version: '40.3.2.0',
      update: { rollout: { start_epoch: START, start_percentage: 0.2, duration_minutes: 100 } },
    },
  ]);
  const graph = buildUpdateGraph(index, updates, 'x86_64');
  const intoRollout: [number, number][] = [[1, 2]];
  const intoBarrier: [number, number][] = [[0, 1]];

  const cases: { name: string; now: number; threshold: number; wariness: number[] }[] = [
    { name: 'before the start', now: START - 1, threshold: 0, wariness: [0, 0.000001, 0.5, 1] },
    { name: 'at the start', now: START, threshold: 0.2, wariness: [0, 0.1, 0.2, 0.2000001, 0.9] },
    { name: 'half-way', now: START + 3000, threshold: 0.6, wariness: [0.2, 0.59, 0.61, 1] },
    { name: 'a fractional clock is floored', now: START + 3000.9, threshold: 0.6, wariness: [0.59, 0.6001] },
    { name: 'at the end', now: START + 6000, threshold: 1, wariness: [0.5, 1] },
    { name: 'after the end', now: START + 6001, threshold: 1, wariness: [0, 1] },
  ];
  for (const testCase of cases) {
    it(`${testCase.name}: the rollout is offered to wariness ≤ ${testCase.threshold} only`, () => {
      const threshold = rolloutThreshold(graph.nodes[2]!, testCase.now)!;
      expect(threshold).toBeCloseTo(testCase.threshold, 12);
      for (const wariness of testCase.wariness) {
        const seen = throttleGraph(graph, wariness, testCase.now).edges;
        const offered = wariness <= threshold;
        expect(seen, `wariness ${wariness}`).toEqual(
          offered ? [...intoRollout, ...intoBarrier] : intoBarrier,
        );
      }
    });
  }

  it('without a duration stays at start_percentage once started; a 0-minute duration counts as 1 minute', () => {
    const node = (rolloutMetadata: Record<string, string>) => ({
      version: 'v',
      payload: 'p',
      metadata: { [graphMetadataKeys.rollout]: 'true', ...rolloutMetadata },
    });
    const noDuration = node({ [graphMetadataKeys.startEpoch]: '100', [graphMetadataKeys.startValue]: '0.3' });
    expect(rolloutThreshold(noDuration, 99)).toBe(0);
    expect(rolloutThreshold(noDuration, 1e9)).toBe(0.3);
    const zeroMinutes = node({
      [graphMetadataKeys.startEpoch]: '100',
      [graphMetadataKeys.durationMinutes]: '0',
    });
    expect(rolloutThreshold(zeroMinutes, 130)).toBe(0.5);
    expect(rolloutThreshold(node({}), 0)).toBe(0);
    expect(rolloutThreshold({ version: 'v', payload: 'p', metadata: {} }, 0)).toBeUndefined();
  });
});
