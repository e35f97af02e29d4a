#!/usr/bin/env node
// Entry point of `npx fcos-synth`: TypeScript is loaded through tsx, so pipeline programs and
// the library run from source with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../lib/cli/synth.ts');
process.exitCode = await main(process.argv.slice(2));
