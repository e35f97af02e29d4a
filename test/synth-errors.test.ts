/** Every mistake a pipeline program can make gets one clear message naming the construct path and field, and fcos.out is left untouched. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runSynth, synthIn, writeProgram } from './helpers/temp-project.ts';

const PREFIX = `
const pipeline = new Pipeline({ name: 'bad' });
const manifest = new Manifest(pipeline, 'Manifest', { treefile: { ref: 'r', packages: ['p'] }, arches: ['x86_64'] });
const compose = new RpmOstreeCompose(pipeline, 'Compose', { treefile: manifest.treefileFor('x86_64') });
`;

const SENTINEL = '{"previous": "synthesis"}\n';

/** Synthesizes a broken program over a previous fcos.out and checks what every bad input must give. */
async function expectFailure(body: string, files: Record<string, string> = {}) {
  const directory = await writeProgram(body, files);
  await mkdir(path.join(directory, 'fcos.out'));
  await writeFile(path.join(directory, 'fcos.out/pipeline.json'), SENTINEL);
  const run = await synthIn(directory);
  expect(run.code).toBe(1);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/^fcos-synth: error: /);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  expect(await readFile(path.join(directory, 'fcos.out/pipeline.json'), 'utf8')).toBe(SENTINEL);
  return run.stderr;
}

describe('bad input fails synthesis with the construct path and field, and keeps fcos.out', () => {
  it('an invalid prop value', async () => {
    const message = await expectFailure(
      `${PREFIX}new DiskImage(pipeline, 'Disk', { commit: compose.commit, sizeGiB: -1 });`,
    );
    expect(message).toContain("'Disk', field 'sizeGiB': Too small");
  });

  it('an unknown prop', async () => {
    const message = await expectFailure(
      `${PREFIX}new DiskImage(pipeline, 'Disk', { commit: compose.commit, rootFilesytem: 'xfs' });`,
    );
    expect(message).toContain("'Disk', field 'rootFilesytem': unknown prop of DiskImage");
  });

  it('an unknown treefile key inside an inline manifest', async () => {
    const message = await expectFailure(
      `const pipeline = new Pipeline();\nnew Manifest(pipeline, 'M', { treefile: { ref: 'r', pakages: ['x'] } });`,
    );
    expect(message).toContain("'M', field 'treefile.pakages': unknown prop of Manifest");
  });

  it('an unknown platform', async () => {
    const message = await expectFailure(
      `${PREFIX}const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit });\nnew PlatformImage(pipeline, 'Img', { disk: disk.disk, platform: 'amiga' });`,
    );
    expect(message).toContain("'Img', field 'platform': unknown platform \"amiga\"; known: aws, azure");
  });

  it('a missing context value', async () => {
    const message = await expectFailure(`
const pipeline = new Pipeline();
const group = new Construct(pipeline, 'stable');
new Manifest(group, 'Manifest', { file: pipeline.requireContext('config', group) + '/manifest.yaml' });`);
    expect(message).toContain(
      "'stable' needs context value 'config', which was not given: pass -c config=VALUE",
    );
  });

  it('a duplicate id, from a stage', async () => {
    const message = await expectFailure(
      `${PREFIX}new DiskImage(pipeline, 'Disk', { commit: compose.commit });\nnew DiskImage(pipeline, 'Disk', { commit: compose.commit });`,
    );
    expect(message).toContain("there is already a construct with id 'Disk' in '<root>'");
  });

  it('a duplicate id, from a plain Construct group', async () => {
    const message = await expectFailure(
      `const pipeline = new Pipeline();\nconst a = new Construct(pipeline, 'g');\nnew Construct(a, 'x');\nnew Construct(a, 'x');`,
    );
    expect(message).toContain("there is already a construct with id 'x' in 'g'");
  });

  it('a cycle of explicit dependencies', async () => {
    const message = await expectFailure(`${PREFIX}
const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit });
compose.node.addDependency(disk);`);
    expect(message).toContain("dependency cycle: 'Compose' -> 'Disk' -> 'Compose'");
    expect(message).toContain('node.addDependency()');
  });

  it('a disk image passed where a commit is expected (JavaScript, no tsc)', async () => {
    const message = await expectFailure(`${PREFIX}
const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit });
new DiskImage(pipeline, 'Disk2', { commit: disk.disk });`);
    expect(message).toContain(
      "'Disk2', field 'commit': expected an artifact of type ostree-commit, got the disk-image 'disk' of 'Disk'",
    );
  });

  it('a plain value where an artifact is expected', async () => {
    const message = await expectFailure(`${PREFIX}new DiskImage(pipeline, 'Disk', { commit: 'abc123' });`);
    expect(message).toContain(
      "'Disk', field 'commit': expected an artifact of type ostree-commit (the output of another construct), got the string \"abc123\"",
    );
  });

  it('cross-node checks, all reported at once: arch mismatch, 4k on a cloud, unsupported arch, kola on aws, kola of an arch without an emulator', async () => {
    const message = await expectFailure(`${PREFIX}
const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit, arch: 'aarch64' });
const disk4k = new DiskImage(pipeline, 'Disk4k', { commit: compose.commit, sectorSize: 4096 });
const azure = new PlatformImage(pipeline, 'Azure', { disk: disk4k.disk, platform: 'azure' });
const s390 = new Manifest(pipeline, 'M390', { treefile: { ref: 'r' }, arches: ['s390x'] });
const c390 = new RpmOstreeCompose(pipeline, 'C390', { treefile: s390.treefileFor('s390x') });
const d390 = new DiskImage(pipeline, 'D390', { commit: c390.commit });
const aws390 = new PlatformImage(pipeline, 'Aws390', { disk: d390.disk, platform: 'aws' });
new KolaTest(pipeline, 'KolaAws', { image: aws390.image });
const qemu390 = new PlatformImage(pipeline, 'Qemu390', { disk: d390.disk, platform: 'qemu' });
new KolaTest(pipeline, 'Kola390', { image: qemu390.image });
`);
    expect(message).toContain(
      "'Disk', field 'arch': the disk is for aarch64 but its commit (ostree-commit 'commit' of 'Compose') is for x86_64",
    );
    expect(message).toContain("'Azure', field 'disk': azure does not boot from 4096-byte sectors");
    expect(message).toContain("'Aws390', field 'platform': aws does not support s390x");
    expect(message).toContain("'KolaAws', field 'image': the QEMU harness boots qemu images, not aws");
    expect(message).toContain(
      "'Kola390', field 'image': the QEMU harness boots x86_64 and aarch64 guests, not s390x",
    );
  });

  it("local repositories per arch: a name twice for one arch, and an arch without the name's repository", async () => {
    const message = await expectFailure(
      `const pipeline = new Pipeline({ name: 'bad' });
const x86 = new LocalPackageRepo(pipeline, 'Packages', { specs: '.', arch: 'x86_64' });
const again = new LocalPackageRepo(pipeline, 'PackagesAgain', { specs: '.', arch: 'x86_64' });
new Manifest(pipeline, 'Manifest', { treefile: { ref: 'r' }, arches: ['x86_64', 'aarch64'], localRepos: [x86.repo, again.repo] });
`,
    );
    expect(message).toContain(
      "'Manifest', field 'localRepos': repository name 'local' is used twice for x86_64",
    );
    expect(message).toContain(
      "'Manifest', field 'localRepos': repository 'local' has no build for aarch64: add one built with arch 'aarch64'",
    );
  });

  it('an upload of a qemu image', async () => {
    const message = await expectFailure(`${PREFIX}
const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit });
const qemu = new PlatformImage(pipeline, 'Qemu', { disk: disk.disk, platform: 'qemu' });
new Upload(pipeline, 'UploadQemu', { image: qemu.image, options: {} });`);
    expect(message).toContain(
      "'UploadQemu', field 'image': a qemu image cannot be uploaded (platform-image 'image' of 'Qemu'); Upload supports aws, azure, gce",
    );
  });

  it('invalid upload options name the option', async () => {
    const message = await expectFailure(`${PREFIX}
const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit });
const gce = new PlatformImage(pipeline, 'Gce', { disk: disk.disk, platform: 'gce' });
new Upload(pipeline, 'UploadGce', { image: gce.image, options: { project: 'Bad_Project', bucket: 'b', famly: 'x' } });`);
    expect(message).toContain("'UploadGce', field 'options.project': gce: a GCP project id");
    expect(message).toContain("'UploadGce', field 'options.bucket': gce: Too small");
    expect(message).toContain("'UploadGce', field 'options.famly': unknown gce upload option");
  });

  it('a treefile file that does not exist', async () => {
    const message = await expectFailure(
      `const pipeline = new Pipeline();\nnew Manifest(pipeline, 'M', { file: 'nope.yaml' });`,
    );
    expect(message).toContain("'M', field 'file': treefile 'nope.yaml' does not exist");
  });

  it('a program that throws, located by line', async () => {
    const message = await expectFailure(`const pipeline = new Pipeline();\n\nthrow new Error('boom');`);
    expect(message).toMatch(/'[^']*app\.ts' line 7:7 threw: boom/);
  });

  it('a program with a syntax error', async () => {
    const message = await expectFailure('const pipeline = new Pipeline(;');
    expect(message).toMatch(/app\.ts'.* threw: .*Transform failed|Expected/);
  });

  it('a program that creates no pipeline', async () => {
    const message = await expectFailure('const x = 1;');
    expect(message).toContain('created no Pipeline');
  });

  it('a program file that does not exist', async () => {
    const directory = await writeProgram('');
    const { code, stderr } = await runSynth(['--app', path.join(directory, 'missing.ts')]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /pipeline program '.*missing\.ts' does not exist: run in a project directory or pass --app FILE/,
    );
  });

  it('a malformed -c is a usage error (exit 2)', async () => {
    const directory = await writeProgram('new Pipeline();');
    const run = await synthIn(directory, '-c', 'novalue');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("context 'novalue' is not KEY=VALUE");
    expect(run.stderr).toContain('Usage: fcos-synth');
  });
});

describe('the fcos-synth binary', () => {
  it('exits 1 with one paragraph and no stack trace; --debug adds the stack', async () => {
    const directory = await writeProgram(
      `${PREFIX}new DiskImage(pipeline, 'Disk', { commit: compose.commit, sizeGiB: 0 });`,
    );
    const bin = path.join(REPO_ROOT, 'bin/fcos-synth.js');
    const plain = await execa('node', [bin, '--app', 'app.ts'], { cwd: directory, reject: false });
    expect(plain.exitCode).toBe(1);
    expect(plain.stderr).toContain("'Disk', field 'sizeGiB'");
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    const debug = await execa('node', [bin, '--app', 'app.ts', '--debug'], { cwd: directory, reject: false });
    expect(debug.exitCode).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});
