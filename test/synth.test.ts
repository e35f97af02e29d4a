/** Synthesis: the construct tree recorded as a deterministic pipeline.json, with inputs, dependencies and runners. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAssembly } from '../lib/synth/assembly.ts';
import { graphOfAssembly, topologicalOrder } from '../lib/synth/graph.ts';
import { synthIn, writeProgram } from './helpers/temp-project.ts';

/** A small pipeline exercising every stage, as a program body. */
const SMALL_PIPELINE = `
const pipeline = new Pipeline({ name: 'small' });
const arm = new Construct(pipeline, 'arm');
const repo = new LocalPackageRepo(pipeline, 'Packages', { specs: '.' });
const armRepo = new LocalPackageRepo(arm, 'Packages', { specs: '.', arch: 'aarch64' });
const manifest = new Manifest(pipeline, 'Manifest', {
  treefile: { ref: 'tiny/\${basearch}/coreos', packages: ['tiny-init'], repos: ['local'] },
  localRepos: [repo.repo, armRepo.repo],
  arches: ['x86_64', 'aarch64'],
});
for (const arch of ['x86_64', 'aarch64']) {
  const scope = arch === 'x86_64' ? pipeline : arm;
  const compose = new RpmOstreeCompose(scope, 'Compose', { treefile: manifest.treefileFor(arch) });
  const disk = new DiskImage(scope, 'Disk', { commit: compose.commit, sizeGiB: 4 });
  const qemu = new PlatformImage(scope, 'Qemu', { disk: disk.disk, platform: 'qemu', compression: 'xz' });
  const aws = new PlatformImage(scope, 'Aws', { disk: disk.disk, platform: 'aws' });
  new Upload(scope, 'UploadAws', { image: aws.image, options: { region: 'eu-west-1', bucket: 'images' } });
  new KolaTest(scope, 'Kola', { image: qemu.image, memoryMiB: 2048 });
}
`;

describe('synthesis of a small pipeline', () => {
  it('records every node with kind, canonical props, typed inputs, resources and outputs', async () => {
    const directory = await writeProgram(SMALL_PIPELINE);
    const run = await synthIn(directory);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const assembly = await readAssembly(path.join(directory, 'fcos.out/pipeline.json'));

    expect(Object.keys(assembly.nodes)).toEqual([
      'Aws',
      'Compose',
      'Disk',
      'Kola',
      'Manifest',
      'Packages',
      'Qemu',
      'UploadAws',
      'arm/Aws',
      'arm/Compose',
      'arm/Disk',
      'arm/Kola',
      'arm/Packages',
      'arm/Qemu',
      'arm/UploadAws',
    ]);
    expect(assembly.pipeline).toEqual({ name: 'small', context: {}, project: '..', app: 'app.ts' });

    const disk = assembly.nodes['arm/Disk']!;
    expect(disk.kind).toBe('DiskImage');
    expect(disk.kindVersion).toBe(1);
    expect(disk.runner).toBe('fcos-cdk/stages/disk-image/runner');
    expect(disk.props).toEqual({
      arch: 'aarch64',
      commit: { $input: 'commit' },
      kargs: ['mitigations=auto,nosmt'],
      osName: 'fedora-coreos',
      rootFilesystem: 'ext4',
      sectorSize: 512,
      sizeGiB: 4,
    });
    expect(disk.inputs).toEqual({ commit: { node: 'arm/Compose', output: 'commit', type: 'ostree-commit' } });
    expect(disk.outputs).toEqual({
      disk: { type: 'disk-image', attributes: { arch: 'aarch64', sectorSize: 512 } },
    });
    expect(disk.resources).toEqual({ class: 'io' });

    expect(assembly.nodes.Manifest!.inputs).toEqual({
      'localRepos.0': { node: 'Packages', output: 'repo', type: 'rpm-repo' },
      'localRepos.1': { node: 'arm/Packages', output: 'repo', type: 'rpm-repo' },
    });
    expect(Object.keys(assembly.nodes.Manifest!.outputs)).toEqual(['treefile-aarch64', 'treefile-x86_64']);
    expect(assembly.nodes['arm/Compose']!.inputs.treefile).toEqual({
      node: 'Manifest',
      output: 'treefile-aarch64',
      type: 'treefile',
    });
    // Each arch's compose reads the repository built for its arch, not the other.
    expect(
      Object.keys(assembly.nodes.Compose!.inputs).filter((name) => name.startsWith('localRepos')),
    ).toEqual(['localRepos.0']);
    expect(assembly.nodes['arm/Compose']!.inputs['localRepos.0']).toEqual({
      node: 'arm/Packages',
      output: 'repo',
      type: 'rpm-repo',
    });
    expect(assembly.nodes.Kola!.resources).toEqual({ class: 'vm', memoryMiB: 2048 });
    expect(assembly.nodes.UploadAws!.resources).toEqual({ class: 'net' });
    expect(assembly.nodes.UploadAws!.props.options).toMatchObject({
      region: 'eu-west-1',
      bucket: 'images',
      roleName: 'vmimport',
    });
    expect(assembly.nodes.Qemu!.outputs.image!.attributes).toEqual({
      arch: 'x86_64',
      platform: 'qemu',
      sectorSize: 512,
    });
    expect(assembly.nodes.Packages!.props.specs).toBe('.');

    const order = topologicalOrder(graphOfAssembly(assembly));
    expect(order.indexOf('Packages')).toBeLessThan(order.indexOf('Manifest'));
    expect(order.indexOf('arm/Disk')).toBeLessThan(order.indexOf('arm/Kola'));
  });

  it('writes keys sorted and the same bytes on every run', async () => {
    const directory = await writeProgram(SMALL_PIPELINE);
    await synthIn(directory);
    const first = await readFile(path.join(directory, 'fcos.out/pipeline.json'), 'utf8');
    await synthIn(directory);
    expect(await readFile(path.join(directory, 'fcos.out/pipeline.json'), 'utf8')).toBe(first);
    const keys = (text: string) => Object.keys(JSON.parse(text).nodes.Disk);
    expect(keys(first)).toEqual([...keys(first)].sort());
    expect(first).not.toContain(directory);
  });

  it('records explicit dependencies, expanding a group to the nodes inside it', async () => {
    const directory = await writeProgram(`${SMALL_PIPELINE}
pipeline.node.findChild('Kola').node.addDependency(arm);
`);
    const run = await synthIn(directory);
    expect(run.code).toBe(0);
    const assembly = await readAssembly(path.join(directory, 'fcos.out/pipeline.json'));
    expect(assembly.nodes.Kola!.dependsOn).toEqual([
      'arm/Aws',
      'arm/Compose',
      'arm/Disk',
      'arm/Kola',
      'arm/Packages',
      'arm/Qemu',
      'arm/UploadAws',
    ]);
    expect(assembly.nodes.Disk!.dependsOn).toEqual([]);
  });

  it('writes graph.mmd always and graph.dot with --graph dot', async () => {
    const directory = await writeProgram(SMALL_PIPELINE);
    const run = await synthIn(directory, '--graph', 'dot');
    expect(run.code).toBe(0);
    const mermaid = await readFile(path.join(directory, 'fcos.out/graph.mmd'), 'utf8');
    expect(mermaid.startsWith('flowchart LR\n')).toBe(true);
    expect(mermaid).toContain('["arm/Disk<br/><i>DiskImage</i>"]');
    expect(mermaid.match(/-->\|ostree-commit\|/g)).toHaveLength(2);
    const dot = await readFile(path.join(directory, 'fcos.out/graph.dot'), 'utf8');
    expect(dot).toContain('"arm/Compose" -> "arm/Disk" [label="ostree-commit"];');
    expect(dot.trimEnd().endsWith('}')).toBe(true);
  });

  it('prints node paths with --list and writes nothing', async () => {
    const directory = await writeProgram(SMALL_PIPELINE);
    const run = await synthIn(directory, '--list');
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(15);
    expect(run.stdout).toContain('arm/UploadAws\n');
    await expect(readFile(path.join(directory, 'fcos.out/pipeline.json'))).rejects.toThrow(/ENOENT/);
  });

  it('summarizes nodes per kind and edges', async () => {
    const directory = await writeProgram(SMALL_PIPELINE);
    const run = await synthIn(directory);
    expect(run.stdout).toContain("Synthesized pipeline 'small': 15 nodes (");
    expect(run.stdout).toContain('2 DiskImage, 2 KolaTest, 2 LocalPackageRepo, 1 Manifest, 4 PlatformImage');
    expect(run.stdout).toContain('16 edges');
  });

  it('takes context from -c over the program defaults', async () => {
    const directory = await writeProgram(`
const pipeline = new Pipeline({ name: 'ctx', context: { size: '4', kept: 'yes' } });
const repo = new LocalPackageRepo(pipeline, 'Packages', { specs: '.', name: pipeline.tryGetContext('repo') ?? 'local' });
`);
    const run = await synthIn(directory, '-c', 'repo=custom', '--context', 'size=8');
    expect(run.code).toBe(0);
    const assembly = await readAssembly(path.join(directory, 'fcos.out/pipeline.json'));
    expect(assembly.pipeline.context).toEqual({ kept: 'yes', repo: 'custom', size: '8' });
    expect(assembly.nodes.Packages!.props.name).toBe('custom');
  });

  it('rejects a pipeline.json of another schema version with advice', async () => {
    const directory = await writeProgram('');
    const file = path.join(directory, 'pipeline.json');
    await writeFile(file, JSON.stringify({ schemaVersion: 99, nodes: {} }));
    await expect(readAssembly(file)).rejects.toThrow(/schemaVersion 99.*run fcos-synth again/);
    await expect(readAssembly(path.join(directory, 'missing.json'))).rejects.toThrow(/run fcos-synth first/);
  });
});
