/**
 * A node that fails leaves nothing of an earlier run under `fcos.out/artifacts/<node>/`: what is
 * there is exactly what outputs.json lists, so CI archiving a report never publishes a stale pass.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { programHeader, runIn, synthIn, testKindsHeader, writeProgram } from './helpers/temp-project.ts';

/** The program: a Report node (failing or not) with a node nested under it, and a sibling. */
function program(failReport: boolean): string {
  return `${testKindsHeader()}
const pipeline = new Pipeline({ name: 'stale' });
const report = new TestStep(pipeline, 'Report', { content: 'pass', fail: ${failReport} });
new TestStep(report, 'Inner', { content: 'inner' });
new TestStep(pipeline, 'Other', { content: 'other' });
`;
}

describe('a failed node and its published outputs', () => {
  it('removes what an earlier run published for it, keeping nested nodes and other nodes', async () => {
    const directory = await writeProgram(program(false));
    const outdir = path.join(directory, 'fcos.out');
    expect((await synthIn(directory)).code).toBe(0);
    expect((await runIn(directory)).code).toBe(0);
    const reportFile = path.join(outdir, 'artifacts/Report/output.txt');
    expect(await readFile(reportFile, 'utf8')).toBe('pass');

    await writeFile(path.join(directory, 'app.ts'), `${programHeader()}${program(true)}\n`);
    expect((await synthIn(directory)).code).toBe(0);
    const failed = await runIn(directory, '--keep-going');
    expect(failed.code).toBe(1);
    const outputs = JSON.parse(await readFile(path.join(outdir, 'outputs.json'), 'utf8'));
    expect(outputs.Report).toBeUndefined();
    expect(existsSync(reportFile)).toBe(false);
    // A nested node's directory lives inside the failed node's: it is not the failed node's output.
    expect(await readFile(path.join(outdir, 'artifacts/Report/Inner/output.txt'), 'utf8')).toBe('inner');
    expect(await readFile(path.join(outdir, 'artifacts/Other/output.txt'), 'utf8')).toBe('other');
    expect(Object.keys(outputs).sort()).toEqual(['Other', 'Report/Inner']);
  }, 60_000);
});
