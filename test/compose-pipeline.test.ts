/**
 * LocalPackageRepo → Manifest → RpmOstreeCompose through the real executor: the version is
 * Fedora CoreOS's `41.<date of the newest package>.<stream code>.0`; a rebuild with nothing
 * changed runs no tool; a new package version in the repository recomposes, only what depends on
 * it, with the date of its %changelog entry; `--update-lockfiles` writes rpm-ostree's lockfile for
 * the composed packages.
 */
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { newestChangelogTime } from '../lib/tools/spec-changelog.ts';
import {
  makeTempProject,
  nodesWith,
  REPO_ROOT,
  readEvents,
  runIn,
  synthIn,
  testKindsHeader,
} from './helpers/temp-project.ts';

/** The program: the local tiny OS's compose, and a node that depends on none of it. */
const PROGRAM = `
import { LocalPackageRepo, Manifest, Pipeline, RpmOstreeCompose, streamCode } from 'fcos-cdk';
${testKindsHeader()}
const pipeline = new Pipeline({ name: 'compose' });
const repo = new LocalPackageRepo(pipeline, 'Packages', { specs: 'local-os/packages' });
const manifest = new Manifest(pipeline, 'Manifest', { file: 'local-os/manifest.yaml', localRepos: [repo.repo], variables: { stream: 'testing', stream_code: streamCode('testing') } });
new RpmOstreeCompose(pipeline, 'Compose', { treefile: manifest.treefileFor('x86_64') });
new TestStep(pipeline, 'Unrelated', { content: 'u' });
`;

/** The newest %changelog date of the specs in `directory`, seconds since the epoch. */
async function newestSpecDate(directory: string): Promise<number> {
  const specs = (await readdir(directory)).filter((name) => name.endsWith('.spec'));
  const times = await Promise.all(
    specs.map(async (name) => newestChangelogTime(await readFile(path.join(directory, name), 'utf8')) ?? 0),
  );
  return Math.max(...times);
}

/** `YYYYMMDD` (UTC) of a time in seconds: the date part of a version. */
function versionDate(time: number): string {
  return new Date(time * 1000).toISOString().slice(0, 10).replaceAll('-', '');
}

/** A %changelog entry's date line for a time in seconds: `Www Mmm DD YYYY`. */
function changelogDate(time: number): string {
  const [weekday, day, month, year] = new Date(time * 1000).toUTCString().replace(',', '').split(' ');
  return `${weekday} ${month} ${day} ${year}`;
}

describe('the compose through fcos-run', () => {
  let directory: string;

  beforeAll(async () => {
    directory = await makeTempProject();
    await cp(path.join(REPO_ROOT, 'local-os'), path.join(directory, 'local-os'), { recursive: true });
    await writeFile(path.join(directory, 'app.ts'), PROGRAM);
    expect((await synthIn(directory)).code).toBe(0);
    const first = await runIn(directory);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
  }, 240_000);

  it('built every node, then serves all of them from the cache without running a tool', async () => {
    const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
    expect(outputs.Compose.commit).toMatchObject({
      storage: 'ostree-commit',
      metadata: { ref: 'fedora/x86_64/coreos/testing' },
    });
    // X.Y.Z.A: Fedora 41, the date of the newest spec's changelog (tiny-dracut's), testing's 2, respin 0.
    const newest = await newestSpecDate(path.join(directory, 'local-os/packages'));
    expect(outputs.Compose.commit.metadata.version).toBe(`41.${versionDate(newest)}.2.0`);
    expect(outputs.Compose.commit.metadata.snapshotTime).toBe(newest);
    const packages = JSON.parse(
      await readFile(path.join(directory, 'fcos.out', outputs.Compose.packages.path), 'utf8'),
    );
    expect(packages.packages.map((item: { name: string }) => item.name)).toContain('tiny-kernel');

    const again = await runIn(directory);
    expect(again.code).toBe(0);
    const events = await readEvents(directory);
    expect(nodesWith(events, 'start')).toEqual([]);
    expect(nodesWith(events, 'cached')).toEqual(['Compose', 'Manifest', 'Packages', 'Unrelated']);
  }, 120_000);

  it('--update-lockfiles writes manifest-lock.x86_64.json next to the treefile, which the Manifest then reads', async () => {
    const run = await runIn(directory, '--update-lockfiles');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/lockfile: .*local-os\/manifest-lock\.x86_64\.json \(\d+ packages, Compose\)/);
    const lockfile = JSON.parse(
      await readFile(path.join(directory, 'local-os/manifest-lock.x86_64.json'), 'utf8'),
    );
    expect(lockfile.packages['tiny-release']).toEqual({ evra: '41-1.noarch' });
    expect(nodesWith(await readEvents(directory), 'start')).toEqual([]);
    const plan = await runIn(directory, '--dry-run');
    expect(plan.stdout).toMatch(
      /\[would run\] Manifest: fingerprint 'files\.local-os\/manifest-lock\.x86_64\.json' added/,
    );
    // Locked, the next test's new package version could not be installed: unlock again.
    await rm(path.join(directory, 'local-os/manifest-lock.x86_64.json'));
  }, 120_000);

  it('a new package version in the repository recomposes, only its downstream, dated by its changelog', async () => {
    const before = await newestSpecDate(path.join(directory, 'local-os/packages'));
    const released = before + 10 * 86_400;
    const spec = path.join(directory, 'local-os/packages/tiny-release.spec');
    await writeFile(
      spec,
      (await readFile(spec, 'utf8'))
        .replace(/^Release:\s+1$/m, 'Release:        2')
        .replace(
          /^%changelog\n/m,
          `%changelog\n* ${changelogDate(released)} fcos-cdk <fcos-cdk@localhost> - 41-2\n- Release 2\n\n`,
        ),
    );
    const plan = await runIn(directory, '--dry-run');
    expect(plan.stdout).toMatch(/\[would run\] Packages: fingerprint 'specs\.tiny-release\.spec' changed/);
    expect(plan.stdout).toContain('[cached] Unrelated');
    const rerun = await runIn(directory);
    expect(rerun.code).toBe(0);
    const events = await readEvents(directory);
    expect(nodesWith(events, 'start')).toEqual(['Compose', 'Manifest', 'Packages']);
    expect(nodesWith(events, 'cached')).toEqual(['Unrelated']);
    const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
    const packages = JSON.parse(
      await readFile(path.join(directory, 'fcos.out', outputs.Compose.packages.path), 'utf8'),
    );
    expect(packages.packages.find((item: { name: string }) => item.name === 'tiny-release')).toMatchObject({
      release: '2',
    });
    // The newest package is now tiny-release-41-2, dated ten days after the previous newest.
    expect(outputs.Compose.commit.metadata.version).toBe(`41.${versionDate(released)}.2.0`);
    expect(versionDate(released)).not.toBe(versionDate(before));
  }, 180_000);
});
