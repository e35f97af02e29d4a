/**
 * The Fedora matrix on paper, with measured costs: synthesizes the full `fedora` profile of the
 * default pipeline.ts (stable, testing, next × x86_64, aarch64 × qemu, metal, metal4k, aws, azure,
 * gce, with uploads) into a temporary directory, prints its shape (node count, nodes per kind, DAG
 * width per depth level, longest chain) and gives every node a cost: the measured wall time of
 * the same kind (PlatformImage: the same platform) in a real run's `finish` events — or, when
 * that events file has none, in the action records of the cache beside it, which hold the same
 * durations — else a labelled estimate. Then the critical path and a simulated list schedule
 * (longest remaining path first, as fcos-run's scheduler does) on N = 1 … 32 and unlimited
 * runners: makespan and runner utilisation, without and with a per-job overhead (one node per
 * job), for the measured costs and for an estimate that scales the image kinds to Fedora's disk
 * size. Nothing is built or uploaded: the cloud settings passed to synthesis are placeholders.
 *
 * Run: `npx tsx --conditions=fcos-cdk-source bench/fedora-plan.ts [--events FILE] [--records DIR]
 * [--job-overhead SECONDS] [--upload-seconds SECONDS] [--image-scale FACTOR]`.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { actionRecordSchema } from '../lib/cache/action-cache.ts';
import { type Assembly, readAssembly } from '../lib/synth/assembly.ts';
import { planJobs } from '../lib/synth/emit/job-plan.ts';
import {
  type Graph,
  graphFromPredecessors,
  graphOfAssembly,
  heaviestChain,
  longestPathToSink,
  topologicalOrder,
} from '../lib/synth/graph.ts';
import { median, printTable } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SYNTH_BIN = path.join(ROOT, 'bin/fcos-synth.js');

/**
 * The full Fedora profile: every default stream, arch and platform, uploads on. `local-os/` is laid
 * out like a fedora-coreos-config checkout; the cloud settings are placeholders (nothing runs).
 */
const FEDORA_CONTEXT: readonly string[] = [
  'profile=fedora',
  'config=local-os',
  'aws.bucket=fcos-plan',
  'azure.subscription=00000000-0000-0000-0000-000000000000',
  'azure.resourceGroup=fcos-plan',
  'azure.storageAccount=fcosplan',
  'gcp.project=fcos-plan',
  'gcp.bucket=fcos-plan',
];

/** Runner counts simulated; Infinity: as many as the DAG can use. */
const RUNNER_COUNTS: readonly number[] = [1, 2, 4, 8, 16, 32, Number.POSITIVE_INFINITY];
/** Kinds whose work is writing, converting and hashing a disk image, so it grows with the disk. */
const IMAGE_KINDS: ReadonlySet<string> = new Set(['DiskImage', 'PlatformImage']);

/** One node's measured wall time in a real run. */
interface Measurement {
  /** Construct path in the measured run. */
  readonly node: string;
  /** Cost class: the kind, `PlatformImage/<platform>` for platform images. */
  readonly costClass: string;
  /** Wall milliseconds of its successful attempt. */
  readonly durationMs: number;
  /** When it finished, to keep the newest of several. */
  readonly finishedAt: string;
}

/** Where the measurements came from, and what they are. */
interface MeasurementSource {
  /** A sentence naming the file or directory. */
  readonly description: string;
  /** Newest measurement per measured node. */
  readonly measurements: readonly Measurement[];
}

/** A node's cost and whether it was measured. */
interface NodeCost {
  readonly ms: number;
  readonly measured: boolean;
}

/** One cost class of the Fedora DAG: how many nodes, the cost each gets, and where it came from. */
interface CostClass {
  readonly name: string;
  readonly nodes: number;
  readonly cost: NodeCost;
  readonly source: string;
}

/** What a simulated schedule gives. */
export interface Schedule {
  /** Time until the last node finishes. */
  readonly makespanMs: number;
  /** Sum of the time runners were busy (job overhead included). */
  readonly busyMs: number;
  /** Most runners busy at once. */
  readonly peakRunners: number;
}

/** The cost class of a node: its kind, and for a platform image the platform (`metal4k` is `metal`). */
function costClassOf(kind: string, props: unknown): string {
  if (kind !== 'PlatformImage' || typeof props !== 'object' || props === null) return kind;
  const platform = (props as { platform?: unknown }).platform;
  return typeof platform === 'string' ? `${kind}/${platform}` : kind;
}

/** Synthesizes the full Fedora profile into `directory`; the assembly. */
async function synthesizeFedora(directory: string): Promise<Assembly> {
  const out = path.join(directory, 'fcos.out');
  const context = FEDORA_CONTEXT.flatMap((pair) => ['-c', pair]);
  await execa('node', [SYNTH_BIN, ...context, '--out', out, '-q'], { cwd: ROOT });
  return readAssembly(path.join(out, 'pipeline.json'));
}

/** The newest measurement of each node among `all`. */
function newestPerNode(all: readonly Measurement[]): Measurement[] {
  const newest = new Map<string, Measurement>();
  for (const measurement of all) {
    const seen = newest.get(measurement.node);
    if (!seen || seen.finishedAt < measurement.finishedAt) newest.set(measurement.node, measurement);
  }
  return [...newest.values()].sort((a, b) => a.node.localeCompare(b.node));
}

/**
 * `finish` events of an events.jsonl; the platform of a PlatformImage comes from the pipeline.json
 * beside it (without one, platform images are measured as one class).
 */
async function readFinishEvents(file: string): Promise<Measurement[]> {
  const pipelineFile = path.join(path.dirname(file), 'pipeline.json');
  const assembly = existsSync(pipelineFile) ? await readAssembly(pipelineFile) : undefined;
  const measurements: Measurement[] = [];
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (line.trim() === '') continue;
    const event = JSON.parse(line) as Record<string, unknown>;
    const { node, kind, durationMs, time } = event;
    if (event.event !== 'finish' || typeof node !== 'string' || typeof kind !== 'string') continue;
    if (typeof durationMs !== 'number' || typeof time !== 'string') continue;
    const costClass = costClassOf(kind, assembly?.nodes[node]?.props);
    measurements.push({ node, costClass, durationMs, finishedAt: time });
  }
  return newestPerNode(measurements);
}

/**
 * The action records of a cache (`<cache>/actions/xx/<key>.json`), read as files (never through
 * ActionCache, which deletes a record it cannot parse): each holds the node's durationMs of the
 * attempt that built it, the same number as its `finish` event.
 */
async function readActionRecords(directory: string): Promise<Measurement[]> {
  const measurements: Measurement[] = [];
  for (const shard of await readdir(directory)) {
    const shardDirectory = path.join(directory, shard);
    for (const file of await readdir(shardDirectory).catch(() => [])) {
      if (!file.endsWith('.json')) continue;
      const parsed = actionRecordSchema.safeParse(
        JSON.parse(await readFile(path.join(shardDirectory, file), 'utf8')),
      );
      if (!parsed.success) continue;
      const record = parsed.data;
      const costClass = costClassOf(record.kind, record.keyMaterial.props);
      measurements.push({
        node: record.node,
        costClass,
        durationMs: record.durationMs,
        finishedAt: record.finishedAt,
      });
    }
  }
  return newestPerNode(measurements);
}

/**
 * The measurements: `--events FILE`'s finish events (default: this checkout's
 * fcos.out/events.jsonl); when it has none (a later run that was all cached rewrote it), the
 * records of `--records DIR` (default: the `cache/actions` beside that fcos.out).
 */
async function readMeasurements(eventsFile: string, recordsDirectory?: string): Promise<MeasurementSource> {
  if (existsSync(eventsFile)) {
    const fromEvents = await readFinishEvents(eventsFile);
    if (fromEvents.length > 0 && recordsDirectory === undefined) {
      return { description: `'finish' events of ${eventsFile}`, measurements: fromEvents };
    }
  }
  const records = recordsDirectory ?? path.join(path.dirname(path.dirname(eventsFile)), 'cache/actions');
  if (!existsSync(records)) {
    return {
      description: `nothing: neither finish events in ${eventsFile} nor ${records}`,
      measurements: [],
    };
  }
  const why = recordsDirectory === undefined ? ` (${eventsFile} has no 'finish' events)` : '';
  return {
    description: `the newest action record of each node in ${records}${why}`,
    measurements: await readActionRecords(records),
  };
}

/** Seconds with one decimal, milliseconds below one second. */
function seconds(ms: number): string {
  return ms < 1000 && ms > 0 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Minutes with one decimal. */
function minutes(ms: number): string {
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** The cost of each cost class of `assembly`, measured where the source has that class. */
function costClasses(
  assembly: Assembly,
  measurements: readonly Measurement[],
  uploadMs: number,
): Map<string, CostClass> {
  const byClass = new Map<string, number[]>();
  for (const { costClass, durationMs } of measurements) {
    byClass.set(costClass, [...(byClass.get(costClass) ?? []), durationMs]);
  }
  const counts = new Map<string, number>();
  for (const node of Object.values(assembly.nodes)) {
    const name = costClassOf(node.kind, node.props);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const allMeasured = measurements.map((measurement) => measurement.durationMs);
  const classes = new Map<string, CostClass>();
  for (const [name, nodes] of [...counts].sort(([a], [b]) => a.localeCompare(b))) {
    const measured = byClass.get(name);
    const kind = name.split('/')[0]!;
    const sameKind = measurements.filter((m) => m.costClass.split('/')[0] === kind).map((m) => m.durationMs);
    let cost: NodeCost;
    let source: string;
    if (measured) {
      cost = { ms: median(measured), measured: true };
      source = `measured: median of ${measured.length} node(s)`;
    } else if (kind === 'Upload') {
      cost = { ms: uploadMs, measured: false };
      source = 'ESTIMATE (--upload-seconds): no upload to a real cloud was measured';
    } else if (sameKind.length > 0) {
      cost = { ms: median(sameKind), measured: false };
      source = `ESTIMATE: median of the ${sameKind.length} measured ${kind} node(s)`;
    } else {
      cost = { ms: allMeasured.length > 0 ? median(allMeasured) : 0, measured: false };
      source = 'ESTIMATE: median of all measured nodes (kind never measured)';
    }
    classes.set(name, { name, nodes, cost, source });
  }
  return classes;
}

/** Depth of each node (0 for a node that needs nothing) and the number of nodes at each depth. */
function widthPerDepth(graph: Graph): number[] {
  const depth = new Map<string, number>();
  for (const node of topologicalOrder(graph)) {
    const before = graph.predecessors.get(node) ?? [];
    depth.set(node, before.length === 0 ? 0 : 1 + Math.max(...before.map((p) => depth.get(p) ?? 0)));
  }
  const widths: number[] = [];
  for (const level of depth.values()) widths[level] = (widths[level] ?? 0) + 1;
  return widths;
}

/**
 * List schedule of `graph` on `runners` runners (Infinity: unlimited): whenever a runner is free,
 * it starts the ready node with the longest remaining path (`longestPathToSink` of the node's cost
 * plus the job overhead; ties by name), and is busy for that node's cost plus `overheadMs`.
 */
export function listSchedule(
  graph: Graph,
  cost: (node: string) => number,
  runners: number,
  overheadMs = 0,
): Schedule {
  const jobMs = (node: string) => cost(node) + overheadMs;
  const priority = longestPathToSink(graph, jobMs);
  const waitingFor = new Map(graph.nodes.map((node) => [node, graph.predecessors.get(node)?.length ?? 0]));
  const ready = graph.nodes.filter((node) => waitingFor.get(node) === 0);
  const running: Array<{ node: string; end: number }> = [];
  let now = 0;
  let busyMs = 0;
  let peakRunners = 0;
  let finished = 0;
  while (finished < graph.nodes.length) {
    ready.sort((a, b) => priority.get(b)! - priority.get(a)! || a.localeCompare(b));
    while (ready.length > 0 && running.length < runners) {
      const node = ready.shift()!;
      running.push({ node, end: now + jobMs(node) });
      busyMs += jobMs(node);
    }
    peakRunners = Math.max(peakRunners, running.length);
    if (running.length === 0) throw new Error('nothing ready and nothing running: the graph has a cycle');
    now = Math.min(...running.map((job) => job.end));
    for (const job of running.filter((candidate) => candidate.end === now)) {
      running.splice(running.indexOf(job), 1);
      finished++;
      for (const next of graph.successors.get(job.node) ?? []) {
        const left = waitingFor.get(next)! - 1;
        waitingFor.set(next, left);
        if (left === 0) ready.push(next);
      }
    }
  }
  return { makespanMs: now, busyMs, peakRunners };
}

/** Utilisation of a schedule on `runners` runners (unlimited: the most busy at once) as a percentage. */
function utilisation(schedule: Schedule, runners: number): string {
  const used = Number.isFinite(runners) ? runners : schedule.peakRunners;
  return `${((100 * schedule.busyMs) / (used * schedule.makespanMs)).toFixed(0)}%`;
}

/** Prints one schedule table: per runner count, makespan and utilisation without and with overhead. */
function printSchedules(
  title: string,
  graph: Graph,
  cost: (node: string) => number,
  overheadMs: number,
): void {
  const header = ['runners', 'makespan', 'util', `+${seconds(overheadMs)}/job`, 'util'];
  const rows = RUNNER_COUNTS.map((runners) => {
    const plain = listSchedule(graph, cost, runners);
    const withOverhead = listSchedule(graph, cost, runners, overheadMs);
    const name = Number.isFinite(runners)
      ? String(runners)
      : `inf (peak ${plain.peakRunners}/${withOverhead.peakRunners})`;
    return [
      name,
      minutes(plain.makespanMs),
      utilisation(plain, runners),
      minutes(withOverhead.makespanMs),
      utilisation(withOverhead, runners),
    ];
  });
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => row[column]!.length)),
  );
  console.log(`\n${title}`);
  for (const row of [header, ...rows]) {
    console.log(
      `  ${row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ')}`,
    );
  }
}

/** The critical path of `graph` under `cost`, split into its measured and estimated seconds. */
function criticalPathRow(graph: Graph, cost: (node: string) => NodeCost): string {
  const chain = heaviestChain(graph, (node) => cost(node).ms);
  const measured = chain.nodes
    .filter((node) => cost(node).measured)
    .reduce((sum, node) => sum + cost(node).ms, 0);
  return `${seconds(chain.weight)} (${seconds(measured)} measured + ${seconds(chain.weight - measured)} estimated): ${chain.nodes.join(' -> ')}`;
}

/** Runs the plan: synthesizes the Fedora profile, prints its shape, costs, critical path and schedules. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      events: { type: 'string', default: path.join(ROOT, 'fcos.out/events.jsonl') },
      records: { type: 'string' },
      'job-overhead': { type: 'string', default: '60' },
      'upload-seconds': { type: 'string', default: '300' },
      'image-scale': { type: 'string', default: '10' },
    },
    strict: true,
  });
  const overheadMs = Number(values['job-overhead']) * 1000;
  const uploadMs = Number(values['upload-seconds']) * 1000;
  const imageScale = Number(values['image-scale']);
  for (const [flag, value] of [
    ['--job-overhead', overheadMs],
    ['--upload-seconds', uploadMs],
    ['--image-scale', imageScale],
  ] as const) {
    if (!Number.isFinite(value) || value < 0) throw new Error(`${flag} takes a non-negative number`);
  }
  const directory = await mkdtemp(path.join(os.tmpdir(), 'fcos-bench-fedora-plan-'));
  try {
    const assembly = await synthesizeFedora(directory);
    const graph = graphOfAssembly(assembly);
    const source = await readMeasurements(
      path.resolve(values.events),
      values.records && path.resolve(values.records),
    );
    const kinds = new Map<string, number>();
    for (const node of Object.values(assembly.nodes)) kinds.set(node.kind, (kinds.get(node.kind) ?? 0) + 1);
    const widths = widthPerDepth(graph);
    const longest = heaviestChain(graph, () => 1);
    const edges = [...graph.predecessors.values()].reduce((sum, before) => sum + before.length, 0);
    printTable(
      `fedora profile (fcos-synth ${FEDORA_CONTEXT.slice(0, 2)
        .map((pair) => `-c ${pair}`)
        .join(' ')} + placeholder cloud settings): the DAG`,
      [
        ['nodes / edges', `${graph.nodes.length} / ${edges}`],
        [
          'nodes per kind',
          [...kinds]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([kind, count]) => `${kind} ${count}`)
            .join(', '),
        ],
        ['width per depth level (max)', `${widths.join(' ')} (max ${Math.max(...widths)})`],
        ['longest chain', `${longest.nodes.length} nodes: ${longest.nodes.join(' -> ')}`],
      ],
    );

    if (source.measurements.length === 0) {
      console.log(
        `\nno measured costs (${source.description}): run the local profile first, or pass --events FILE`,
      );
      return;
    }
    const classes = costClasses(assembly, source.measurements, uploadMs);
    printTable(
      `cost per node, from ${source.description}`,
      [...classes.values()].map((entry) => [
        `${entry.name} (${entry.nodes} nodes)`,
        `${seconds(entry.cost.ms).padStart(8)}  ${entry.source}`,
      ]),
    );
    const measuredCost = (node: string): NodeCost => {
      const { kind, props } = assembly.nodes[node]!;
      return classes.get(costClassOf(kind, props))!.cost;
    };
    const scaledCost = (node: string): NodeCost => {
      const cost = measuredCost(node);
      return IMAGE_KINDS.has(assembly.nodes[node]!.kind)
        ? { ms: cost.ms * imageScale, measured: false }
        : cost;
    };
    const total = (cost: (node: string) => NodeCost) => {
      const sum = (measured: boolean) =>
        graph.nodes
          .filter((node) => cost(node).measured === measured)
          .reduce((ms, node) => ms + cost(node).ms, 0);
      const [measured, estimated] = [sum(true), sum(false)];
      return `${minutes(measured + estimated)} (${minutes(measured)} measured + ${minutes(estimated)} estimated)`;
    };
    printTable('critical path (heaviest chain of costs) and total work', [
      ['A: measured costs, critical path', criticalPathRow(graph, measuredCost)],
      [
        'A without the Upload estimate (Upload 0 s), critical path',
        criticalPathRow(graph, (node) =>
          assembly.nodes[node]!.kind === 'Upload' ? { ms: 0, measured: false } : measuredCost(node),
        ),
      ],
      ['A: total work', total(measuredCost)],
      [`B: image kinds x${imageScale} (ESTIMATE), critical path`, criticalPathRow(graph, scaledCost)],
      ['B: total work', total(scaledCost)],
    ]);
    // Scheduled as the emitted CI jobs are: chains joined (lib/synth/emit/job-plan.ts), a job
    // costing its nodes' sum plus one overhead.
    const plan = planJobs(assembly);
    const jobGraph = graphFromPredecessors(new Map(plan.jobs.map((job) => [job.key, job.needs])));
    const nodesOf = new Map(plan.jobs.map((job) => [job.key, job.nodes]));
    const jobCost = (cost: (node: string) => NodeCost) => (job: string) =>
      nodesOf.get(job)!.reduce((ms, node) => ms + cost(node).ms, 0);
    const jobs = `${plan.jobs.length} jobs for ${graph.nodes.length} nodes (chains joined as fcos-synth --emit does), --job-overhead ${seconds(overheadMs)} per job`;
    printSchedules(
      `A: simulated list schedule, measured costs (Upload estimated); ${jobs}`,
      jobGraph,
      jobCost(measuredCost),
      overheadMs,
    );
    printSchedules(
      `B: simulated list schedule, image kinds x${imageScale} (ESTIMATE); ${jobs}`,
      jobGraph,
      jobCost(scaledCost),
      overheadMs,
    );
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
