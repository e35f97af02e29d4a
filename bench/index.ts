/**
 * `npm run bench`: the benchmarks, one after another, printing numbers (well over half an hour on 2 cores:
 * the cold local runs of local.ts, chain.ts, streams.ts, remote.ts and arches.ts and live.ts's boots take most of it).
 * `npm run bench:upload` (2 GiB uploads to local emulators, ~8 GiB of scratch) runs apart.
 */
import { main as arches } from './arches.ts';
import { main as cacheStamps } from './cache-stamps.ts';
import { main as chain } from './chain.ts';
import { main as compose } from './compose.ts';
import { main as disk } from './disk.ts';
import { main as fedoraPlan } from './fedora-plan.ts';
import { main as hash } from './hash.ts';
import { main as live } from './live.ts';
import { main as local } from './local.ts';
import { main as publish } from './publish.ts';
import { main as remote } from './remote.ts';
import { main as run } from './run.ts';
import { main as scaling } from './scaling.ts';
import { main as streams } from './streams.ts';
import { main as synth } from './synth.ts';
import { main as updateGraph } from './update-graph.ts';

await updateGraph();
await publish();
await synth();
await run();
await scaling();
await fedoraPlan([]);
await cacheStamps();
await hash([]);
await compose();
await disk();
await live();
await local();
await chain();
await streams();
await remote();
await arches();
