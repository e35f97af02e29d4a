#!/usr/bin/env node
// Entry point of `npx fcos-synth`: runs the compiled CLI (dist/). The pipeline program, when it is
// TypeScript, is loaded through tsx, which the CLI registers just before importing it.
import { ensureCurrentBuild } from './build-check.js';

ensureCurrentBuild('fcos-synth');
const { main } = await import('../dist/lib/cli/synth.js');
process.exitCode = await main(process.argv.slice(2));
