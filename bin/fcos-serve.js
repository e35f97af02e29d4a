#!/usr/bin/env node
// Entry point of `npx fcos-serve`: runs the compiled CLI (dist/). Ctrl-C or SIGTERM stops the
// server (running requests finish, then it closes) and exits 0; a second one exits at once.
import { ensureCurrentBuild } from './build-check.js';

ensureCurrentBuild('fcos-serve');
const { main } = await import('../dist/lib/serve/cli.js');
const controller = new AbortController();
let interrupts = 0;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    controller.abort(new Error(`received ${signal}`));
  });
}
process.exitCode = await main(process.argv.slice(2), undefined, controller.signal);
