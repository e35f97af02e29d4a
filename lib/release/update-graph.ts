/**
 * The Cincinnati update graph of one stream × basearch, built from the release index
 * (`releases.json`) and the update metadata (`updates/<stream>.json`), rule for rule as
 * fedora-coreos-cincinnati's graph builder does it (commons/src/graph.rs `Graph::from_metadata`,
 * `compute_edges`, and policy.rs `filter_deadends`), so that Zincati sees the same graph here as
 * from the Fedora servers.
 *
 * Where our notes (shared/notes/releases-and-updates.md) and the real code differ, this follows
 * the real code:
 * - `age_index` is the release's index in releases.json, counted before releases without a
 *   commit for the basearch are dropped; edges use node positions (after dropping). The two
 *   differ once an arch is missing from a release.
 * - barriers and dead-ends also carry `...updates.barrier_reason` / `...updates.deadend_reason`
 *   (an empty reason becomes `generic`).
 * - only rollouts and barriers get incoming edges: a release whose only entry is a dead-end is
 *   no update target either.
 * - `start_value` / `start_epoch` / `duration_minutes` are only set when the rollout has them.
 * - several update entries for one version all apply, in document order (the later one wins a
 *   key both set).
 * - edges come in the real code's order: into rollouts (newest rollout first), then into barriers
 *   (oldest first).
 */
import type { GraphNode, ReleaseIndex, UpdateGraph, UpdateMetadataDocument } from './formats.ts';

/** The node metadata keys of the graph, as fedora-coreos-cincinnati's commons/src/metadata.rs names them. */
export const graphMetadataKeys = {
  /** How `payload` names the release: `checksum` (an ostree commit). */
  scheme: 'org.fedoraproject.coreos.scheme',
  /** The release's index in releases.json (oldest is 0). */
  ageIndex: 'org.fedoraproject.coreos.releases.age_index',
  /** `true` when the release is a barrier. */
  barrier: 'org.fedoraproject.coreos.updates.barrier',
  /** Why the release is a barrier. */
  barrierReason: 'org.fedoraproject.coreos.updates.barrier_reason',
  /** `true` when the release is a dead-end. */
  deadend: 'org.fedoraproject.coreos.updates.deadend',
  /** Why the release is a dead-end (Zincati shows it at login). */
  deadendReason: 'org.fedoraproject.coreos.updates.deadend_reason',
  /** `true` when the release is being rolled out. */
  rollout: 'org.fedoraproject.coreos.updates.rollout',
  /** The rollout's length in minutes. */
  durationMinutes: 'org.fedoraproject.coreos.updates.duration_minutes',
  /** The rollout's start, Unix seconds. */
  startEpoch: 'org.fedoraproject.coreos.updates.start_epoch',
  /** The share of the fleet (0–1) offered the release at the start (`start_percentage`). */
  startValue: 'org.fedoraproject.coreos.updates.start_value',
} as const;

/** The reason the real code puts on a barrier or dead-end whose reason is empty. */
const GENERIC_REASON = 'generic';

/**
 * Builds the update graph of one basearch: a node per release that has a commit for it, in index
 * order; edges into rollouts from every node since the previous barrier (included), edges into
 * barriers that are not rollouts from every node since the previous barrier; no edge leaves a
 * dead-end.
 */
export function buildUpdateGraph(
  index: ReleaseIndex,
  updates: UpdateMetadataDocument | undefined,
  basearch: string,
): UpdateGraph {
  const entriesByVersion = groupUpdateEntries(updates);
  const nodes: GraphNode[] = [];
  index.releases.forEach((release, ageIndex) => {
    const payload = commitFor(release.commits, basearch);
    if (payload === undefined) return;
    const metadata: Record<string, string> = {
      [graphMetadataKeys.ageIndex]: String(ageIndex),
      [graphMetadataKeys.scheme]: 'checksum',
    };
    addUpdateMetadata(metadata, entriesByVersion.get(release.version) ?? []);
    nodes.push({ version: release.version, payload, metadata });
  });
  return { nodes, edges: withoutDeadendSources(nodes, computeEdges(nodes)) };
}

/** The update entries of each version, in document order (a version may be listed more than once). */
function groupUpdateEntries(
  updates: UpdateMetadataDocument | undefined,
): Map<string, UpdateMetadataDocument['releases']> {
  const byVersion = new Map<string, UpdateMetadataDocument['releases']>();
  for (const entry of updates?.releases ?? []) {
    const list = byVersion.get(entry.version);
    if (list) list.push(entry);
    else byVersion.set(entry.version, [entry]);
  }
  return byVersion;
}

/** The release's commit for the basearch; the last one wins if listed twice, as in the real code. */
function commitFor(
  commits: ReleaseIndex['releases'][number]['commits'],
  basearch: string,
): string | undefined {
  let payload: string | undefined;
  for (const commit of commits) {
    if (commit.architecture === basearch && commit.checksum !== '') payload = commit.checksum;
  }
  return payload;
}

/** Writes a release's dead-end, barrier and rollout into its node metadata, in the real code's order. */
function addUpdateMetadata(
  metadata: Record<string, string>,
  entries: UpdateMetadataDocument['releases'],
): void {
  for (const { metadata: update } of entries) {
    if (update.deadend) {
      metadata[graphMetadataKeys.deadend] = 'true';
      metadata[graphMetadataKeys.deadendReason] = update.deadend.reason || GENERIC_REASON;
    }
  }
  for (const { metadata: update } of entries) {
    if (update.barrier) {
      metadata[graphMetadataKeys.barrier] = 'true';
      metadata[graphMetadataKeys.barrierReason] = update.barrier.reason || GENERIC_REASON;
    }
  }
  for (const { metadata: update } of entries) {
    const rollout = update.rollout;
    if (!rollout) continue;
    metadata[graphMetadataKeys.rollout] = 'true';
    if (rollout.start_epoch !== undefined)
      metadata[graphMetadataKeys.startEpoch] = rustNumber(rollout.start_epoch);
    if (rollout.start_percentage !== undefined) {
      metadata[graphMetadataKeys.startValue] = rustNumber(rollout.start_percentage);
    }
    if (rollout.duration_minutes !== undefined) {
      metadata[graphMetadataKeys.durationMinutes] = rustNumber(rollout.duration_minutes);
    }
  }
}

/** The edges by the two rules of `compute_edges`: into rollouts, then into plain barriers. */
function computeEdges(nodes: readonly GraphNode[]): [number, number][] {
  const rollouts = new Set<number>();
  const barriers: number[] = [];
  nodes.forEach((node, position) => {
    if (graphMetadataKeys.rollout in node.metadata) rollouts.add(position);
    if (graphMetadataKeys.barrier in node.metadata) barriers.push(position);
  });
  const edges: [number, number][] = [];
  // Into each rollout, newest first: from the previous barrier (included), or from the oldest node.
  let barrierCursor = barriers.length - 1;
  for (let target = nodes.length - 1; target >= 0; target--) {
    while (barrierCursor >= 0 && barriers[barrierCursor]! >= target) barrierCursor--;
    if (!rollouts.has(target)) continue;
    const start = barrierCursor >= 0 ? barriers[barrierCursor]! : 0;
    for (let source = start; source < target; source++) edges.push([source, target]);
  }
  // Into each barrier that is not also a rollout (its rollout edges already lead to it).
  let start = 0;
  for (const target of barriers) {
    if (!rollouts.has(target)) {
      for (let source = start; source < target; source++) edges.push([source, target]);
    }
    start = target;
  }
  return edges;
}

/** Drops every edge leaving a dead-end (policy.rs `filter_deadends`). */
function withoutDeadendSources(nodes: readonly GraphNode[], edges: [number, number][]): [number, number][] {
  return edges.filter(([source]) => nodes[source]?.metadata[graphMetadataKeys.deadend] !== 'true');
}

/**
 * A number as Rust's `to_string` writes it (the real graph's metadata values come from there):
 * the shortest digits that read back the same, never an exponent (`0.0000001`, not `1e-7`).
 */
export function rustNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  const text = String(value);
  const exponentAt = text.indexOf('e');
  if (exponentAt < 0) return text;
  // Expand `d.ddde±x` into plain digits.
  const negative = text.startsWith('-');
  const mantissa = text.slice(negative ? 1 : 0, exponentAt);
  const exponent = Number(text.slice(exponentAt + 1));
  const [whole = '', fraction = ''] = mantissa.split('.');
  const digits = whole + fraction;
  const pointAt = whole.length + exponent;
  let plain: string;
  if (pointAt <= 0) plain = `0.${'0'.repeat(-pointAt)}${digits}`;
  else if (pointAt >= digits.length) plain = digits + '0'.repeat(pointAt - digits.length);
  else plain = `${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
  return negative ? `-${plain}` : plain;
}
