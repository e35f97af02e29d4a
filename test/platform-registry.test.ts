/**
 * Platforms as data: definePlatform's checks, the registry, and a platform a scratch project
 * defines in its own folder and registers with one line. Its PlatformImage records the platform's
 * data for the runner (the OVA settings reach the converter), and its Upload runs in a child
 * fcos-run that never sees the registry: the uploader is loaded from the module synthesis recorded.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CONVERTERS } from '../lib/disk/formats/converters.ts';
import { definePlatform, PlatformDefinitionError } from '../lib/platform.ts';
import { readAssembly } from '../lib/synth/assembly.ts';
import { imageFileName } from '../stages/platform-image/runner.ts';
import {
  DuplicatePlatformError,
  findPlatform,
  qemuBootablePlatformNames,
  registerPlatform,
} from '../targets/index.ts';
import { testExec } from './helpers/disk-images.ts';
import {
  makeTempDir,
  nodesWith,
  REPO_ROOT,
  readEvents,
  runSynth,
  synthIn,
  writeProgram,
} from './helpers/temp-project.ts';
import { baseEnvironment, cloudImageOf, runChild, withoutWarnings } from './helpers/upload-harness.ts';

/** A valid definition to vary in the checks below. */
const BOX = {
  name: 'box',
  format: 'qcow2',
  extension: 'qcow2',
  arches: ['x86_64'],
  sectorSizes: [512],
  compressions: ['none'],
  defaultCompression: 'none',
} as const;

describe('definePlatform', () => {
  it('applies the defaults: Ignition id = name, not bootable by the QEMU harness, no upload', () => {
    const box = definePlatform(BOX);
    expect(box).toMatchObject({ ignitionPlatformId: 'box', qemuBootable: false });
    expect(box.upload).toBeUndefined();
    expect(Object.isFrozen(box) && Object.isFrozen(box.arches)).toBe(true);
  });

  it.each([
    [{ ...BOX, name: 'Box' }, 'name', 'lowercase letters'],
    [{ ...BOX, format: 'iso' }, 'format', ''],
    [{ ...BOX, defaultCompression: 'xz' }, 'defaultCompression', 'xz is not one of'],
    [{ ...BOX, format: 'ova', extension: 'ova' }, 'ova', 'needs its OVA settings'],
    [{ ...BOX, ova: { osType: 'x', hardwareVersion: 17 } }, 'ova', 'not qcow2'],
    [
      { ...BOX, upload: { options: {}, optionsFromContext: () => ({}), uploader: './up.ts' } },
      'upload.options',
      'zod schema',
    ],
  ])('refuses a bad definition, naming the field (%#)', (definition, field, message) => {
    let error: unknown;
    try {
      definePlatform(definition as never);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PlatformDefinitionError);
    expect((error as PlatformDefinitionError).field).toBe(field);
    expect((error as Error).message).toContain(message);
  });

  it('refuses a second platform under a taken name, and accepts the same one again', () => {
    expect(() => registerPlatform(definePlatform({ ...BOX, name: 'qemu' }))).toThrow(DuplicatePlatformError);
    const box = definePlatform({ ...BOX, name: 'box-registry-test' });
    registerPlatform(box);
    registerPlatform(box);
    expect(findPlatform('box-registry-test')).toBe(box);
    expect(() =>
      registerPlatform(definePlatform({ ...BOX, name: 'box-registry-test', arches: ['aarch64'] })),
    ).toThrow("a platform named 'box-registry-test' is already registered");
    expect(qemuBootablePlatformNames()).toEqual(['qemu']);
  });
});

/** The scratch project's platform: an OVA with its own settings and a cloud that is a directory. */
const RISCBOX_INDEX = `import { z } from 'zod';
import { commonUploadOptionsShape, definePlatform } from 'fcos-cdk';

/** Options of an Upload to a riscbox shelf. */
export interface RiscboxUploadOptions {
  /** The directory images are shelved in. */
  readonly shelf: string;
  /** First part of the shelved file's name. @default 'fedora-coreos' */
  readonly namePrefix?: string;
}

declare module 'fcos-cdk' {
  interface UploadOptionsByPlatform {
    riscbox: RiscboxUploadOptions;
  }
}

const options = z
  .object({ shelf: z.string().min(1), ...commonUploadOptionsShape({ pollIntervalSeconds: 1, maxPrefixLength: 20 }) })
  .strict();

export const riscbox = definePlatform({
  name: 'riscbox',
  format: 'ova',
  extension: 'ova',
  arches: ['x86_64'],
  sectorSizes: [512],
  compressions: ['none', 'zstd'],
  defaultCompression: 'zstd',
  ignitionPlatformId: 'riscbox-id',
  qemuBootable: true,
  ova: { osType: 'otherLinux64Guest', hardwareVersion: 19 },
  upload: {
    options,
    optionsFromContext: (context) => ({ shelf: context.required('riscbox.shelf') }),
    uploader: new URL('./uploader.ts', import.meta.url),
  },
});
`;

/** Its uploader: shelves the uncompressed image under a name carrying the digest; lookup finds it there. */
const RISCBOX_UPLOADER = `import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { defineUploader, imageObjectName, uncompressed } from 'fcos-cdk';
import { riscbox } from './index.ts';

function shelved(context) {
  const name = imageObjectName(context.options.namePrefix, context.arch, context.digest);
  const file = path.join(context.options.shelf, name + '.ova');
  return { name, file, image: { platform: 'riscbox', arch: context.arch, sourceDigest: context.digest, name, file } };
}

export default defineUploader(riscbox, {
  async lookup(context) {
    const { file, image } = shelved(context);
    return existsSync(file) ? { state: 'complete', image } : { state: 'absent' };
  },
  async upload(context) {
    const { name, file, image } = shelved(context);
    const plain = await uncompressed(context.exec, context.imagePath, context.workDir, name + '.ova');
    await mkdir(context.options.shelf, { recursive: true });
    await copyFile(plain, file);
    context.log('shelved ' + file);
    return image;
  },
});
`;

/** A scratch project with the riscbox folder; `app.ts` is `body` after `registerPlatform(riscbox)`. */
async function riscboxProject(body: string): Promise<string> {
  const kind = pathToFileURL(path.join(REPO_ROOT, 'test/kinds/test-platform-image.ts')).href;
  const directory = await writeProgram(`import { findPlatform, registerPlatform } from 'fcos-cdk';
import { riscbox } from './platforms/riscbox/index.ts';
import { TestPlatformImage } from '${kind}';
registerPlatform(riscbox);
${body}`);
  await mkdir(path.join(directory, 'platforms/riscbox'), { recursive: true });
  await writeFile(path.join(directory, 'platforms/riscbox/index.ts'), RISCBOX_INDEX);
  await writeFile(path.join(directory, 'platforms/riscbox/uploader.ts'), RISCBOX_UPLOADER);
  return directory;
}

/** Runs tsc (strict, NodeNext, fcos-cdk from its sources) on `file` of the project `directory`. */
function typeCheck(directory: string, file: string) {
  return execa(
    process.execPath,
    [
      path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'),
      ...['--noEmit', '--strict', '--skipLibCheck', '--target', 'ES2022', '--module', 'NodeNext'],
      ...['--moduleResolution', 'NodeNext', '--allowImportingTsExtensions', '--types', 'node'],
      ...['--customConditions', 'fcos-cdk-source', file],
    ],
    { cwd: directory, reject: false },
  );
}

describe('a platform defined by a scratch project', () => {
  it('synthesizes a PlatformImage with its data recorded for the runner, and its OVA settings reach the converter', async () => {
    const directory = await riscboxProject(`void TestPlatformImage, findPlatform;
const pipeline = new Pipeline({ name: 'riscbox' });
const manifest = new Manifest(pipeline, 'Manifest', { treefile: { ref: 'r' } });
const compose = new RpmOstreeCompose(pipeline, 'Compose', { treefile: manifest.treefileFor('x86_64') });
const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit });
const image = new PlatformImage(pipeline, 'Image', { disk: disk.disk, platform: 'riscbox' });
new KolaTest(pipeline, 'Kola', { image: image.image });`);
    const synth = await synthIn(directory);
    expect(synth.stderr).toBe('');
    expect(synth.code).toBe(0);
    const assembly = await readAssembly(path.join(directory, 'fcos.out/pipeline.json'));
    const node = assembly.nodes.Image!;
    expect(node.kindVersion).toBe(2);
    const target = {
      format: 'ova',
      extension: 'ova',
      ignitionPlatformId: 'riscbox-id',
      compressions: ['none', 'zstd'],
      ova: { osType: 'otherLinux64Guest', hardwareVersion: 19 },
    };
    expect(node.props).toEqual({
      disk: { $input: 'disk' },
      platform: 'riscbox',
      compression: 'zstd',
      target,
    });
    // The KolaTest was accepted: the platform says the QEMU harness boots it.
    expect(assembly.nodes.Kola!.kind).toBe('KolaTest');

    // What the runner does with the recorded data: the file name and the conversion by format.
    const disk = { osName: 'fedora-coreos', version: '41.1', arch: 'x86_64', sectorSize: 512 } as const;
    expect(imageFileName(target, disk)).toBe('fedora-coreos-41.1-riscbox-id.x86_64.ova');
    const work = await makeTempDir();
    const rawDisk = path.join(work, 'disk.raw');
    await writeFile(rawDisk, Buffer.alloc(1024 * 1024, 1));
    const output = path.join(work, imageFileName(target, disk));
    await CONVERTERS[target.format as 'ova']({
      exec: testExec,
      rawDisk,
      output,
      workDir: work,
      arch: 'x86_64',
      diskSize: 1024 * 1024,
      osName: 'fedora-coreos',
      version: '41.1',
      timestamp: 1_700_000_000,
      seed: 'seed',
      ova: target.ova,
    });
    const listing = await testExec('tar', ['-xOf', output, 'fedora-coreos-41.1-riscbox-id.x86_64.ovf']);
    expect(listing.stdout).toContain('vmw:osType="otherLinux64Guest"');
    expect(listing.stdout).toContain('vmx-19');
  });

  it('uploads through its own uploader in a fcos-run that has no registry, and reuses the result', async () => {
    const shelf = path.join(await makeTempDir(), 'shelf');
    const image = path.join(await makeTempDir(), 'image.ova');
    await writeFile(image, Buffer.alloc(256 * 1024, 7));
    await testExec('zstd', ['-q', '--rm', image]);
    // The options come from context through the platform's own mapping, as pipeline.ts reads them.
    const directory = await riscboxProject(`const pipeline = new Pipeline({ name: 'riscbox' });
const image = new TestPlatformImage(pipeline, 'Image', { file: ${JSON.stringify(`${image}.zst`)}, platform: 'riscbox' });
const context = { optional: (key) => pipeline.tryGetContext(key), required: (key) => pipeline.requireContext(key) };
const options = findPlatform('riscbox').upload.optionsFromContext(context, 'testing', 'x86_64');
new Upload(pipeline, 'Upload', { image: image.image, options });`);
    const synth = await runSynth([
      '--app',
      path.join(directory, 'app.ts'),
      '--out',
      path.join(directory, 'fcos.out'),
      '-c',
      `riscbox.shelf=${shelf}`,
    ]);
    expect(synth.stderr).toBe('');
    const assembly = await readAssembly(path.join(directory, 'fcos.out/pipeline.json'));
    expect(assembly.nodes.Upload!.props).toMatchObject({
      platform: 'riscbox',
      uploader: './platforms/riscbox/uploader.ts',
      options: { shelf, namePrefix: 'fedora-coreos', pollIntervalSeconds: 1, waitTimeoutMinutes: 120 },
    });

    const env = await baseEnvironment();
    const first = await runChild(directory, env);
    expect(withoutWarnings(first.stderr)).toBe('');
    expect(first.code).toBe(0);
    const metadata = await cloudImageOf(directory);
    expect(metadata).toMatchObject({ platform: 'riscbox', arch: 'x86_64' });
    const file = String(metadata.file);
    expect(path.dirname(file)).toBe(shelf);
    expect(path.basename(file)).toMatch(/^fedora-coreos-x86-64-[0-9a-f]{12}\.ova$/);
    // Shelved decompressed: uncompressed() ran zstd through the node's exec.
    expect((await readFile(file)).equals(Buffer.alloc(256 * 1024, 7))).toBe(true);
    expect(await readFile(path.join(directory, 'fcos.out/logs/Upload.log'), 'utf8')).toContain(
      'zstd -qdc --',
    );

    // Found by the lookup taken again after the run (fingerprintChangesWhenRun): served from the cache.
    const second = await runChild(directory, env);
    expect(second.code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'finish')).toEqual([]);
    expect(nodesWith(await readEvents(directory), 'cached')).toEqual(['Image', 'Upload']);

    // Gone from the shelf: the lookup misses, and the next run shelves it again.
    await rm(file);
    const fourth = await runChild(directory, env);
    expect(fourth.code).toBe(0);
    expect(nodesWith(await readEvents(directory), 'finish')).toEqual(['Upload']);
    expect(existsSync(file)).toBe(true);
  }, 120_000);

  it("types Upload's options with the project's own entry of UploadOptionsByPlatform (declaration merging)", async () => {
    const directory = await riscboxProject('');
    await writeFile(
      path.join(directory, 'typed.ts'),
      `import { Pipeline, registerPlatform, Upload, type UploadProps } from 'fcos-cdk';
import { riscbox } from './platforms/riscbox/index.ts';
registerPlatform(riscbox);
declare const image: UploadProps['image'];
const pipeline = new Pipeline();
new Upload(pipeline, 'Shelf', { image, options: { shelf: '/srv/images' } });
new Upload(pipeline, 'Aws', { image, options: { region: 'eu-west-1', bucket: 'images' } });
// @ts-expect-error no cloud's options have a numeric shelf
new Upload(pipeline, 'Bad', { image, options: { shelf: 1 } });
`,
    );
    const tsc = await typeCheck(directory, 'typed.ts');
    expect(tsc.stdout).toBe('');
    expect(tsc.exitCode).toBe(0);
    // Without the project's declaration, its options are no cloud's.
    const index = path.join(directory, 'platforms/riscbox/index.ts');
    await writeFile(
      index,
      (await readFile(index, 'utf8')).replace('interface UploadOptionsByPlatform', 'interface Unrelated'),
    );
    const untyped = await execa(process.execPath, tsc.command.split(' ').slice(1), {
      cwd: directory,
      reject: false,
    });
    expect(untyped.stdout).toContain("'shelf' does not exist in type 'AnyUploadOptions'");
  }, 120_000);
});
