#!/usr/bin/env node
// Entry point of `npx fcos-run`: runs the compiled CLI (dist/); tsx is registered only if a node's
// runner is a TypeScript file (a project's own kind). Ctrl-C or SIGTERM stops the run (every tool's
// process group is killed, the cache stays consistent) and exits 130; a second Ctrl-C exits at once.
import { ensureCurrentBuild } from './build-check.js';

// A cache hit is a handful of small file operations; with libuv's default 4 threads they queue
// up on a large pipeline. Must be set before the first asynchronous file operation.
process.env.UV_THREADPOOL_SIZE ??= '32';
ensureCurrentBuild('fcos-run');
const { main } = await import('../dist/lib/cli/run.js');
const controller = new AbortController();
let interrupts = 0;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write(`\nfcos-run: ${signal}: stopping running nodes (again to exit at once)\n`);
    controller.abort(new Error(`received ${signal}`));
  });
}
process.exitCode = await main(process.argv.slice(2), undefined, controller.signal);
