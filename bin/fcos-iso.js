#!/usr/bin/env node
// Entry point of `npx fcos-iso`: runs the compiled CLI (dist/). `fcos-iso ignition embed|show|remove`
// edit a live ISO's embedded Ignition config, as coreos-installer's `iso ignition` commands do.
import { ensureCurrentBuild } from './build-check.js';

ensureCurrentBuild('fcos-iso');
const { main } = await import('../dist/lib/cli/iso.js');
process.exitCode = await main(process.argv.slice(2));
