/**
 * Compose benchmark: the local tiny OS (LocalPackageRepo → Manifest → RpmOstreeCompose) built
 * cold through a whole `fcos-synth && fcos-run`, then re-run warm (everything cached).
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { linkFcosCdk } from '../test/helpers/link-project.ts';
import { median, printTable } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The program: the tiny OS's compose. */
const PROGRAM = `
import { LocalPackageRepo, Manifest, Pipeline, RpmOstreeCompose } from 'fcos-cdk';
const pipeline = new Pipeline({ name: 'compose-bench' });
const repo = new LocalPackageRepo(pipeline, 'Packages', { specs: 'local-os/packages' });
const manifest = new Manifest(pipeline, 'Manifest', { file: 'local-os/manifest.yaml', localRepos: [repo.repo] });
new RpmOstreeCompose(pipeline, 'Compose', { treefile: manifest.treefileFor('x86_64') });
`;

/** Times `fcos-synth && fcos-run` in `directory`, in milliseconds. */
async function synthAndRun(directory: string): Promise<number> {
  const start = performance.now();
  await execa('node', [path.join(ROOT, 'bin/fcos-synth.js'), '--app', 'app.ts', '-q'], { cwd: directory });
  await execa('node', [path.join(ROOT, 'bin/fcos-run.js'), '--cache', 'cache', '-q'], { cwd: directory });
  return performance.now() - start;
}

/** Runs the benchmark and prints its numbers. */
export async function main(): Promise<void> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'fcos-bench-compose-'));
  try {
    await cp(path.join(ROOT, 'local-os'), path.join(directory, 'local-os'), { recursive: true });
    await linkFcosCdk(directory);
    await writeFile(path.join(directory, 'app.ts'), PROGRAM);
    const cold = await synthAndRun(directory);
    const warm: number[] = [];
    for (let run = 0; run < 3; run++) warm.push(await synthAndRun(directory));
    printTable('compose of the local tiny OS (fcos-synth && fcos-run, whole processes)', [
      [
        'cold: rpmbuild, createrepo_c, flatten, dnf, tiny-dracut, ostree commit',
        `${(cold / 1000).toFixed(2)} s`,
      ],
      ['warm: everything cached, median of 3', `${(median(warm) / 1000).toFixed(2)} s`],
    ]);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
