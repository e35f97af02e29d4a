/** `npm run bench`: every benchmark, one after another, printing numbers. */
import { main as hash } from './hash.ts';
import { main as run } from './run.ts';
import { main as synth } from './synth.ts';

await synth();
await run();
await hash([]);
