/**
 * Benchmark of bare metal through the real executor: a temporary program builds the tiny OS, its
 * 512-byte and 4Kn disks and metal images (warming the cache, not counted), then times LiveImage
 * cold, cached, and forced again, and runs every InstallTest scenario one at a time, printing each
 * scenario's boots with their seconds (boots dominate: TCG, one vCPU) from its boots.json.
 * Run: `npx tsx --conditions=fcos-cdk-source bench/live.ts` (about 12 min on 2 cores).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { INSTALL_TEST_SCENARIOS } from '../stages/install-test/index.ts';
import { linkFcosCdk } from '../test/helpers/link-project.ts';
import { printTable } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SYNTH_BIN = path.join(ROOT, 'bin/fcos-synth.js');
const RUN_BIN = path.join(ROOT, 'bin/fcos-run.js');

/** The node of a scenario (`iso-install.4k` → `Test-iso-install-4k`). */
function scenarioNode(scenario: string): string {
  return `Test-${scenario.replace(/\./g, '-')}`;
}

/** The pipeline program: the tiny OS, both disks and metal images, the live image, every scenario. */
function program(): string {
  return `import { DiskImage, InstallTest, LiveImage, LocalPackageRepo, Manifest, Pipeline, PlatformImage, RpmOstreeCompose } from 'fcos-cdk';

const pipeline = new Pipeline({ name: 'bench-live' });
const repo = new LocalPackageRepo(pipeline, 'Packages', { specs: '${path.join(ROOT, 'local-os/packages')}', name: 'local' });
const manifest = new Manifest(pipeline, 'Manifest', { file: '${path.join(ROOT, 'local-os/manifest.yaml')}', localRepos: [repo.repo], variables: { stream: 'testing', stream_code: '2' } });
const compose = new RpmOstreeCompose(pipeline, 'Compose', { treefile: manifest.treefileFor('x86_64') });
const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit, sizeGiB: 1 });
const disk4k = new DiskImage(pipeline, 'Disk4k', { commit: compose.commit, sizeGiB: 1, sectorSize: 4096 });
const metal = new PlatformImage(pipeline, 'metal', { disk: disk.disk, platform: 'metal' });
const metal4k = new PlatformImage(pipeline, 'metal4k', { disk: disk4k.disk, platform: 'metal' });
const live = new LiveImage(pipeline, 'Live', { commit: compose.commit, metal: metal.image, metal4k: metal4k.image });
for (const scenario of ${JSON.stringify(INSTALL_TEST_SCENARIOS)}) {
  new InstallTest(pipeline, 'Test-' + scenario.replace(/\\./g, '-'), { live: live.live, scenario });
}
`;
}

/** Runs fcos-run with `args` in `directory`; returns wall seconds (a failed run throws). */
async function timedRun(directory: string, args: readonly string[]): Promise<number> {
  const started = performance.now();
  await execa('node', [RUN_BIN, '-q', ...args], { cwd: directory });
  return (performance.now() - started) / 1000;
}

/** A scenario's boots from its boots.json. */
async function bootsOf(directory: string, node: string): Promise<Array<{ name: string; seconds: number }>> {
  const file = path.join(directory, 'fcos.out/artifacts', node, 'report/boots.json');
  const document = JSON.parse(await readFile(file, 'utf8')) as {
    passed: boolean;
    boots: Array<{ name: string; seconds: number }>;
  };
  if (!document.passed) throw new Error(`${node} did not pass: see ${file}`);
  return document.boots;
}

/** Runs the benchmark and prints its table. */
export async function main(): Promise<void> {
  const directory = await mkdtemp(path.join(tmpdir(), 'fcos-bench-live-'));
  try {
    await linkFcosCdk(directory);
    await writeFile(path.join(directory, 'app.ts'), program());
    await execa('node', [SYNTH_BIN, '--app', 'app.ts', '-q'], { cwd: directory });
    const warm = await timedRun(directory, ['--only', 'metal', '--only', 'metal4k']);
    const cold = await timedRun(directory, ['--only', 'Live']);
    const cached = await timedRun(directory, ['--only', 'Live']);
    const forced = await timedRun(directory, ['--only', 'Live', '--force', 'Live']);
    const seconds = (value: number) => `${value.toFixed(1)} s`;
    const rows: Array<[string, string]> = [
      ['packages, compose, both disks and metal images (warming, not counted)', seconds(warm)],
      ['LiveImage cold (whole fcos-run process)', seconds(cold)],
      ['LiveImage cached', seconds(cached)],
      ['LiveImage forced again', seconds(forced)],
    ];
    for (const scenario of INSTALL_TEST_SCENARIOS) {
      const node = scenarioNode(scenario);
      const wall = await timedRun(directory, ['--only', node]);
      const boots = await bootsOf(directory, node);
      const total = boots.reduce((sum, boot) => sum + boot.seconds, 0);
      rows.push([
        `${scenario}: ${boots.length} boots, ${total.toFixed(1)} s booted, node ${wall.toFixed(1)} s`,
        boots.map((boot) => `${boot.name} ${boot.seconds.toFixed(1)} s`).join(', '),
      ]);
    }
    printTable('bare metal: live image and install scenarios (TCG)', rows);
  } finally {
    await execa('chattr', ['-R', '-i', directory], { reject: false });
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
