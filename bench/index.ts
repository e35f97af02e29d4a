/** `npm run bench`: every benchmark, one after another, printing numbers. */
import { main as synth } from './synth.ts';

await synth();
