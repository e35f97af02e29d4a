/**
 * Per-request throttling of staged rollouts, as fedora-coreos-cincinnati's policy engine does it
 * (fcos-policy-engine/src/main.rs `compute_wariness`, commons/src/policy.rs `throttle_rollouts`):
 * each client has a wariness in [0,1]; a rollout node offers itself only to clients whose
 * wariness is at most the rollout's current threshold, so the share of the fleet offered the
 * release grows from `start_percentage` to 1 over `duration_minutes`.
 *
 * Details of the real code the notes leave out, followed here:
 * - the wariness from a node UUID is Rust's `DefaultHasher` (SipHash-1-3, zero keys) of the UUID
 *   string, divided by u64::MAX and clamped to [0.000001, 1]; no UUID hashes the empty string;
 * - a missing or unreadable `start_epoch` / `start_value` counts as 0; a `duration_minutes` of 0
 *   counts as 1; without a duration the threshold stays at `start_value` once started;
 * - `now` is whole Unix seconds (chrono's `timestamp()`), so a fractional clock is floored.
 */
import { rustDefaultHashOfString } from '../util/siphash13.ts';
import type { GraphNode, UpdateGraph } from './formats.ts';
import { graphMetadataKeys } from './update-graph.ts';

/** Smallest wariness a node UUID maps to: the real code keeps 0 for clients that ask for it. */
const COMPUTED_WARINESS_MIN = 0.000_001;
/** u64::MAX as Rust converts it to f64 (2^64). */
const U64_MAX_AS_FLOAT = 2 ** 64;

/** What a graph request says about the client's wariness. */
export interface WarinessRequest {
  /** The `rollout_wariness` query parameter, as a number; clamped to [0,1]. @default derived from nodeUuid */
  readonly rolloutWariness?: number;
  /** The `node_uuid` query parameter. @default '' (the real code hashes the empty string) */
  readonly nodeUuid?: string;
}

/**
 * The client's wariness: its `rollout_wariness` clamped to [0,1], else a stable hash of its node
 * UUID mapped into [0.000001, 1], equal to what fedora-coreos-cincinnati computes for it.
 */
export function rolloutWariness(request: WarinessRequest): number {
  if (request.rolloutWariness !== undefined) {
    // Rust's clamp keeps NaN, which then hides nothing; 0 has the same effect and stays in range.
    if (Number.isNaN(request.rolloutWariness)) return 0;
    return Math.min(1, Math.max(0, request.rolloutWariness));
  }
  const digest = rustDefaultHashOfString(request.nodeUuid ?? '');
  const scaled = Number(digest) / U64_MAX_AS_FLOAT;
  return Math.min(1, Math.max(COMPUTED_WARINESS_MIN, scaled));
}

/**
 * Reads a `rollout_wariness` query parameter as Rust's `str::parse::<f64>` would (decimal, with
 * optional exponent, `inf`, `nan`); anything else gives undefined, and the node UUID decides.
 */
export function parseRolloutWariness(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[+-]?(?:inf|infinity|nan|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)$/i.test(text)) return undefined;
  const unsigned = text.replace(/^[+-]/, '').toLowerCase();
  const sign = text.startsWith('-') ? -1 : 1;
  if (unsigned === 'nan') return Number.NaN;
  if (unsigned === 'inf' || unsigned === 'infinity') return sign * Number.POSITIVE_INFINITY;
  return Number(text);
}

/**
 * The share of the fleet (0–1) a rollout node is offered to at `nowSeconds`, or undefined when
 * the node is not a rollout: 0 before the start, rising linearly from `start_value` to 1 over
 * the duration, 1 after it; without a duration, `start_value` once started.
 */
export function rolloutThreshold(node: GraphNode, nowSeconds: number): number | undefined {
  if (!(graphMetadataKeys.rollout in node.metadata)) return undefined;
  const now = Math.floor(nowSeconds);
  const startEpoch = parseInteger(node.metadata[graphMetadataKeys.startEpoch]) ?? 0;
  const startValue = parseFloatValue(node.metadata[graphMetadataKeys.startValue]) ?? 0;
  const durationText = node.metadata[graphMetadataKeys.durationMinutes];
  const minutes =
    durationText !== undefined && /^\+?\d+$/.test(durationText) ? Number(durationText) : undefined;
  if (minutes === undefined) return now < startEpoch ? 0 : startValue;
  const end = startEpoch + Math.max(minutes, 1) * 60;
  // Same operation order as the real code (rate first), so the float comes out identical.
  const rate = (1 - startValue) / (end - startEpoch);
  if (now < startEpoch) return 0;
  if (now > end) return 1;
  return startValue + rate * (now - startEpoch);
}

/**
 * The graph one client sees at `nowSeconds`: every edge into a rollout node whose threshold is
 * below the client's wariness is hidden. Nodes stay, so indexes keep their meaning.
 */
export function throttleGraph(graph: UpdateGraph, wariness: number, nowSeconds: number): UpdateGraph {
  const hidden = new Set<number>();
  graph.nodes.forEach((node, position) => {
    const threshold = rolloutThreshold(node, nowSeconds);
    if (threshold !== undefined && wariness > threshold) hidden.add(position);
  });
  if (hidden.size === 0) return graph;
  return { nodes: graph.nodes, edges: graph.edges.filter(([, target]) => !hidden.has(target)) };
}

/** An i64 metadata value as Rust parses it; undefined when absent or unreadable. */
function parseInteger(text: string | undefined): number | undefined {
  return text !== undefined && /^[+-]?\d+$/.test(text) ? Number(text) : undefined;
}

/** An f64 metadata value as Rust parses it; undefined when absent or unreadable. */
function parseFloatValue(text: string | undefined): number | undefined {
  return parseRolloutWariness(text);
}
