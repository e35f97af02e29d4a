/**
 * The Build and Release kinds: synthesis checks naming the construct path and field, a small
 * pipeline through the real executor (test doubles for the commit, images, cloud image and test
 * report; a real ostree commit), the parent release from the stream's releases.json (file and
 * http), and the gates: a failed test leaves no release.json and the run names the test.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cosaMetaProblems } from '../lib/release/cosa-meta-validation.ts';
import { releaseSchema } from '../lib/release/formats.ts';
import { BuildError } from '../stages/build/errors.ts';
import { parentRelease, readPreviousReleases } from '../stages/build/previous-releases.ts';
import {
  makeTempDir,
  nodesWith,
  REPO_ROOT,
  readEvents,
  runIn,
  synthIn,
  writeProgram,
} from './helpers/temp-project.ts';

const VERSION = '41.20251120.2.0';
const PARENT_COMMIT = 'a'.repeat(64);

/** `import` line giving a program the release test doubles, and Build and Release. */
function header(): string {
  const doubles = pathToFileURL(path.join(REPO_ROOT, 'test/kinds/release-doubles.ts')).href;
  return `import { TestCloudImage, TestCommit, TestImage, TestReport } from '${doubles}';\nconst { Build, Release } = stages;\n`;
}

/** A releases.json of the testing stream with `versions` (each with an x86_64 commit unless said otherwise). */
function releaseIndex(releases: ReadonlyArray<{ version: string; arch?: string; commit?: string }>): string {
  return `${JSON.stringify(
    {
      stream: 'testing',
      metadata: { 'last-modified': '2025-11-01T00:00:00Z' },
      releases: releases.map((release) => ({
        version: release.version,
        metadata: `http://127.0.0.1:8080/prod/streams/testing/builds/${release.version}/release.json`,
        commits: [{ architecture: release.arch ?? 'x86_64', checksum: release.commit ?? PARENT_COMMIT }],
      })),
    },
    null,
    2,
  )}\n`;
}

/** A program: a commit, three images (qemu, metal 4k, gce) with a GCE upload, a Build, a test report and a Release. */
function releasePipeline(report: string): string {
  return `${header()}
const pipeline = new Pipeline({ name: 'release' });
const commit = new TestCommit(pipeline, 'Commit', { version: '${VERSION}' });
const qemu = new TestImage(pipeline, 'Qemu', { commit: commit.commit, platform: 'qemu' });
const metal4k = new TestImage(pipeline, 'Metal4k', { commit: commit.commit, platform: 'metal', sectorSize: 4096, extension: 'raw.xz' });
const gce = new TestImage(pipeline, 'Gce', { commit: commit.commit, platform: 'gce', ignitionPlatformId: 'gcp', extension: 'tar.gz' });
const upload = new TestCloudImage(pipeline, 'GceUpload', {
  image: gce.image,
  metadata: {
    name: 'fedora-coreos-41-20251120-2-0-gcp-x86-64',
    sourceDigest: '${'d'.repeat(64)}',
    gcp: { image: 'fedora-coreos-41-20251120-2-0-gcp-x86-64', project: 'fcos-cloud', family: 'fedora-coreos-testing', url: 'https://www.googleapis.com/compute/v1/projects/fcos-cloud/global/images/fedora-coreos-41-20251120-2-0-gcp-x86-64' },
  },
});
const build = new Build(pipeline, 'Build', {
  stream: 'testing',
  commit: commit.commit,
  images: [qemu.image, metal4k.image, gce.image],
  cloudImages: [upload.cloudImage],
  previousReleases: 'releases.json',
});
const tests = new TestReport(pipeline, 'Tests', ${report});
new Release(pipeline, 'Release', { stream: 'testing', builds: [build.build], tests: [tests.report] });
`;
}

/** Writes, synthesizes and returns a project running `body`, with `files` beside it. */
async function project(body: string, files: Record<string, string> = {}): Promise<string> {
  const directory = await writeProgram(body, files);
  const synth = await synthIn(directory);
  expect(synth.stderr).toBe('');
  return directory;
}

/** A JSON file of the run's artifacts. */
async function artifact<Document>(directory: string, relative: string): Promise<Document> {
  return JSON.parse(await readFile(path.join(directory, 'fcos.out/artifacts', relative), 'utf8')) as Document;
}

describe('Build and Release synthesis', () => {
  it('names the construct path and field of every mismatched input, all at once', async () => {
    const directory = await writeProgram(`${header()}
const pipeline = new Pipeline({ name: 'mismatched' });
const commit = new TestCommit(pipeline, 'Commit', { version: '${VERSION}' });
const arm = new TestCommit(pipeline, 'ArmCommit', { version: '${VERSION}', arch: 'aarch64' });
const qemu = new TestImage(pipeline, 'Qemu', { commit: commit.commit, platform: 'qemu' });
const qemuAgain = new TestImage(pipeline, 'QemuAgain', { commit: commit.commit, platform: 'qemu' });
const armQemu = new TestImage(pipeline, 'ArmQemu', { commit: arm.commit, platform: 'qemu' });
const armUpload = new TestCloudImage(pipeline, 'ArmUpload', { image: armQemu.image, metadata: {} });
const build = new Build(new Construct(pipeline, 'Streams'), 'Build', {
  stream: 'testing',
  commit: commit.commit,
  images: [qemu.image, qemuAgain.image, armQemu.image],
  cloudImages: [armUpload.cloudImage],
});
const armBuild = new Build(pipeline, 'ArmBuild', { stream: 'stable', commit: arm.commit, images: [armQemu.image] });
const again = new Build(pipeline, 'Again', { stream: 'testing', commit: commit.commit, images: [qemu.image] });
new Release(pipeline, 'Release', { stream: 'testing', builds: [build.build, armBuild.build, again.build] });
`);
    const synth = await synthIn(directory);
    expect(synth.code).not.toBe(0);
    expect(synth.stderr).toContain('(5 problems)');
    expect(synth.stderr).toMatch(
      /'Streams\/Build', field 'images\.1': a second qemu image with 512-byte sectors \(images\.0 is one\)/,
    );
    expect(synth.stderr).toMatch(
      /'Streams\/Build', field 'images\.2': the platform-image 'image' of 'ArmQemu' is for aarch64, but the commit .* is for x86_64/,
    );
    expect(synth.stderr).toMatch(
      /'Streams\/Build', field 'cloudImages\.0': the cloud-image 'cloudImage' of 'ArmUpload' is for aarch64, but the commit is for x86_64/,
    );
    expect(synth.stderr).toMatch(
      /'Release', field 'builds\.1': the build 'build' of 'ArmBuild' is of stream 'stable', but this release is of 'testing'/,
    );
    expect(synth.stderr).toMatch(/'Release', field 'builds\.2': a second x86_64 build \(builds\.0 is one\)/);
  });

  it('refuses bad props at the line that wrote them', async () => {
    const directory = await writeProgram(`${header()}
const pipeline = new Pipeline({ name: 'props' });
const commit = new TestCommit(pipeline, 'Commit', { version: '${VERSION}' });
new Build(pipeline, 'Build', { stream: 'Testing!', commit: commit.commit, images: [], previousReleases: '../releases.json' });
`);
    const synth = await synthIn(directory);
    expect(synth.code).not.toBe(0);
    expect(synth.stderr).toMatch(/'Build', field 'stream': a stream name is lowercase letters/);
    expect(synth.stderr).toMatch(/'Build', field 'images': a build needs at least one image/);
    expect(synth.stderr).toMatch(
      /'Build', field 'previousReleases': expected an http\(s\) URL or a path relative to the project/,
    );
    const release = await writeProgram(`${header()}
const pipeline = new Pipeline({ name: 'props' });
new Release(pipeline, 'Release', { stream: 'testing', builds: [], baseUrl: 'ftp://example.org' });
`);
    const releaseSynth = await synthIn(release);
    expect(releaseSynth.stderr).toMatch(
      /'Release', field 'builds': a release needs the build of at least one arch/,
    );
    expect(releaseSynth.stderr).toMatch(/'Release', field 'baseUrl': expected an http\(s\) URL/);
  });
});

describe('Build and Release through fcos-run', () => {
  it('writes meta.json cosa accepts, with the parent from releases.json, and release.json from it', async () => {
    const passing = `{ results: [
      { name: 'basic', result: 'pass' },
      { name: 'ext.config.flaky', result: 'flaky', reason: 'passed on rerun' },
      { name: 'ext.config.denylisted', result: 'skip', reason: 'denylisted' },
      { name: 'ext.config.warned', result: 'warn', reason: 'denylisted with warn' },
    ] }`;
    const index = releaseIndex([
      { version: '41.20251101.2.0' },
      { version: '41.20251110.2.0', arch: 'aarch64', commit: 'b'.repeat(64) },
      // This very version already published (a re-run): never its own parent.
      { version: VERSION, commit: 'c'.repeat(64) },
    ]);
    const directory = await project(releasePipeline(passing), { 'releases.json': index });
    const run = await runIn(directory);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/\n {2}release: \S*fcos\.out\/artifacts\/Release\/release\.json\n/);

    const meta = await artifact<
      Record<string, unknown> & { images: Record<string, Record<string, unknown>> }
    >(directory, 'Build/meta.json');
    expect(cosaMetaProblems(meta)).toEqual([]);
    const commit = meta['ostree-commit'] as string;
    expect(commit).toMatch(/^[0-9a-f]{64}$/);
    expect(meta).toMatchObject({
      buildid: VERSION,
      name: 'fedora-coreos',
      'ostree-version': VERSION,
      // TestCommit's timestamp, 1700000000, read back from the commit.
      'ostree-timestamp': '2023-11-14T22:13:20Z',
      ref: 'fedora/x86_64/coreos/testing',
      'coreos-assembler.basearch': 'x86_64',
      'fedora-coreos.parent-version': '41.20251101.2.0',
      'fedora-coreos.parent-commit': PARENT_COMMIT,
      gcp: {
        image: 'fedora-coreos-41-20251120-2-0-gcp-x86-64',
        project: 'fcos-cloud',
        family: 'fedora-coreos-testing',
        url: expect.stringContaining('/global/images/'),
      },
    });
    expect(Object.keys(meta.images).sort()).toEqual(['gcp', 'metal4k', 'ostree', 'qemu']);
    expect(meta.images.metal4k!.path).toBe(`fedora-coreos-${VERSION}-metal4k.x86_64.raw.xz`);
    expect(meta.images.qemu).toEqual({
      path: `fedora-coreos-${VERSION}-qemu.x86_64.qcow2.xz`,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      size: expect.any(Number),
      'uncompressed-sha256': expect.stringMatching(/^[0-9a-f]{64}$/),
      'uncompressed-size': expect.any(Number),
    });

    // images.ostree: an archive repository holding the commit under its ref, as listed.
    const archiveName = meta.images.ostree!.path as string;
    expect(archiveName).toBe(`fedora-coreos-${VERSION}-ostree.x86_64.tar`);
    const archive = path.join(directory, 'fcos.out/artifacts/Build', archiveName);
    const digest = execFileSync('sha256sum', [archive], { encoding: 'utf8' }).split(' ')[0];
    expect(meta.images.ostree!.sha256).toBe(digest);
    const extracted = path.join(await makeTempDir(), 'repo');
    await mkdir(extracted);
    execFileSync('tar', ['-xf', archive, '-C', extracted]);
    expect(
      execFileSync('ostree', ['rev-parse', `--repo=${extracted}`, 'fedora/x86_64/coreos/testing'], {
        encoding: 'utf8',
      }).trim(),
    ).toBe(commit);

    const release = releaseSchema.parse(await artifact(directory, 'Release/release.json'));
    expect(release.release).toBe(VERSION);
    expect(release.stream).toBe('testing');
    const x86 = release.architectures.x86_64!;
    expect(x86.commit).toBe(commit);
    const builds = `http://127.0.0.1:8080/prod/streams/testing/builds/${VERSION}/x86_64`;
    expect(x86.media.qemu!.artifacts!['qcow2.xz']!.disk).toEqual({
      location: `${builds}/fedora-coreos-${VERSION}-qemu.x86_64.qcow2.xz`,
      signature: `${builds}/fedora-coreos-${VERSION}-qemu.x86_64.qcow2.xz.sig`,
      sha256: meta.images.qemu!.sha256,
      'uncompressed-sha256': meta.images.qemu!['uncompressed-sha256'],
    });
    expect(Object.keys(x86.media.metal!.artifacts!)).toEqual(['4k.raw.xz']);
    expect(x86.media.gcp).toEqual({
      artifacts: {
        'tar.gz': {
          disk: expect.objectContaining({ location: expect.stringContaining('-gcp.x86_64.tar.gz') }),
        },
      },
      image: {
        project: 'fcos-cloud',
        family: 'fedora-coreos-testing',
        name: 'fedora-coreos-41-20251120-2-0-gcp-x86-64',
      },
    });
    const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
    expect(outputs.Release.release.metadata).toEqual({
      version: VERSION,
      stream: 'testing',
      arches: ['x86_64'],
      // The newest ostree-timestamp of the builds: where a rollout of this release starts by default.
      snapshotTime: 1_700_000_000,
    });
    expect(outputs.Build.build.metadata).toEqual({
      version: VERSION,
      arch: 'x86_64',
      stream: 'testing',
      commit,
    });

    // The release index is part of the Build's fingerprint: unchanged, everything is cached ...
    const again = await runIn(directory);
    expect(again.code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'start')).toEqual([]);
    // ... a new release in it makes a new parent, and the Build and Release run again.
    await writeFile(
      path.join(directory, 'releases.json'),
      releaseIndex([{ version: '41.20251101.2.0' }, { version: '41.20251115.2.0', commit: 'e'.repeat(64) }]),
    );
    const third = await runIn(directory);
    expect(third.code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'start')).toEqual(['Build', 'Release']);
    const newer = await artifact<Record<string, unknown>>(directory, 'Build/meta.json');
    expect(newer['fedora-coreos.parent-version']).toBe('41.20251115.2.0');
    expect(newer['fedora-coreos.parent-commit']).toBe('e'.repeat(64));
  });

  it('does not run the Release when a gating test failed, and the summary names the test', async () => {
    const failing = `{ results: [
      { name: 'basic', result: 'pass' },
      { name: 'ext.config.broken', result: 'fail', reason: 'unit broken.service failed' },
    ] }`;
    // No releases.json: the first release of a stream has no parent, and that is not an error.
    const directory = await project(releasePipeline(failing));
    // --keep-going: every node that does not need the failed one runs, so the Release alone is skipped.
    const run = await runIn(directory, '--keep-going');
    expect(run.code).toBe(1);
    const events = await readEvents(directory);
    expect(nodesWith(events, 'fail')).toEqual(['Tests']);
    expect(nodesWith(events, 'skip')).toEqual(['Release']);
    expect(run.stdout).toMatch(/failed: .*ext\.config\.broken/);
    expect(run.stdout).toMatch(/\[skipped\] Release: Tests failed/);
    expect(run.stdout).toMatch(/1 failed, 1 skipped/);
    expect(existsSync(path.join(directory, 'fcos.out/artifacts/Release/release.json'))).toBe(false);
    const meta = await artifact<Record<string, unknown>>(directory, 'Build/meta.json');
    expect(meta['fedora-coreos.parent-version']).toBeUndefined();
  });

  it('fails the Release on a report that tolerated a failed test, naming the test and its report', async () => {
    const tolerated = `{ tolerateFailures: true, results: [
      { name: 'basic', result: 'pass' },
      { name: 'ext.config.broken', result: 'fail', reason: 'unit broken.service failed' },
      { name: 'ext.config.denylisted', result: 'skip', reason: 'denylisted' },
    ] }`;
    const directory = await project(releasePipeline(tolerated));
    const run = await runIn(directory);
    expect(run.code).toBe(1);
    const events = await readEvents(directory);
    expect(nodesWith(events, 'fail')).toEqual(['Release']);
    const failure = events.find((event) => event.event === 'fail' && event.node === 'Release')!;
    expect(failure.errorName).toBe('ReleaseGateError');
    expect(run.stdout).toMatch(
      /failed: .*not released: 1 gating test failed:\s+- ext\.config\.broken \(Tests\): unit broken\.service failed/,
    );
    expect(run.stdout).not.toMatch(/ext\.config\.denylisted \(/);
    // The summary shows the kept report with its failure.
    expect(run.stdout).toMatch(
      /tests: \S*fcos\.out\/artifacts\/Tests\/report \(1 passed, 1 failed, 1 skipped, 0 flaky\)/,
    );
    expect(existsSync(path.join(directory, 'fcos.out/artifacts/Release/release.json'))).toBe(false);
  });
});

describe('the parent release', () => {
  const index = JSON.parse(
    releaseIndex([
      { version: '41.1.2.0' },
      { version: '41.2.2.0', arch: 'aarch64', commit: 'b'.repeat(64) },
      { version: '41.3.2.0', commit: 'c'.repeat(64) },
    ]),
  );

  it('is the newest release of another version with a commit for the arch', () => {
    expect(parentRelease(index, '41.4.2.0', 'x86_64')).toEqual({
      version: '41.3.2.0',
      commit: 'c'.repeat(64),
    });
    expect(parentRelease(index, '41.3.2.0', 'x86_64')).toEqual({
      version: '41.1.2.0',
      commit: PARENT_COMMIT,
    });
    expect(parentRelease(index, '41.4.2.0', 'aarch64')).toEqual({
      version: '41.2.2.0',
      commit: 'b'.repeat(64),
    });
    expect(parentRelease(index, '41.4.2.0', 's390x')).toBeUndefined();
  });

  it('is read over http: 404 is no index, another error status is a BuildError', async () => {
    const body = releaseIndex([{ version: '41.1.2.0' }]);
    const server = createServer((request, response) => {
      if (request.url === '/prod/streams/testing/releases.json') response.writeHead(200).end(body);
      else if (request.url === '/broken/releases.json') response.writeHead(500).end('no');
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const where = { nodePath: 'p/Build', projectDir: REPO_ROOT, signal: new AbortController().signal };
    try {
      await expect(readPreviousReleases(`${base}/prod/streams/testing/releases.json`, where)).resolves.toBe(
        body,
      );
      await expect(readPreviousReleases(`${base}/missing/releases.json`, where)).resolves.toBeUndefined();
      const broken = readPreviousReleases(`${base}/broken/releases.json`, where);
      await expect(broken).rejects.toBeInstanceOf(BuildError);
      await expect(broken).rejects.toMatchObject({ constructPath: 'p/Build', field: 'previousReleases' });
      await expect(broken).rejects.toThrow(/HTTP 500/);
      await expect(readPreviousReleases('no-such-file.json', where)).resolves.toBeUndefined();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
