/**
 * The tiny OS's coreos-installer (local-os/packages/coreos-installer/coreos-installer.sh), run by
 * the host's busybox shell as the live system runs it, against file-backed disks: its argument
 * handling, every refusal leaving the target's bytes as they were, and installs from a file, a URL,
 * a stream and the live ISO's image (a loopback HTTP server plays builds.coreos.fedoraproject.org),
 * read back with debugfs. The system paths it reads (/proc/cmdline, sysfs, the ISO, keys.d) are
 * under COREOS_INSTALLER_ROOT. The installer mounts the written boot partition through a loop
 * device at the partition's offset, so the install tests need root (CI runs as root), as the host
 * kernel's GPT partition scan is not required. The RPM it is packaged as comes from the test run's
 * shared build of the tiny OS's repository (global setup: LocalPackageRepo, for real).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runTool } from '../lib/exec.ts';
import { signFile } from '../lib/signing/file-signatures.ts';
import { gpgArguments, stopAgent } from '../lib/signing/gnupg-home.ts';
import type { SigningKey } from '../lib/signing/signing-key.ts';
import { ensureThrowawayKey, throwawayKeyFingerprint } from '../lib/signing/throwaway-key.ts';
import {
  blsEntryText,
  buildExtentsEntry,
  buildInstallImage,
  CONSOLE_COMMANDS,
  compress,
  ENTRY_PATH,
  type ExtentsEntry,
  grubLinuxLine,
  type InstallImage,
  METAL_OPTIONS,
  PLATFORMS,
  readBootFile,
} from './helpers/installer-images.ts';

const SCRIPT = path.resolve(import.meta.dirname, '../local-os/packages/coreos-installer/coreos-installer.sh');
const GRUB_CONFIG = path.resolve(import.meta.dirname, '../local-os/packages/ostree-grub2/grub-config.sh');
/** The longest one installer run may take (a 14 MiB image; each run takes well under a second). */
const RUN_TIMEOUT_MS = 30_000;
/** Size of the file-backed target disks: larger than the 14 MiB images. */
const DISK_SIZE = 20 * 1024 * 1024;

/** A valid Ignition config (spec 3.3.0: Debian's ignition-validate 2.14 knows up to 3.3). */
const CONFIG = `${JSON.stringify({
  ignition: { version: '3.3.0' },
  storage: { files: [{ path: '/etc/hello', mode: 420, contents: { source: 'data:,installed' } }] },
})}\n`;
/** An Ignition config ignition-validate refuses: a relative path. */
const INVALID_CONFIG = JSON.stringify({
  ignition: { version: '3.3.0' },
  storage: { files: [{ path: 'etc/x' }] },
});

let temp: string;
let scratch: string;
let tmpdir: string;
let image512: InstallImage;
let image4k: InstallImage;
/** Signed by the trusted key: `<file>.sig` beside each. */
let signed512Xz: string;
let signed4kXz: string;
let unsignedGz: string;
let trustedKeyring: string;
let trustedHome: string;
let otherHome: string;
let trustedKey: SigningKey;
let otherKey: SigningKey;
let server: Server;
let baseUrl: string;
/** URL path → body the server answers with (anything else: 404). */
const served = new Map<string, Buffer>();
/** `METHOD path` of every request, in order. */
const requests: string[] = [];

/** sha256 of a file, hex. */
async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/** A SigningKey for a throwaway key home (nothing to release: the homes go with the temp dir). */
async function keyOf(cacheDirectory: string): Promise<SigningKey> {
  const gnupgHome = await ensureThrowawayKey(runTool, cacheDirectory);
  const fingerprint = await throwawayKeyFingerprint(cacheDirectory);
  if (fingerprint === undefined) throw new Error(`no throwaway key in ${cacheDirectory}`);
  return { fingerprint, gnupgHome, source: 'throwaway', release: async () => {} };
}

/** Serves `file`'s bytes at URL path `urlPath`; returns the full URL. */
async function serve(urlPath: string, file: string): Promise<string> {
  served.set(urlPath, await readFile(file));
  return `${baseUrl}${urlPath}`;
}

/** A new target disk of `size` random bytes; returns its path and digest. */
async function randomDisk(name: string, size = DISK_SIZE): Promise<{ path: string; digest: string }> {
  const file = path.join(temp, 'disks', `${name}.img`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, randomBytes(size));
  return { path: file, digest: await sha256(file) };
}

/** What {@link makeRoot} puts under a COREOS_INSTALLER_ROOT. */
interface RootOptions {
  /** Trust the test key (its keyring in /etc/coreos-installer/keys.d). @default true */
  readonly trustKey?: boolean;
  /** /proc/cmdline. */
  readonly cmdline?: string;
  /** Logical sector size of block device names (sysfs), e.g. a target file's name. */
  readonly sectorSizes?: Record<string, number>;
  /** Files of the mounted live ISO (path under /run/media/iso → content). */
  readonly iso?: Record<string, Buffer | string>;
}

let rootCount = 0;

/** A fresh COREOS_INSTALLER_ROOT: keys.d, ostree-grub2's grub-config, and what `options` says. */
async function makeRoot(options: RootOptions = {}): Promise<string> {
  const root = path.join(temp, 'roots', String(rootCount++));
  await mkdir(path.join(root, 'etc/coreos-installer/keys.d'), { recursive: true });
  await mkdir(path.join(root, 'usr/lib/coreos-installer/keys.d'), { recursive: true });
  if (options.trustKey !== false) {
    await copyFile(trustedKeyring, path.join(root, 'etc/coreos-installer/keys.d/test.gpg'));
  }
  // The guest's grub.cfg generator, run by busybox's shell as in the tiny OS.
  const grubConfig = path.join(root, 'usr/libexec/ostree-grub2/grub-config');
  await mkdir(path.dirname(grubConfig), { recursive: true });
  await writeFile(grubConfig, `#!/bin/sh\nexec busybox sh '${GRUB_CONFIG}' "$@"\n`);
  await chmod(grubConfig, 0o755);
  if (options.cmdline !== undefined) {
    await mkdir(path.join(root, 'proc'), { recursive: true });
    await writeFile(path.join(root, 'proc/cmdline'), `${options.cmdline}\n`);
  }
  for (const [name, size] of Object.entries(options.sectorSizes ?? {})) {
    const queue = path.join(root, 'sys/class/block', name, 'queue');
    await mkdir(queue, { recursive: true });
    await writeFile(path.join(queue, 'logical_block_size'), `${size}\n`);
  }
  for (const [file, content] of Object.entries(options.iso ?? {})) {
    const target = path.join(root, 'run/media/iso', file);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, content);
  }
  return root;
}

/** Runs `coreos-installer ARGS` with busybox's shell under `root`. */
async function installer(args: readonly string[], root: string) {
  const result = await execa('busybox', ['sh', SCRIPT, ...args], {
    reject: false,
    timeout: RUN_TIMEOUT_MS,
    cwd: temp,
    env: { COREOS_INSTALLER_ROOT: root, TMPDIR: tmpdir },
  });
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

/** The `coreos-installer: error:` lines of an output. */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('coreos-installer: error:'));
}

/** Checks that `disk` holds `image` outside its boot partition, and returns the boot files it checks. */
async function expectImageWritten(disk: string, image: InstallImage): Promise<void> {
  const written = await readFile(disk);
  const original = await readFile(image.raw);
  const bootEnd = image.bootOffset + image.bootSize;
  expect(written.subarray(0, image.bootOffset).equals(original.subarray(0, image.bootOffset))).toBe(true);
  expect(written.subarray(bootEnd, image.size).equals(original.subarray(bootEnd, image.size))).toBe(true);
  expect(written.length).toBe(DISK_SIZE);
}

beforeAll(async () => {
  temp = await mkdtemp(path.join(os.tmpdir(), 'fcos-installer-'));
  scratch = path.join(temp, 'scratch');
  tmpdir = path.join(temp, 'tmp');
  await mkdir(scratch);
  await mkdir(tmpdir);
  const images = path.join(temp, 'images');
  await mkdir(images);
  image512 = await buildInstallImage(images, 512);
  image4k = await buildInstallImage(images, 4096);
  trustedHome = path.join(temp, 'trusted');
  otherHome = path.join(temp, 'other');
  trustedKey = await keyOf(trustedHome);
  otherKey = await keyOf(otherHome);
  trustedKeyring = path.join(temp, 'trusted.gpg');
  await runTool('gpg', gpgArguments(trustedKey.gnupgHome, '--export', trustedKey.fingerprint), {
    stdoutFile: trustedKeyring,
  });
  signed512Xz = await compress(image512.raw, 'xz');
  signed4kXz = await compress(image4k.raw, 'xz');
  await signFile(runTool, trustedKey, signed512Xz);
  await signFile(runTool, trustedKey, signed4kXz);
  unsignedGz = await compress(image512.raw, 'gzip');
  server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    const body = served.get(request.url ?? '');
    if (body === undefined) {
      response.statusCode = 404;
      response.end('not found\n');
      return;
    }
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await writeFile(path.join(temp, 'config.ign'), CONFIG);
  await writeFile(path.join(temp, 'invalid.ign'), INVALID_CONFIG);
}, 120_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  for (const key of [trustedKey, otherKey]) if (key) await stopAgent(key.gnupgHome);
  if (temp) await rm(temp, { recursive: true, force: true });
});

describe('coreos-installer: arguments', () => {
  it('prints usage and exits 2 for unknown options, missing values, clashes and bad values; --help exits 0', async () => {
    const root = await makeRoot();
    const disk = await randomDisk('arguments');
    const cases: [readonly string[], RegExp][] = [
      [[], /Usage: coreos-installer <COMMAND>/],
      [['iso', 'ignition', 'embed'], /unrecognized subcommand 'iso'/],
      [['install', '--frobnicate', disk.path], /unexpected argument '--frobnicate' found/],
      [['install', disk.path, '-i'], /a value is required for '-i' but none was supplied/],
      [['install', disk.path, '--append-karg'], /a value is required for '--append-karg'/],
      [
        ['install', '-f', 'a.raw', '-u', 'http://x/a.raw', disk.path],
        /'--image-file' cannot be used with '--image-url'/,
      ],
      [
        ['install', '-s', 'stable', '-f', 'a.raw', disk.path],
        /'--image-file' cannot be used with '--stream'/,
      ],
      [
        ['install', '-i', 'a.ign', '-I', 'https://x/a.ign', disk.path],
        /'--ignition-file' cannot be used with '--ignition-url'/,
      ],
      [['install', '--offline', '-s', 'stable', disk.path], /'--offline' cannot be used with '--stream'/],
      [['install', '--stream', 'a', '--stream=b', disk.path], /'--stream' cannot be used multiple times/],
      [['install', '--ignition-hash', 'md5-00', disk.path], /invalid value 'md5-00' for '--ignition-hash/],
      [['install', '--ignition-hash', 'sha256-abc', disk.path], /wrong digest length/],
      [['install', '--fetch-retries', 'often', disk.path], /invalid value 'often' for '--fetch-retries/],
      [['install', '--insecure'], /required arguments were not provided: <DEST_DEVICE>/],
      [['install', disk.path, 'extra'], /unexpected argument 'extra' found/],
      [
        ['install', '--console', 'ttyS0,115200p8', disk.path],
        /invalid value 'ttyS0,115200p8' for '--console <spec>': invalid or unsupported console argument/,
      ],
      [['install', '--console', 'tty1', disk.path], /invalid value 'tty1' for '--console <spec>'/],
      [['install', '--console=console=ttyS0', disk.path], /spec should not start with "console="/],
      [['install', '--console', 'ttyS256', disk.path], /invalid value 'ttyS256'/],
      [['install', '-c'], /a value is required for '-c'/],
    ];
    for (const [args, message] of cases) {
      const result = await installer(args, root);
      expect(result.exitCode, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr, args.join(' ')).toMatch(/Usage: coreos-installer/);
    }
    const help = await installer(['install', '--help'], root);
    expect(help.exitCode).toBe(0);
    for (const option of [
      '--ignition-file',
      '--image-url',
      '--stream-base-url',
      '--append-karg',
      '--insecure',
    ]) {
      expect(help.stdout).toContain(option);
    }
    expect(await sha256(disk.path)).toBe(disk.digest);
  });
});

describe('coreos-installer: refusals leave the target untouched', () => {
  it('refuses a bad device, config, image, signature or geometry with one error line, exit 1', async () => {
    const root = await makeRoot();
    const untrustingRoot = await makeRoot({ trustKey: false });
    const disk = await randomDisk('refusals');
    const small = await randomDisk('small', 8 * 1024 * 1024);
    // A signature by the trusted key of other bytes (bad), and a good signature by an unknown key.
    const badSignatureImage = path.join(temp, 'bad-signature.raw.xz');
    await copyFile(signed512Xz, badSignatureImage);
    const decoy = path.join(temp, 'decoy');
    await writeFile(decoy, 'not the image\n');
    await signFile(runTool, trustedKey, decoy, `${badSignatureImage}.sig`);
    const unknownKeyImage = path.join(temp, 'unknown-key.raw.xz');
    await copyFile(signed512Xz, unknownKeyImage);
    await signFile(runTool, otherKey, unknownKeyImage);
    const notGpt = path.join(temp, 'not-gpt.raw');
    await writeFile(notGpt, Buffer.alloc(1024 * 1024, 7));
    const configUrl = await serve('/refusals/config.ign', path.join(temp, 'config.ign'));
    const wrongHash = `sha256-${'0'.repeat(64)}`;
    const install = ['install', '-f', signed512Xz];
    const cases: [string, readonly string[], RegExp, string?][] = [
      ['missing device', [...install, path.join(temp, 'no-such-disk')], /no-such-disk does not exist/],
      ['a directory', [...install, scratch], /is not a block device/],
      [
        'invalid config',
        [...install, '-i', path.join(temp, 'invalid.ign'), disk.path],
        /does not validate: .*path not absolute/,
      ],
      [
        'missing config',
        [...install, '-i', path.join(temp, 'nope.ign'), disk.path],
        /opening source Ignition config/,
      ],
      [
        'config hash',
        [...install, '-i', path.join(temp, 'config.ign'), '--ignition-hash', wrongHash, disk.path],
        /does not match --ignition-hash/,
      ],
      [
        'config over HTTP',
        [...install, '-I', configUrl, disk.path],
        /refusing to fetch Ignition config over HTTP/,
      ],
      ['config URL scheme', [...install, '-I', 'ftp://x/c.ign', disk.path], /unknown protocol/],
      [
        'missing signature',
        ['install', '-f', unsignedGz, disk.path],
        /signature not found for image metal-512.raw.gz \(--insecure not specified\)/,
      ],
      [
        'bad signature',
        ['install', '-f', badSignatureImage, disk.path],
        /bad signature on image bad-signature.raw.xz/,
      ],
      [
        'unknown key',
        ['install', '-f', unknownKeyImage, disk.path],
        new RegExp(
          `signed by key [0-9A-F]*${otherKey.fingerprint.slice(-16)}, which is not among the trusted keys`,
        ),
      ],
      ['no trusted keys', [...install, disk.path], /no trusted keys to verify image/, untrustingRoot],
      [
        '4Kn image, 512 disk',
        ['install', '-f', signed4kXz, disk.path],
        /has 4096-byte sectors but .* has 512-byte logical sectors/,
      ],
      [
        'disk too small',
        [...install, small.path],
        /small.img \(8388608 bytes\) is smaller than image metal-512.raw.xz \(14680064 bytes\)/,
      ],
      ['not a disk image', ['install', '--insecure', '-f', notGpt, disk.path], /has no GPT header/],
      [
        'no image option, no ISO',
        ['install', disk.path],
        /no image to install: give --image-file, --image-url or --stream/,
      ],
      ['offline without ISO', ['install', '--offline', disk.path], /cannot perform offline install/],
    ];
    for (const [name, args, message, caseRoot] of cases) {
      const result = await installer(args, caseRoot ?? root);
      expect(result.exitCode, `${name}: ${result.stderr}`).toBe(1);
      expect(errorLines(result.stderr), name).toEqual([expect.stringMatching(message)]);
      expect(result.stderr, name).not.toContain('Installing metal');
    }
    expect(await sha256(disk.path)).toBe(disk.digest);
    expect(await sha256(small.path)).toBe(small.digest);
    // Every run removed its temporary directory.
    expect(await readdir(tmpdir)).toEqual([]);
  });
});

describe('coreos-installer: installs', () => {
  it('writes a signed image file, embeds the Ignition config and edits the kernel arguments', async () => {
    const root = await makeRoot();
    const disk = await randomDisk('file-install');
    const result = await installer(
      [
        'install',
        '--image-file',
        signed512Xz,
        '--ignition-file',
        path.join(temp, 'config.ign'),
        `--ignition-hash=sha256-${createHash('sha256').update(CONFIG).digest('hex')}`,
        '--append-karg',
        'nosmt',
        '--append-karg=systemd.unified_cgroup_hierarchy=1',
        '--delete-karg',
        'mitigations=auto,nosmt',
        '--delete-karg',
        'console=tty0',
        '-p',
        'qemu',
        disk.path,
      ],
      root,
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr.split('\n')).toEqual([
      `Copying image from ${signed512Xz}`,
      `Reading signature from ${signed512Xz}.sig`,
      `Verified the signature of metal-512.raw.xz (key ${trustedKey.fingerprint})`,
      `Installing metal-512.raw.xz to ${disk.path}`,
      'Writing Ignition config',
      'Setting platform to qemu',
      'Modifying kernel arguments',
      'Install complete.',
    ]);
    await expectImageWritten(disk.path, image512);
    const config = await readBootFile(disk.path, image512, '/ignition/config.ign', scratch);
    expect(config).toEqual({ text: CONFIG, mode: 0o600 });
    const options =
      'root=LABEL=root rw ostree=/ostree/boot.1/fedora-coreos/abc/0 $ignition_firstboot ignition.platform.id=qemu console=ttyS0,115200n8 nosmt systemd.unified_cgroup_hierarchy=1';
    expect((await readBootFile(disk.path, image512, ENTRY_PATH, scratch)).text).toBe(blsEntryText(options));
    const grub = (await readBootFile(disk.path, image512, '/grub2/grub.cfg', scratch)).text;
    expect(grub).toContain(`${grubLinuxLine(options)}\n`);
    expect(grub).not.toContain(METAL_OPTIONS);
    expect(grub).toContain('serial --speed=115200');
    expect(await readdir(tmpdir)).toEqual([]);
  });

  it('downloads --image-url (gzip, no signature: only with --insecure) and an Ignition config over HTTP with a hash', async () => {
    const root = await makeRoot();
    const disk = await randomDisk('url-install');
    const imageUrl = await serve('/url/metal.raw.gz', unsignedGz);
    const configUrl = await serve('/url/config.ign', path.join(temp, 'config.ign'));
    const sha512 = createHash('sha512').update(CONFIG).digest('hex');
    const before = requests.length;
    const result = await installer(
      [
        'install',
        '-u',
        imageUrl,
        '--insecure',
        '-I',
        configUrl,
        '--ignition-hash',
        `sha512-${sha512}`,
        disk.path,
      ],
      root,
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('Signature not found; skipping verification as requested');
    expect(requests.slice(before)).toEqual([
      'GET /url/config.ign',
      'GET /url/metal.raw.gz',
      'GET /url/metal.raw.gz.sig',
    ]);
    await expectImageWritten(disk.path, image512);
    expect((await readBootFile(disk.path, image512, '/ignition/config.ign', scratch)).text).toBe(CONFIG);
    // Nothing asked for kernel arguments: the entry is the image's.
    expect((await readBootFile(disk.path, image512, ENTRY_PATH, scratch)).text).toBe(
      blsEntryText(METAL_OPTIONS),
    );
  });

  it("writes a zstd image, as Fedora's coreos-installer does (gzip, xz and zstd by magic)", async () => {
    const root = await makeRoot();
    const disk = await randomDisk('zstd-install');
    const image = await compress(image512.raw, 'zstd');
    const result = await installer(['install', '--image-file', image, '--insecure', disk.path], root);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(`Installing ${path.basename(image)} to ${disk.path}`);
    await expectImageWritten(disk.path, image512);
    // A truncated zstd stream fails the write (and the partition table is cleared), as for xz.
    const truncated = path.join(temp, 'truncated.raw.zst');
    await writeFile(truncated, (await readFile(image)).subarray(0, Math.floor((await stat(image)).size / 2)));
    const broken = await installer(['install', '--image-file', truncated, '--insecure', disk.path], root);
    expect(broken.exitCode).toBe(1);
    expect(broken.stderr).toMatch(/coreos-installer: error: decompressing image truncated.raw.zst failed/);
  });

  it('installs from a stream: the metal image its metadata names, 4k.raw.xz on a 4Kn disk; a wrong sha256 refuses', async () => {
    const location512 = await serve('/prod/metal.x86_64.raw.xz', signed512Xz);
    const signature512 = await serve('/prod/metal.x86_64.raw.xz.sig', `${signed512Xz}.sig`);
    const location4k = await serve('/prod/metal4k.x86_64.raw.xz', signed4kXz);
    const signature4k = await serve('/prod/metal4k.x86_64.raw.xz.sig', `${signed4kXz}.sig`);
    const disk512 = { location: location512, signature: signature512, sha256: await sha256(signed512Xz) };
    const disk4k = { location: location4k, signature: signature4k, sha256: await sha256(signed4kXz) };
    const stream = (disks: Record<string, object>) =>
      Buffer.from(
        JSON.stringify({
          stream: 'testing',
          architectures: {
            x86_64: {
              artifacts: {
                metal: {
                  release: '41.20261130.2.0',
                  formats: Object.fromEntries(
                    Object.entries(disks).map(([format, disk]) => [format, { disk }]),
                  ),
                },
              },
            },
          },
        }),
      );
    served.set('/streams/testing.json', stream({ 'raw.xz': disk512, '4k.raw.xz': disk4k }));
    served.set(
      '/streams/broken.json',
      stream({ 'raw.xz': { ...disk512, sha256: await sha256(signed4kXz) } }),
    );
    const disk = await randomDisk('stream-512');
    const disk4kTarget = await randomDisk('stream-4k');
    const root = await makeRoot({ sectorSizes: { [path.basename(disk4kTarget.path)]: 4096 } });
    const streamBase = `${baseUrl}/streams/`;

    const before = requests.length;
    const result = await installer(
      ['install', '-s', 'testing', '--stream-base-url', streamBase, disk.path],
      root,
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      `Downloading x86_64 metal image (raw.xz) and signature referenced from ${baseUrl}/streams/testing.json`,
    );
    expect(requests.slice(before)).toEqual([
      'GET /streams/testing.json',
      'GET /prod/metal.x86_64.raw.xz',
      'GET /prod/metal.x86_64.raw.xz.sig',
    ]);
    await expectImageWritten(disk.path, image512);

    const result4k = await installer(
      [
        'install',
        '-s',
        'testing',
        '--stream-base-url',
        streamBase,
        '-i',
        path.join(temp, 'config.ign'),
        disk4kTarget.path,
      ],
      root,
    );
    expect(result4k.exitCode, result4k.stderr).toBe(0);
    expect(result4k.stderr).toContain('metal image (4k.raw.xz)');
    expect(result4k.stderr).toContain(`Installing metal4k.x86_64.raw.xz to ${disk4kTarget.path}`);
    await expectImageWritten(disk4kTarget.path, image4k);
    const header = (await readFile(disk4kTarget.path)).subarray(4096, 4104).toString('latin1');
    expect(header).toBe('EFI PART');
    expect((await readBootFile(disk4kTarget.path, image4k, '/ignition/config.ign', scratch)).text).toBe(
      CONFIG,
    );

    const broken = await randomDisk('stream-broken');
    const refused = await installer(
      ['install', '-s', 'broken', '--stream-base-url', streamBase, broken.path],
      root,
    );
    expect(refused.exitCode).toBe(1);
    expect(errorLines(refused.stderr)).toEqual([
      `coreos-installer: error: sha256 mismatch for image metal.x86_64.raw.xz: expected ${await sha256(signed4kXz)}, computed ${await sha256(signed512Xz)}`,
    ]);
    expect(await sha256(broken.path)).toBe(broken.digest);
    const otherArch = await installer(
      ['install', '-s', 'testing', '--stream-base-url', streamBase, '-a', 'aarch64', broken.path],
      root,
    );
    expect(errorLines(otherArch.stderr)).toEqual([
      expect.stringMatching(
        /couldn't find architecture aarch64, platform metal, format raw.xz in stream metadata/,
      ),
    ]);
    expect(await sha256(broken.path)).toBe(broken.digest);
  });

  it("installs the live ISO's image of the disk's sector size (sha256 checked, no signature) with --offline", async () => {
    const disk = await randomDisk('iso-512');
    const disk4kTarget = await randomDisk('iso-4k');
    const metal = {
      images: [
        { file: 'images/metal/metal.raw.xz', sha256: await sha256(signed512Xz), sectorSize: 512 },
        // The 4096 entry's sha256 is not its file's: the 4Kn disk must refuse it, the 512 one never reads it.
        { file: 'images/metal/metal4k.raw.xz', sha256: await sha256(signed512Xz), sectorSize: 4096 },
      ],
    };
    const root = await makeRoot({
      trustKey: false,
      sectorSizes: { [path.basename(disk4kTarget.path)]: 4096 },
      iso: {
        'coreos/metal.json': JSON.stringify(metal),
        'images/metal/metal.raw.xz': await readFile(signed512Xz),
        'images/metal/metal4k.raw.xz': await readFile(signed4kXz),
      },
    });
    const result = await installer(
      ['install', '--offline', '-i', path.join(temp, 'config.ign'), disk.path],
      root,
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      'Installing images/metal/metal.raw.xz from the live ISO (512-byte sectors)',
    );
    await expectImageWritten(disk.path, image512);
    expect((await readBootFile(disk.path, image512, '/ignition/config.ign', scratch)).text).toBe(CONFIG);

    const refused = await installer(['install', disk4kTarget.path], root);
    expect(refused.exitCode).toBe(1);
    expect(errorLines(refused.stderr)).toEqual([
      expect.stringMatching(
        /^coreos-installer: error: sha256 mismatch for image images\/metal\/metal4k.raw.xz/,
      ),
    ]);
    expect(await sha256(disk4kTarget.path)).toBe(disk4kTarget.digest);
  });

  it('installs from coreos.inst.* kernel arguments with --from-kargs', async () => {
    const disk = await randomDisk('kargs');
    const imageUrl = await serve('/kargs/metal.raw.xz', signed512Xz);
    await serve('/kargs/metal.raw.xz.sig', `${signed512Xz}.sig`);
    const configUrl = await serve('/kargs/config.ign', path.join(temp, 'config.ign'));
    const root = await makeRoot({
      cmdline: `BOOT_IMAGE=/images/pxeboot/vmlinuz coreos.inst.install_dev=${disk.path} coreos.inst.image_url=${imageUrl} coreos.inst.ignition_url=${configUrl} coreos.inst.platform_id=qemu console=ttyS0`,
    });
    const result = await installer(['install', '--from-kargs'], root);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr.split('\n')[0]).toBe(
      `coreos-installer install ${disk.path} --ignition-url ${configUrl} --image-url ${imageUrl} --platform qemu`,
    );
    await expectImageWritten(disk.path, image512);
    expect((await readBootFile(disk.path, image512, '/ignition/config.ign', scratch)).text).toBe(CONFIG);
    expect((await readBootFile(disk.path, image512, ENTRY_PATH, scratch)).text).toBe(
      blsEntryText(METAL_OPTIONS.replace('ignition.platform.id=metal', 'ignition.platform.id=qemu')),
    );
    const noDevice = await installer(['install', '--from-kargs'], await makeRoot({ cmdline: 'quiet' }));
    expect(noDevice.exitCode).toBe(1);
    expect(errorLines(noDevice.stderr)).toEqual([
      'coreos-installer: error: no install device specified (coreos.inst.install_dev=)',
    ]);
  });
});

/** The lines between grub.cfg's console-settings markers. */
function consoleSettings(grub: string): string[] {
  const lines = grub.split('\n');
  const start = lines.indexOf('# CONSOLE-SETTINGS-START');
  const end = lines.indexOf('# CONSOLE-SETTINGS-END');
  if (start < 0 || end < start) throw new Error('grub.cfg has no console-settings markers');
  return lines.slice(start + 1, end);
}

/** The metal options with the platform id replaced, `deleted` arguments removed and `appended` added. */
function editedOptions(platform: string, deleted: readonly string[], appended: readonly string[]): string {
  const kept = METAL_OPTIONS.replace('ignition.platform.id=metal', `ignition.platform.id=${platform}`)
    .split(' ')
    .filter((argument) => !deleted.includes(argument));
  return [...kept, ...appended].join(' ');
}

/** The BLS options and grub.cfg of the boot partition of an installed 512-byte disk. */
async function bootConfiguration(disk: string): Promise<{ options: string; grub: string }> {
  const entry = (await readBootFile(disk, image512, ENTRY_PATH, scratch)).text;
  const options = /^options (.*)$/m.exec(entry)?.[1];
  if (options === undefined) throw new Error(`no options line in ${entry}`);
  expect(entry).toBe(blsEntryText(options));
  return { options, grub: (await readBootFile(disk, image512, '/grub2/grub.cfg', scratch)).text };
}

describe("coreos-installer: the live ISO's data-extents images", () => {
  /** A COREOS_INSTALLER_ROOT whose ISO holds `entries` (each entry's data at its `file`). */
  async function extentsRoot(entries: readonly ExtentsEntry[], sectorSizes: Record<string, number> = {}) {
    const iso: Record<string, Buffer | string> = {
      'coreos/metal.json': JSON.stringify({ images: entries.map(({ entry }) => entry) }),
    };
    for (const { entry, data } of entries) iso[entry.file] = data;
    return makeRoot({ trustKey: false, sectorSizes, iso });
  }

  it('zeroes the image range and writes the extents: the disk holds the image byte for byte, past it its old bytes', async () => {
    // The 512 image plus 7 random sectors: its size is a multiple of neither 4 MiB (the zeroing's
    // block) nor 64 KiB (the extents' chunk), so the last extent ends in a 3584-byte tail.
    const tail = 7 * 512;
    const raw = path.join(temp, 'images', 'metal-odd.raw');
    await writeFile(raw, Buffer.concat([await readFile(image512.raw), randomBytes(tail)]));
    const packed = await buildExtentsEntry(raw, 'images/metal/metal-odd.raw.extents', 512);
    const { size, extents } = packed.entry;
    expect(size % (4 * 1024 * 1024)).not.toBe(0);
    const [lastOffset, lastLength] = extents.at(-1)!;
    expect([lastLength % 65536, lastOffset + lastLength]).toEqual([tail, size]);
    expect(extents.length).toBeGreaterThan(2);
    // The zeroing matters only if the image has zero ranges that the random disk does not.
    expect(packed.zeroBytes).toBeGreaterThan(1024 * 1024);
    const root = await extentsRoot([packed]);
    const disk = await randomDisk('extents-512');
    const before = await readFile(disk.path);
    const result = await installer(['install', '--offline', disk.path], root);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr.split('\n')).toEqual([
      `Installing images/metal/metal-odd.raw.extents from the live ISO (512-byte sectors, ${extents.length} extents)`,
      `Installing images/metal/metal-odd.raw.extents to ${disk.path}`,
      'Install complete.',
    ]);
    const written = await readFile(disk.path);
    expect(createHash('sha256').update(written.subarray(0, size)).digest('hex')).toBe(await sha256(raw));
    expect(written.subarray(size).equals(before.subarray(size))).toBe(true);
    expect(written.length).toBe(DISK_SIZE);
    expect(await readdir(tmpdir)).toEqual([]);
  });

  it('installs the 4Kn entry on a 4Kn disk with an Ignition config and kernel arguments', async () => {
    const entry512 = await buildExtentsEntry(image512.raw, 'images/metal/metal.raw.extents', 512);
    const entry4k = await buildExtentsEntry(image4k.raw, 'images/metal/metal4k.raw.extents', 4096);
    const disk = await randomDisk('extents-4k');
    const root = await extentsRoot([entry512, entry4k], { [path.basename(disk.path)]: 4096 });
    const result = await installer(
      ['install', '-i', path.join(temp, 'config.ign'), '--append-karg', 'nosmt', disk.path],
      root,
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr.split('\n')[0]).toBe(
      `Installing images/metal/metal4k.raw.extents from the live ISO (4096-byte sectors, ${entry4k.entry.extents.length} extents)`,
    );
    await expectImageWritten(disk.path, image4k);
    expect(await readBootFile(disk.path, image4k, '/ignition/config.ign', scratch)).toEqual({
      text: CONFIG,
      mode: 0o600,
    });
    expect((await readBootFile(disk.path, image4k, ENTRY_PATH, scratch)).text).toBe(
      blsEntryText(`${METAL_OPTIONS} nosmt`),
    );
  });

  it('refuses a wrong sha256, extents that do not add up or leave the image, and a too-small disk, before writing', async () => {
    const good = await buildExtentsEntry(image512.raw, 'images/metal/metal.raw.extents', 512);
    const { extents, size } = good.entry;
    /** `good` with its entry's fields replaced. */
    const variant = (fields: Partial<ExtentsEntry['entry']>): ExtentsEntry => ({
      ...good,
      entry: { ...good.entry, ...fields },
    });
    const [firstOffset, firstLength] = extents[0]!;
    const cases: [string, ExtentsEntry, RegExp, number?][] = [
      [
        'sha256',
        variant({ sha256: '0'.repeat(64) }),
        /sha256 mismatch for image images\/metal\/metal.raw.extents/,
      ],
      [
        'last extent dropped',
        variant({ extents: extents.slice(0, -1) }),
        new RegExp(
          `damaged metadata for image .*: its extents add up to ${good.data.length - extents.at(-1)![1]} bytes but the data file has ${good.data.length}$`,
        ),
      ],
      [
        'overlapping extents',
        variant({
          extents: [[firstOffset, firstLength], [firstOffset, extents[1]![1]], ...extents.slice(2)],
        }),
        new RegExp(
          `damaged metadata for image .*: extent 2 \\(offset ${firstOffset}\\) overlaps or precedes the one before$`,
        ),
      ],
      [
        'past the image',
        variant({ size: size - 65536 }),
        /damaged metadata for image .*: extent \d+ \(\d+, \d+\) ends past the image size/,
      ],
      [
        'not pairs',
        variant({ extents: [[0, 'a' as unknown as number]] }),
        /extents are not a list of \[offset, length\] pairs/,
      ],
      [
        'too small',
        good,
        new RegExp(`is smaller than image images/metal/metal.raw.extents \\(${size} bytes\\)`),
        8 * 1024 * 1024,
      ],
    ];
    for (const [name, entry, message, diskSize] of cases) {
      const root = await extentsRoot([entry]);
      const disk = await randomDisk(`extents-refused-${name.replaceAll(' ', '-')}`, diskSize);
      const result = await installer(['install', disk.path], root);
      expect(result.exitCode, name).toBe(1);
      expect(errorLines(result.stderr), name).toEqual([expect.stringMatching(message)]);
      expect(await sha256(disk.path), name).toBe(disk.digest);
    }
    expect(await readdir(tmpdir)).toEqual([]);
  });

  it('clears the partition table when the install fails after the extents were written', async () => {
    // The boot filesystem's superblock zeroed: the extents are written fine, the mount fails.
    const damaged = path.join(temp, 'images', 'metal-damaged.raw');
    const bytes = await readFile(image512.raw);
    bytes.fill(0, image512.bootOffset, image512.bootOffset + 64 * 1024);
    await writeFile(damaged, bytes);
    const packed = await buildExtentsEntry(damaged, 'images/metal/metal-damaged.raw.extents', 512);
    const root = await extentsRoot([packed]);
    const disk = await randomDisk('extents-damaged');
    const result = await installer(['install', '-i', path.join(temp, 'config.ign'), disk.path], root);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('Clearing partition table');
    expect(errorLines(result.stderr).at(-1)).toBe('coreos-installer: error: install failed');
    const written = await readFile(disk.path);
    expect(written.subarray(0, 1024 * 1024).equals(Buffer.alloc(1024 * 1024))).toBe(true);
    expect(
      written.subarray(1024 * 1024, image512.size).equals(bytes.subarray(1024 * 1024, image512.size)),
    ).toBe(true);
  });
});

describe('coreos-installer: consoles, platforms and config files', () => {
  const metalKargs = PLATFORMS.metal?.kernel_arguments ?? [];

  it('--console sets console= arguments and GRUB serial/terminal commands, over the platform', async () => {
    const root = await makeRoot();
    const disk = await randomDisk('console');
    const result = await installer(
      [
        'install',
        '-f',
        signed512Xz,
        '--console',
        'ttyS1,57600e7',
        '--console=tty0',
        '--console',
        'ttyS0',
        '-p',
        'packet',
        '--append-karg',
        'console=ttyS2',
        disk.path,
      ],
      root,
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      'Setting platform to packet\nConfiguring console settings\nModifying kernel arguments\n' +
        'Note: consider using "--console ttyS2" instead of "--append-karg console=ttyS2" to configure both kernel and bootloader consoles.\n',
    );
    const { options, grub } = await bootConfiguration(disk.path);
    // The metal console arguments go, packet's are not added (--console overrides the platform).
    expect(options).toBe(
      editedOptions('packet', metalKargs, [
        'console=ttyS1,57600e7',
        'console=tty0',
        'console=ttyS0,9600n8',
        'console=ttyS2',
      ]),
    );
    expect(options).not.toContain(PLATFORMS.packet?.kernel_arguments?.[0]);
    expect(consoleSettings(grub)).toEqual([
      'serial --unit=1 --speed=57600 --word=7 --parity=even',
      'serial --unit=0 --speed=9600 --word=8 --parity=no',
      'terminal_input console serial',
      'terminal_output console serial',
    ]);
    // grub-config regenerated the menu with the new options and kept the console block.
    expect(grub).toContain(`${grubLinuxLine(options)}\n`);
  });

  it("--platform applies the platform's kernel arguments and GRUB commands from platforms.json", async () => {
    const root = await makeRoot();
    const packet = PLATFORMS.packet;
    const azure = PLATFORMS.azure;
    // The table must have what the test relies on: packet's GRUB commands differ from metal's, azure has none.
    expect(packet?.grub_commands).not.toEqual(CONSOLE_COMMANDS);
    expect(packet?.kernel_arguments?.length).toBeGreaterThan(0);
    expect(azure?.grub_commands).toBeUndefined();
    const disk = await randomDisk('platform-packet');
    const result = await installer(['install', '-f', signed512Xz, '-p', 'packet', disk.path], root);
    expect(result.exitCode, result.stderr).toBe(0);
    const packetBoot = await bootConfiguration(disk.path);
    expect(packetBoot.options).toBe(editedOptions('packet', metalKargs, packet?.kernel_arguments ?? []));
    expect(consoleSettings(packetBoot.grub)).toEqual(packet?.grub_commands);
    expect(packetBoot.grub).toContain(`${grubLinuxLine(packetBoot.options)}\n`);

    const azureDisk = await randomDisk('platform-azure');
    const azureResult = await installer(['install', '-f', signed512Xz, '-p', 'azure', azureDisk.path], root);
    expect(azureResult.exitCode, azureResult.stderr).toBe(0);
    const azureBoot = await bootConfiguration(azureDisk.path);
    expect(azureBoot.options).toBe(editedOptions('azure', metalKargs, azure?.kernel_arguments ?? []));
    expect(consoleSettings(azureBoot.grub)).toEqual([]);
  });

  it('reads -c config files (block and flow lists; later files, then the command line, win; lists add up)', async () => {
    const root = await makeRoot();
    const disk = await randomDisk('config-files');
    const first = path.join(temp, 'first.yaml');
    const second = path.join(temp, 'second.yaml');
    await writeFile(
      first,
      [
        '# block lists, comments, quoting',
        `image-file: ${signed512Xz}`,
        'platform: packet',
        'append-karg:',
        '  - first=1   # a comment',
        "  - 'quoted=it''s'",
        "delete-karg: ['mitigations=auto,nosmt']",
        '',
      ].join('\n'),
    );
    await writeFile(
      second,
      [
        '---',
        'platform: qemu  # overrides the first file',
        'append-karg: [second=2, "third=3,x"]',
        'console: ["ttyAMA0,115200"]',
        `ignition-file: "${path.join(temp, 'config.ign')}"`,
        `dest-device: ${disk.path}`,
        'preserve-on-error: true',
        'insecure: false',
        '',
      ].join('\n'),
    );
    const result = await installer(
      ['install', '-c', first, '--append-karg', 'cli=4', '--config-file', second, '-p', 'gcp'],
      root,
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('Setting platform to gcp');
    expect((await readBootFile(disk.path, image512, '/ignition/config.ign', scratch)).text).toBe(CONFIG);
    const { options, grub } = await bootConfiguration(disk.path);
    expect(options).toBe(
      editedOptions(
        'gcp',
        [...metalKargs, 'mitigations=auto,nosmt'],
        ['console=ttyAMA0,115200n8', 'first=1', "quoted=it's", 'second=2', 'third=3,x', 'cli=4'],
      ),
    );
    expect(consoleSettings(grub)).toEqual([
      'serial --unit=0 --speed=115200 --word=8 --parity=no',
      'terminal_input serial',
      'terminal_output serial',
    ]);

    // Refusals name the file (and the key); the disk stays as it was.
    const untouched = await randomDisk('config-refused');
    const write = async (name: string, text: string) => {
      const file = path.join(temp, name);
      await writeFile(file, text);
      return file;
    };
    const cases: [string, number, RegExp][] = [
      [
        await write('unknown.yaml', 'platform: qemu\nfrobnicate: 1\n'),
        1,
        /unknown\.yaml: line 2: unknown key `frobnicate`/,
      ],
      [await write('scalar-list.yaml', 'append-karg: nosmt\n'), 1, /`append-karg` takes a list/],
      [await write('nested.yaml', 'platform:\n  id: qemu\n'), 1, /line 2: unexpected indented line/],
      [await write('flag.yaml', 'insecure: yes\n'), 1, /`insecure` takes true or false/],
      // As YAML reads it, an unquoted flow item ends at the comma: `115200n8` is not a console.
      [
        await write('unquoted.yaml', 'console: [ttyS0,115200n8]\n'),
        2,
        /invalid value '115200n8' for '--console/,
      ],
      [path.join(temp, 'missing.yaml'), 1, /opening config file .*missing\.yaml/],
    ];
    for (const [file, exitCode, message] of cases) {
      const refused = await installer(['install', '-f', signed512Xz, '-c', file, untouched.path], root);
      expect(refused.exitCode, `${file}: ${refused.stderr}`).toBe(exitCode);
      expect(errorLines(refused.stderr), file).toEqual([expect.stringMatching(message)]);
    }
    expect(await sha256(untouched.path)).toBe(untouched.digest);
  });

  it('--from-kargs reads /etc/coreos/installer.d first, kernel arguments win, and removes it after the install', async () => {
    const disk = await randomDisk('kargs-config');
    const root = await makeRoot({ cmdline: 'quiet coreos.inst.platform_id=packet' });
    const directory = path.join(root, 'etc/coreos/installer.d');
    await mkdir(directory, { recursive: true });
    await writeFile(
      path.join(directory, '20-console.yaml'),
      `console: [ttyS1]\nplatform: qemu\ndest-device: ${disk.path}\n`,
    );
    await writeFile(
      path.join(directory, '10-image.yaml'),
      `image-file: ${signed512Xz}\nappend-karg: [base=1]\n`,
    );
    const result = await installer(['install', '--from-kargs', '--append-karg', 'cli=2'], root);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr.split('\n')[0]).toBe(
      `coreos-installer install --config-file ${directory}/10-image.yaml --config-file ${directory}/20-console.yaml --platform packet`,
    );
    const { options, grub } = await bootConfiguration(disk.path);
    expect(options).toBe(editedOptions('packet', metalKargs, ['console=ttyS1,9600n8', 'base=1', 'cli=2']));
    expect(consoleSettings(grub)).toEqual([
      'serial --unit=1 --speed=9600 --word=8 --parity=no',
      'terminal_input serial',
      'terminal_output serial',
    ]);
    await expect(stat(directory)).rejects.toThrow(/ENOENT/);
  });
});

describe('coreos-installer: a failure after writing', () => {
  it('clears the partition table (the first MiB) unless --preserve-on-error', async () => {
    const root = await makeRoot();
    // The image with its boot filesystem's superblock zeroed: written fine, but it does not mount.
    const damaged = path.join(temp, 'damaged.raw');
    const bytes = await readFile(image512.raw);
    bytes.fill(0, image512.bootOffset, image512.bootOffset + 64 * 1024);
    await writeFile(damaged, bytes);
    const args = ['install', '--insecure', '-f', damaged, '-i', path.join(temp, 'config.ign')];
    const disk = await randomDisk('damaged');
    const result = await installer([...args, disk.path], root);
    expect(result.exitCode).toBe(1);
    expect(errorLines(result.stderr)).toEqual([
      expect.stringMatching(
        /^coreos-installer: error: mounting partition 3 of .*damaged.img \(offset 3145728\)/,
      ),
      'coreos-installer: error: install failed',
    ]);
    expect(result.stderr).toContain('Clearing partition table');
    const written = await readFile(disk.path);
    expect(written.subarray(0, 1024 * 1024).equals(Buffer.alloc(1024 * 1024))).toBe(true);
    expect(
      written.subarray(1024 * 1024, image512.size).equals(bytes.subarray(1024 * 1024, image512.size)),
    ).toBe(true);

    const preserved = await randomDisk('damaged-preserved');
    const kept = await installer([...args, '--preserve-on-error', preserved.path], root);
    expect(kept.exitCode).toBe(1);
    expect(kept.stderr).toContain('Preserving partition table as requested');
    expect(
      (await readFile(preserved.path)).subarray(0, image512.size).equals(bytes.subarray(0, image512.size)),
    ).toBe(true);
    expect(await readdir(tmpdir)).toEqual([]);
  });
});

describe('coreos-installer: package', () => {
  it('is built into the tiny OS repository with the script, ignition-validate and the applets it uses', async () => {
    const packages = path.join(inject('tinyRepo'), 'Packages');
    const files = await readdir(packages);
    const rpm = (name: string) => {
      const file = files.find((candidate) => new RegExp(`^${name}-[0-9]`).test(candidate));
      if (file === undefined) throw new Error(`no ${name} RPM in ${packages}`);
      return path.join(packages, file);
    };
    const installerRpm = rpm('coreos-installer');
    const list = (await runTool('rpm', ['-qlp', installerRpm])).stdout.trim().split('\n');
    expect(list).toEqual([
      '/etc/coreos-installer',
      '/etc/coreos-installer/keys.d',
      '/usr/bin/coreos-installer',
      '/usr/lib/coreos-installer',
      '/usr/lib/coreos-installer/keys.d',
    ]);
    const requires = (await runTool('rpm', ['-qp', '--requires', installerRpm])).stdout;
    for (const name of ['busybox', 'curl', 'jq', 'ostree', 'ignition', 'zstd'])
      expect(requires).toMatch(new RegExp(`^${name}$`, 'm'));
    // The packaged script is the source, executable.
    const extracted = path.join(temp, 'rpm-extract');
    await mkdir(extracted);
    const cpio = path.join(temp, 'installer.cpio');
    await runTool('rpm2cpio', [installerRpm], { stdoutFile: cpio });
    await runTool('cpio', ['-idm', '--quiet'], { cwd: extracted, input: createReadStream(cpio) });
    const packaged = path.join(extracted, 'usr/bin/coreos-installer');
    expect(await readFile(packaged, 'utf8')).toBe(await readFile(SCRIPT, 'utf8'));
    expect((await stat(packaged)).mode & 0o777).toBe(0o755);
    expect((await runTool('rpm', ['-qlp', rpm('ignition')])).stdout).toMatch(
      /^\/usr\/bin\/ignition-validate$/m,
    );
    const busybox = (await runTool('rpm', ['-qlp', rpm('busybox')])).stdout;
    expect((await runTool('rpm', ['-qlp', rpm('zstd')])).stdout).toMatch(/^\/usr\/bin\/zstd$/m);
    for (const applet of [
      '/usr/bin/xzcat',
      '/usr/bin/zcat',
      '/usr/bin/sha512sum',
      '/usr/sbin/blockdev',
      '/usr/sbin/losetup',
    ]) {
      expect(busybox).toMatch(new RegExp(`^${applet}$`, 'm'));
    }
  });
});
