/**
 * runTool's stdout file: the child writes to the file's own descriptor, so output of any size
 * (a compressed disk image) neither passes through fcos-run's memory nor lands in the node's log.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTool } from '../lib/exec.ts';
import { makeTempDir } from './helpers/temp-project.ts';

describe('runTool with stdoutFile', () => {
  it('hands the child the file itself: more than the capture limit, nothing in the log or the result', async () => {
    const directory = await makeTempDir('fcos-run-tool-');
    const output = path.join(directory, 'out');
    const log: string[] = [];
    // 300 MiB: above the 256 MiB that a captured stdout may hold.
    const result = await runTool('sh', ['-c', 'head -c 314572800 /dev/zero | tr "\\0" "x"'], {
      stdoutFile: output,
      log: (line) => log.push(line),
    });
    expect((await stat(output)).size).toBe(314572800);
    expect(result.stdout).toBe('');
    expect(log.some((line) => line.includes('xxxx'))).toBe(false);
    expect(log[0]).toMatch(/^\$ sh -c /);
    expect(log.at(-1)).toMatch(/^\$\? 0 in /);
  });

  it("makes the file the child's own standard output, not a pipe back to this process", async () => {
    const output = path.join(await makeTempDir('fcos-run-tool-'), 'out');
    await runTool('readlink', ['/proc/self/fd/1'], { stdoutFile: output });
    expect(await readFile(output, 'utf8')).toBe(`${output}\n`);
  });

  it('truncates a file that exists', async () => {
    const directory = await makeTempDir('fcos-run-tool-');
    const output = path.join(directory, 'out');
    await runTool('sh', ['-c', 'echo a long first line'], { stdoutFile: output });
    await runTool('echo', ['short'], { stdoutFile: output });
    expect(await readFile(output, 'utf8')).toBe('short\n');
  });
});
