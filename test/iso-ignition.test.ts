/**
 * `fcos-iso ignition embed|show|remove` and lib/iso/ on small live ISOs made here with xorriso
 * (Rock Ridge, Joliet, a 16-block partition offset and an MBR as a hybrid ISO has): only the
 * embed area changes, the kernel's format is what GNU cpio and xz read back, every refusal leaves
 * the files as they were, and the same config gives the same bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { runTool } from '../lib/exec.ts';
import {
  ConfigAlreadyEmbeddedError,
  EmbedAreaTooSmallError,
  embedIgnitionConfig,
  InvalidIgnitionConfigError,
  locateEmbedArea,
  NoEmbeddedConfigError,
  NotALiveIsoError,
  readFileExtents,
  readIgnitionConfig,
  removeIgnitionConfig,
  showIgnitionConfig,
} from '../lib/iso/index.ts';
import { readNewcArchive, writeNewcArchive } from '../lib/iso/newc-cpio.ts';
import { makeTempDir, REPO_ROOT } from './helpers/temp-project.ts';

const BIN = path.join(REPO_ROOT, 'bin/fcos-iso.js');
/** The embed area of the live ISO the pipeline builds: 256 KiB of zeros. */
const AREA_BYTES = 262_144;
const CONFIG = Buffer.from(
  `${JSON.stringify({ ignition: { version: '3.4.0' }, passwd: { users: [{ name: 'core' }] } }, null, 2)}\n`,
);
const OTHER_CONFIG = Buffer.from(
  '{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/motd"}]}}',
);

let directory: string;
/** A pristine live ISO with a 256 KiB embed area; copied by each test, never changed. */
let pristine: string;
/** The same files with `-partition_offset 16` and an MBR partition table, as hybrid ISOs are laid out. */
let hybrid: string;

/** sha256 of a whole file, or of `length` bytes from `offset`. */
async function sha256(file: string, offset = 0, length?: number): Promise<string> {
  const bytes = await readFile(file);
  return createHash('sha256')
    .update(bytes.subarray(offset, length === undefined ? undefined : offset + length))
    .digest('hex');
}

/**
 * Makes an ISO of a tree holding `/coreos/igninfo.json` (unless `igninfo` is false), an embed area
 * of `areaBytes` zeros at `/images/ignition.img`, and other files before and after it.
 */
async function makeIso(
  name: string,
  options: { areaBytes?: number; igninfo?: boolean; hybrid?: boolean } = {},
): Promise<string> {
  const tree = path.join(directory, `${name}.tree`);
  await mkdir(path.join(tree, 'coreos'), { recursive: true });
  await mkdir(path.join(tree, 'images'), { recursive: true });
  await mkdir(path.join(tree, 'zz'), { recursive: true });
  if (options.igninfo !== false)
    await writeFile(path.join(tree, 'coreos/igninfo.json'), '{"file":"images/ignition.img"}');
  await writeFile(path.join(tree, 'images/ignition.img'), Buffer.alloc(options.areaBytes ?? AREA_BYTES));
  await writeFile(path.join(tree, 'README.txt'), 'a live ISO for the tests\n');
  // Not zeros: a write that strays past the area would show in the suffix's digest.
  await writeFile(path.join(tree, 'zz/after.bin'), Buffer.alloc(50_000, 0xa5));
  const iso = path.join(directory, `${name}.iso`);
  const layout = options.hybrid ? ['-partition_offset', '16', '--protective-msdos-label'] : [];
  await runTool('xorriso', ['-as', 'mkisofs', '-R', '-J', '-V', 'FCOS_TEST', ...layout, '-o', iso, tree]);
  return iso;
}

/** A copy of `source` to change, named `name`. */
async function copyOf(source: string, name: string): Promise<string> {
  const copy = path.join(directory, name);
  await copyFile(source, copy);
  return copy;
}

/** Runs the fcos-iso bin (the compiled CLI: `npm run build` first): exit code, stdout's bytes, stderr. */
async function fcosIso(
  args: readonly string[],
  input?: Buffer,
): Promise<{ exitCode: number | undefined; stdout: Buffer; stderr: string }> {
  const result = await execa('node', [BIN, ...args], {
    reject: false,
    encoding: 'buffer',
    stripFinalNewline: false,
    ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
  });
  return {
    exitCode: result.exitCode,
    stdout: Buffer.from(result.stdout),
    stderr: Buffer.from(result.stderr).toString('utf8'),
  };
}

/** The files of the newc archive in the embed area, read by the real tools: `xz -dc` and GNU cpio. */
async function archiveByTools(area: Buffer): Promise<{ listing: string; configBytes: Buffer }> {
  const archive = path.join(await makeTempDir(), 'archive.cpio');
  const areaFile = `${archive}.area`;
  await writeFile(areaFile, area);
  // The whole area: xz reads the zeros after the stream as stream padding, as the kernel skips them.
  await runTool('xz', ['-dc', areaFile], { stdoutFile: archive });
  const listing = await runTool('cpio', ['-itv', '--numeric-uid-gid', '-F', archive]);
  const extracted = path.join(path.dirname(archive), 'out');
  await mkdir(extracted);
  await runTool('cpio', ['-id', '--quiet', '-F', archive], { cwd: extracted });
  return { listing: listing.stdout, configBytes: await readFile(path.join(extracted, 'config.ign')) };
}

/** Asserts `run` rejects with an error of `type` and returns it. */
async function refusal<T extends Error>(
  run: Promise<unknown>,
  type: new (...args: never[]) => T,
): Promise<T> {
  const error = await run.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(type);
  return error as T;
}

beforeAll(async () => {
  directory = await makeTempDir('fcos-iso-test-');
  [pristine, hybrid] = await Promise.all([makeIso('pristine'), makeIso('hybrid', { hybrid: true })]);
});

describe('locating the embed area', () => {
  it.each([
    ['plain', () => pristine],
    ['hybrid (partition offset, MBR)', () => hybrid],
  ])('finds igninfo.json and the area it names in a %s ISO, where xorriso reads the file', async (_, iso) => {
    const area = await locateEmbedArea(iso());
    expect(area.path).toBe('/images/ignition.img');
    expect(area.length).toBe(AREA_BYTES);
    expect(area.offset % 2048).toBe(0);
    // The reported offset is the file's data: a marker written there is what xorriso extracts.
    const marked = await copyOf(iso(), `marked-${path.basename(iso())}`);
    const marker = randomBytes(64);
    const bytes = await readFile(marked);
    marker.copy(bytes, area.offset);
    await writeFile(marked, bytes);
    const extracted = path.join(directory, `extracted-${path.basename(iso())}`);
    await runTool('xorriso', ['-indev', marked, '-osirrox', 'on', '-extract', area.path, extracted]);
    expect((await readFile(extracted)).subarray(0, 64)).toEqual(marker);
    // Something lies after the area, so the suffix checks below compare real data.
    const extents = await readFileExtents(iso());
    expect(extents.get('/zz/after.bin')!.offset).toBeGreaterThan(area.offset + area.length);
  });
});

describe('embedIgnitionConfig, readIgnitionConfig, removeIgnitionConfig', () => {
  it.each([
    ['plain', () => pristine],
    ['hybrid', () => hybrid],
  ])(
    'embeds into a copy (%s): only the area changes, and cpio/xz read config.ign back',
    async (name, iso) => {
      const source = iso();
      const before = await sha256(source);
      const output = path.join(directory, `embedded-${name}.iso`);
      const result = await embedIgnitionConfig(source, CONFIG, { output });
      expect(result.written).toBe(output);
      expect(result.replaced).toBe(false);
      expect(await sha256(source)).toBe(before);
      const { offset, length } = result.area;
      const size = (await stat(source)).size;
      expect((await stat(output)).size).toBe(size);
      expect(await sha256(output, 0, offset)).toBe(await sha256(source, 0, offset));
      expect(await sha256(output, offset + length)).toBe(await sha256(source, offset + length));
      const area = (await readFile(output)).subarray(offset, offset + length);
      expect(result.payloadBytes).toBeGreaterThan(0);
      expect(result.payloadBytes % 4).toBe(0);
      expect(area.subarray(result.payloadBytes).every((byte) => byte === 0)).toBe(true);
      // An xz stream whose check is CRC32 (flags byte 0x01), the one the kernel's decoder verifies.
      expect(area.subarray(0, 8)).toEqual(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x01]));
      const { listing, configBytes } = await archiveByTools(area);
      expect(listing.trim().split('\n')).toHaveLength(1);
      expect(listing).toMatch(/^-rw-r--r-- +1 +0 +0 +\d+ Jan +1 +1970 config\.ign$/m);
      expect(configBytes).toEqual(CONFIG);
      expect(await readIgnitionConfig(output)).toEqual(CONFIG);
      expect(await showIgnitionConfig(output)).toEqual(CONFIG);
    },
  );

  it('gives the same bytes for the same config: twice into copies, and in place', async () => {
    const first = path.join(directory, 'same-1.iso');
    const second = path.join(directory, 'same-2.iso');
    await embedIgnitionConfig(pristine, CONFIG, { output: first });
    await embedIgnitionConfig(pristine, CONFIG, { output: second });
    const inPlace = await copyOf(pristine, 'same-3.iso');
    const result = await embedIgnitionConfig(inPlace, CONFIG);
    expect(result.written).toBe(inPlace);
    const digests = await Promise.all([first, second, inPlace].map((file) => sha256(file)));
    expect(new Set(digests).size).toBe(1);
    expect(digests[0]).not.toBe(await sha256(pristine));
    // A different config gives different bytes in the area, and the same ones outside it.
    const other = path.join(directory, 'same-other.iso');
    await embedIgnitionConfig(pristine, OTHER_CONFIG, { output: other });
    expect(await sha256(other)).not.toBe(digests[0]);
    expect(await readIgnitionConfig(other)).toEqual(OTHER_CONFIG);
  });

  it('replaces a config only with force, and remove gives the pristine ISO back', async () => {
    const iso = await copyOf(pristine, 'replace.iso');
    await embedIgnitionConfig(iso, CONFIG);
    const embedded = await sha256(iso);
    await refusal(embedIgnitionConfig(iso, OTHER_CONFIG), ConfigAlreadyEmbeddedError);
    expect(await sha256(iso)).toBe(embedded);
    const replaced = await embedIgnitionConfig(iso, OTHER_CONFIG, { force: true });
    expect(replaced.replaced).toBe(true);
    expect(await showIgnitionConfig(iso)).toEqual(OTHER_CONFIG);
    // Into a copy first: the input keeps its config.
    const copy = path.join(directory, 'replace-removed.iso');
    const removedCopy = await removeIgnitionConfig(iso, { output: copy });
    expect(removedCopy).toMatchObject({ written: copy, removed: true });
    expect(await sha256(copy)).toBe(await sha256(pristine));
    expect(await readIgnitionConfig(iso)).toEqual(OTHER_CONFIG);
    const removed = await removeIgnitionConfig(iso);
    expect(removed.removed).toBe(true);
    expect(await sha256(iso)).toBe(await sha256(pristine));
    expect(await readIgnitionConfig(iso)).toBeUndefined();
    await refusal(showIgnitionConfig(iso), NoEmbeddedConfigError);
    // Nothing to remove: the file is not written at all.
    const { mtimeMs } = await stat(iso);
    expect((await removeIgnitionConfig(iso)).removed).toBe(false);
    expect((await stat(iso)).mtimeMs).toBe(mtimeMs);
  });
});

describe('refusals leave every file as it was', () => {
  it('refuses a file that is not an ISO, and an ISO without igninfo.json', async () => {
    const notIso = path.join(directory, 'random.bin');
    await writeFile(notIso, randomBytes(100_000));
    const noIgninfo = await makeIso('no-igninfo', { igninfo: false });
    for (const [file, reason] of [
      [notIso, /not an ISO 9660 image/],
      [noIgninfo, /not a live ISO: it has no \/coreos\/igninfo\.json/],
    ] as const) {
      const before = await sha256(file);
      const output = path.join(directory, `refused-${path.basename(file)}.iso`);
      for (const run of [
        () => embedIgnitionConfig(file, CONFIG, { output }),
        () => embedIgnitionConfig(file, CONFIG),
        () => removeIgnitionConfig(file, { output }),
        () => removeIgnitionConfig(file),
        () => readIgnitionConfig(file),
      ])
        expect((await refusal(run(), NotALiveIsoError)).message).toMatch(reason);
      expect(await sha256(file)).toBe(before);
      await expect(stat(output)).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });

  it('refuses a config larger than the area, naming both sizes', async () => {
    const small = await makeIso('small-area', { areaBytes: 4096 });
    const before = await sha256(small);
    // Random bytes in base64 compress to about 3/4 of their size: far more than 4096 bytes.
    const large = JSON.stringify({
      ignition: { version: '3.4.0' },
      padding: randomBytes(12_000).toString('base64'),
    });
    const error = await refusal(embedIgnitionConfig(small, large), EmbedAreaTooSmallError);
    expect(error.areaBytes).toBe(4096);
    expect(error.payloadBytes).toBeGreaterThan(4096);
    expect(error.message).toContain(`${error.payloadBytes} bytes`);
    expect(error.message).toContain('4096 bytes');
    expect(await sha256(small)).toBe(before);
    // The same ISO takes a small config.
    await embedIgnitionConfig(small, CONFIG);
    expect(await showIgnitionConfig(small)).toEqual(CONFIG);
  });

  it.each([
    ['not JSON', 'ignition: {version: 3.4.0}', /not JSON/],
    ['a JSON array', '[{"ignition":{"version":"3.4.0"}}]', /not a JSON object/],
    ['JSON without ignition.version', '{"ignition":{},"passwd":{}}', /no "ignition": \{"version"/],
    ['a version that is not X.Y.Z', '{"ignition":{"version":3}}', /no "ignition": \{"version"/],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), /not UTF-8/],
  ])('refuses a config that is %s', async (_, config, reason) => {
    const iso = await copyOf(pristine, 'invalid-config.iso');
    const before = await sha256(iso);
    const error = await refusal(
      embedIgnitionConfig(iso, config, { configName: 'bad.ign' }),
      InvalidIgnitionConfigError,
    );
    expect(error.message).toMatch(/^bad\.ign: not an Ignition config: /);
    expect(error.message).toMatch(reason);
    expect(await sha256(iso)).toBe(before);
  });
});

describe('newc archives', () => {
  it('reads an archive GNU cpio --reproducible wrote, and GNU cpio reads ours', async () => {
    const tree = await makeTempDir();
    await writeFile(path.join(tree, 'config.ign'), CONFIG, { mode: 0o644 });
    const gnu = path.join(tree, 'gnu.cpio');
    await runTool('cpio', ['--reproducible', '-o', '-H', 'newc', '-R', '0:0', '-O', gnu], {
      cwd: tree,
      input: 'config.ign\n',
    });
    const files = readNewcArchive(await readFile(gnu));
    expect(files.map(({ name, mode }) => ({ name, mode }))).toEqual([{ name: 'config.ign', mode: 0o644 }]);
    expect(Buffer.from(files[0]!.data)).toEqual(CONFIG);
    const ours = writeNewcArchive([{ name: 'config.ign', mode: 0o644, data: CONFIG }]);
    expect(ours.length % 4).toBe(0);
    const oursFile = path.join(tree, 'ours.cpio');
    await writeFile(oursFile, ours);
    const listing = await runTool('cpio', ['-itv', '--numeric-uid-gid', '-F', oursFile]);
    expect(listing.stdout).toMatch(/^-rw-r--r-- +1 +0 +0 +\d+ Jan +1 +1970 config\.ign\n$/);
  });
});

describe('the fcos-iso bin', () => {
  it('embeds from a file into -o OUT, shows it, removes it into another copy', async () => {
    const config = path.join(directory, 'bin-config.ign');
    await writeFile(config, CONFIG);
    const output = path.join(directory, 'bin-embedded.iso');
    const before = await sha256(pristine);
    const embed = await fcosIso(['ignition', 'embed', '-i', config, '-o', output, pristine]);
    expect(embed.exitCode, embed.stderr).toBe(0);
    expect(embed.stderr).toMatch(/embedded the Ignition config \(\d+ bytes, \d+ compressed/);
    expect(await sha256(pristine)).toBe(before);
    // The same bytes as the library gives for the same config.
    const library = path.join(directory, 'bin-library.iso');
    await embedIgnitionConfig(pristine, CONFIG, { output: library });
    expect(await sha256(output)).toBe(await sha256(library));
    const show = await fcosIso(['ignition', 'show', output]);
    expect(show.exitCode).toBe(0);
    expect(show.stdout).toEqual(CONFIG);
    const removed = path.join(directory, 'bin-removed.iso');
    const remove = await fcosIso(['ignition', 'remove', '-o', removed, output]);
    expect(remove.exitCode, remove.stderr).toBe(0);
    expect(await sha256(removed)).toBe(before);
    expect(await readIgnitionConfig(output)).toEqual(CONFIG);
  });

  it('reads the config from stdin with -i -, in place, and replaces it only with -f', async () => {
    const iso = await copyOf(pristine, 'bin-stdin.iso');
    const embed = await fcosIso(['ignition', 'embed', '-i', '-', iso], CONFIG);
    expect(embed.exitCode, embed.stderr).toBe(0);
    expect(await showIgnitionConfig(iso)).toEqual(CONFIG);
    const embedded = await sha256(iso);
    const again = await fcosIso(['ignition', 'embed', '-i', '-', iso], OTHER_CONFIG);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toBe(
      `fcos-iso: error: ${iso}: the ISO already has an embedded Ignition config; use -f/--force to replace it\n`,
    );
    expect(await sha256(iso)).toBe(embedded);
    const forced = await fcosIso(['ignition', 'embed', '--force', '-i', '-', iso], OTHER_CONFIG);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect((await fcosIso(['ignition', 'show', iso])).stdout).toEqual(OTHER_CONFIG);
    const remove = await fcosIso(['ignition', 'remove', iso]);
    expect(remove.exitCode).toBe(0);
    expect(await sha256(iso)).toBe(await sha256(pristine));
    const show = await fcosIso(['ignition', 'show', iso]);
    expect(show.exitCode).toBe(1);
    expect(show.stderr).toBe(`fcos-iso: error: ${iso}: no embedded Ignition config\n`);
  });

  it('refuses with one line and exit 1, leaving the files as they were; usage mistakes exit 2', async () => {
    const iso = await copyOf(pristine, 'bin-refusals.iso');
    const before = await sha256(iso);
    const notIso = path.join(directory, 'bin-not-an.iso');
    await writeFile(notIso, 'not an ISO at all\n');
    const output = path.join(directory, 'bin-refused-output.iso');
    const cases: [readonly string[], Buffer | undefined, RegExp][] = [
      [['ignition', 'embed', '-i', '-', '-o', output, notIso], CONFIG, /not an ISO 9660 image/],
      [
        ['ignition', 'embed', '-i', '-', '-o', output, iso],
        Buffer.from('{"ignition":{}}'),
        /stdin: not an Ignition config/,
      ],
      [
        ['ignition', 'embed', '-i', path.join(directory, 'missing.ign'), iso],
        undefined,
        /missing\.ign: no such file/,
      ],
      [['ignition', 'show', notIso], undefined, /not an ISO 9660 image/],
      [['ignition', 'remove', '-o', output, notIso], undefined, /not an ISO 9660 image/],
    ];
    for (const [args, input, message] of cases) {
      const result = await fcosIso(args, input);
      expect(result.exitCode, args.join(' ')).toBe(1);
      const stderr = result.stderr;
      expect(stderr).toMatch(/^fcos-iso: error: [^\n]+\n$/);
      expect(stderr).toMatch(message);
    }
    expect(await sha256(iso)).toBe(before);
    await expect(stat(output)).rejects.toMatchObject({ code: 'ENOENT' });
    for (const args of [
      [],
      ['ignition'],
      ['ignition', 'embed', iso],
      ['ignition', 'show', '-f', iso],
      ['ignition', 'show', iso, 'extra'],
      ['iso', 'embed', iso],
    ]) {
      const result = await fcosIso(args);
      expect(result.exitCode, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('Usage: fcos-iso ignition embed');
    }
    const help = await fcosIso(['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout.toString('utf8')).toContain('fcos-iso ignition remove [-o OUT] ISO');
  });
});
