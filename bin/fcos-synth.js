#!/usr/bin/env node
// Entry point of `npx fcos-synth`: TypeScript is loaded through tsx (its ESM and CommonJS hooks,
// as `node --import tsx` does), so pipeline programs and the library run from source.
import 'tsx';

const { main } = await import('../lib/cli/synth.ts');
process.exitCode = await main(process.argv.slice(2));
