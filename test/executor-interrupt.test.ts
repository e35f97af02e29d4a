/**
 * Interrupting fcos-run as a process while a tool keeps talking: whatever the tool writes after
 * the signal, the run exits 130 with its summary, the tool is gone and no lock is left behind.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { isProcessAlive } from '../lib/cache/process-liveness.ts';
import { makeTempDir, REPO_ROOT, synthIn, writeProgram } from './helpers/temp-project.ts';

const RUN_BIN = path.join(REPO_ROOT, 'bin/fcos-run.js');

/** The import line of the StubbornStep test kind, for a program. */
function stubbornHeader(): string {
  return `import { StubbornStep } from '${pathToFileURL(path.join(REPO_ROOT, 'test/kinds/stubborn-step.ts')).href}';\n`;
}

/** Waits until `condition` holds (polling), failing after `timeoutMs`. */
async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('fcos-run interrupted while a tool keeps writing output', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: exits 130 with the summary, the tool is gone, no lock is left`, async () => {
      const pidFile = path.join(await makeTempDir(), 'talker.pid');
      const directory = await writeProgram(`${stubbornHeader()}
const pipeline = new Pipeline({ name: 'stubborn' });
new StubbornStep(pipeline, 'Talker', { lingerMs: 800, pidFile: ${JSON.stringify(pidFile)} });
`);
      expect((await synthIn(directory)).code).toBe(0);
      const outdir = path.join(directory, 'fcos.out');
      const cache = path.join(directory, 'cache');
      const run = execa('node', [RUN_BIN, '--out', outdir, '--cache', cache, '--plain'], { reject: false });
      // The file may exist still empty: pid 0 would name this very process group.
      await waitFor(
        () => existsSync(pidFile) && Number(readPid(pidFile)) > 0 && isProcessAlive(Number(readPid(pidFile))),
      );
      const pid = Number(readPid(pidFile));
      // Let output flow into the log before the signal, as QEMU's does.
      await sleep(200);
      run.kill(signal);
      const result = await run;
      expect(result.stderr).not.toContain('ERR_STREAM_WRITE_AFTER_END');
      expect(result.stderr).toContain(`${signal}: stopping running nodes`);
      expect(result.exitCode).toBe(130);
      expect(result.stdout).toMatch(/fcos-run: interrupted in .*0 built, 0 cached, 0 failed, 1 skipped/);
      // The tool lingered 800 ms after SIGTERM: the run waited for it rather than leaving it behind.
      expect(isProcessAlive(pid)).toBe(false);
      expect(await readdir(path.join(cache, 'locks')).catch(() => [])).toEqual([]);
      const events = (await readFile(path.join(outdir, 'events.jsonl'), 'utf8')).trim().split('\n');
      expect(JSON.parse(events.at(-1)!)).toMatchObject({ event: 'run-finish', status: 'interrupted' });
      // What the tool said after the signal reached the node's log, before the log's last line.
      const log = await readFile(path.join(outdir, 'logs/Talker.log'), 'utf8');
      expect(log).toContain('stubborn child got SIGTERM, still talking');
      expect(log.trimEnd().split('\n').at(-1)).toMatch(/^FAILED: interrupted \(received SIG/);
    }, 60_000);
  }
});

/** The pid a child wrote, or '' while the file is still empty. */
function readPid(file: string): string {
  return readFileSync(file, 'utf8').trim();
}
