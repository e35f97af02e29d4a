/**
 * The InstallTest runner: prepares what a scenario boots (a copy of the ISO with the live config
 * embedded, or a served tree with the rootfs, the signed metal image and the configs for a PXE
 * boot), boots the live system, then the installed disk on its own, and checks each console the
 * way kola does (basic's host-side checks, every guest test passed, no failure pattern).
 */
import { copyFile, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../../lib/cache/hash.ts';
import { unpackDataExtents } from '../../lib/disk/data-extents.ts';
import { FcosError } from '../../lib/errors.ts';
import type { ToolExec } from '../../lib/exec.ts';
import { embedIgnitionConfig } from '../../lib/iso/index.ts';
import { parseConsole } from '../../lib/kola/console.ts';
import { defineRunner, type NodeProps, type RunnerContext, type RunnerOutput } from '../../lib/runner.ts';
import { serialConsole } from '../../lib/serial-console.ts';
import { signFile } from '../../lib/signing/file-signatures.ts';
import { gpgArguments } from '../../lib/signing/gnupg-home.ts';
import { resolveSigningKey, type SigningKey } from '../../lib/signing/signing-key.ts';
import { isVmArch, MACHINES, type VmArch } from '../../lib/vm/machines.ts';
import { type BootOptions, bootDisk, type Firmware } from '../../lib/vm/qemu.ts';
import { basicHostProblems } from '../kola-test/basic-test.ts';
import { type LiveImageMetadata, liveMetadataSchema } from '../live-image/metadata.ts';
import { basicConfig, offlineInstallConfig, pxeLiveConfig, TARGET_DEVICE } from './guest-configs.ts';
import { type InstallTestConfig, type InstallTestScenario, installTestKind } from './index.ts';
import { type BootRecord, writeInstallReport } from './report.ts';

/** The inputs cannot make the scenario (no 4Kn image in the ISO, a live image without metadata ...). */
export class InstallTestInputError extends FcosError {}

/** Props of the node as its runner receives them. */
type InstallTestRunnerProps = NodeProps<InstallTestConfig>;

/** Console lines after which a boot will never finish: the VM is stopped at once. */
const FATAL_CONSOLE = /Kernel panic - not syncing|FCOS-CDK: initramfs failed|FCOS-CDK: install failed/;

/** What one boot is: how QEMU starts, and what its console must show. */
interface PlannedBoot {
  /** Name in the report (`live-uefi`, `installed` ...). */
  readonly name: string;
  readonly options: Omit<BootOptions, 'consoleLog' | 'timeoutSeconds' | 'memoryMiB' | 'signal' | 'log'>;
  /** The Ignition platform the OS must report. */
  readonly platform: string;
  /** Console text the boot must show, besides basic passing. */
  readonly expect: readonly RegExp[];
}

/** The live image's metadata and the paths of its files. */
interface LiveFiles {
  readonly metadata: LiveImageMetadata;
  /** The arch of its machine. */
  readonly arch: VmArch;
  readonly iso: string;
  readonly kernel: string;
  readonly initramfs: string;
  readonly rootfs: string;
}

/** Reads the live input's metadata, naming the producer when it is not a LiveImage's. */
function liveFiles(context: RunnerContext<InstallTestRunnerProps>): LiveFiles {
  const live = context.inputs.live!;
  const parsed = liveMetadataSchema.safeParse(live.metadata);
  if (!parsed.success)
    throw new InstallTestInputError(
      'the live input has no LiveImage metadata: it must come from a LiveImage',
      {
        constructPath: context.nodePath,
        field: 'live',
      },
    );
  const { files, arch } = parsed.data;
  if (!isVmArch(arch))
    throw new InstallTestInputError(`the QEMU harness has no machine for ${arch}`, {
      constructPath: context.nodePath,
      field: 'live',
    });
  return {
    metadata: parsed.data,
    arch,
    iso: path.join(live.path, files['live-iso']),
    kernel: path.join(live.path, files['live-kernel']),
    initramfs: path.join(live.path, files['live-initramfs']),
    rootfs: path.join(live.path, files['live-rootfs']),
  };
}

/** A sparse blank disk of `mebibytes` at `file`. */
async function blankDisk(file: string, mebibytes: number): Promise<string> {
  await writeFile(file, '');
  await truncate(file, mebibytes * 1024 * 1024);
  return file;
}

/** A copy of the ISO at `output` with `config` embedded (fcos-iso ignition embed). */
async function isoWithConfig(exec: ToolExec, iso: string, config: unknown, output: string): Promise<string> {
  await embedIgnitionConfig(iso, JSON.stringify(config), { output, exec });
  return output;
}

/** The firmwares the live media boot with on `arch`'s machine: UEFI, and BIOS where there is one. */
function firmwaresOf(arch: VmArch): Firmware[] {
  return MACHINES[arch].bios ? ['uefi', 'bios'] : ['uefi'];
}

/** The ISO-only scenarios: the live system boots (CD or disk) under each firmware of the arch. */
async function liveLoginBoots(
  context: RunnerContext<InstallTestRunnerProps>,
  live: LiveFiles,
  asDisk: boolean,
): Promise<PlannedBoot[]> {
  const scratch = path.join(context.workDir, 'scratch');
  const iso = await isoWithConfig(context.exec, live.iso, basicConfig(), path.join(scratch, 'live.iso'));
  const spare = await blankDisk(path.join(scratch, 'spare.raw'), 64);
  return firmwaresOf(live.arch).map((firmware) => ({
    name: `live-${asDisk ? 'disk' : 'cd'}-${firmware}`,
    options: asDisk
      ? { disk: iso, format: 'raw', firmware }
      : { disk: spare, format: 'raw', cdrom: iso, firmware },
    platform: 'metal',
    expect: [/FCOS-CDK: initramfs live ISO \S+ mounted/],
  }));
}

/** The boot of the installed disk on its own: basic passes with Ignition's config from coreos-installer. */
function installedBoot(target: string, firmware: Firmware, blockSize: 512 | 4096): PlannedBoot {
  return {
    name: `installed-${firmware}`,
    options: { disk: target, format: 'raw', persistent: true, firmware, blockSize },
    platform: 'metal',
    expect: [/FCOS-CDK: initramfs ignition user config from \/run\/user\.ign/],
  };
}

/** iso-offline-install and iso-install.4k: install from the ISO's image, then boot the disk (UEFI). */
async function offlineInstallBoots(
  context: RunnerContext<InstallTestRunnerProps>,
  live: LiveFiles,
  sectorSize: 512 | 4096,
): Promise<PlannedBoot[]> {
  if (!live.metadata.metalImages.some((image) => image.sectorSize === sectorSize))
    throw new InstallTestInputError(
      `the live ISO holds no ${sectorSize}-byte-sector metal image: give the LiveImage ${sectorSize === 4096 ? 'a metal4k image' : 'its metal image'}`,
      { constructPath: context.nodePath, field: 'live' },
    );
  const scratch = path.join(context.workDir, 'scratch');
  const iso = await isoWithConfig(
    context.exec,
    live.iso,
    offlineInstallConfig(basicConfig(), sectorSize, serialConsole(live.metadata.arch)),
    path.join(scratch, 'live.iso'),
  );
  const target = await blankDisk(path.join(scratch, 'target.raw'), context.props.diskMiB);
  return [
    {
      name: 'live-install',
      options: {
        disk: target,
        format: 'raw',
        persistent: true,
        cdrom: iso,
        firmware: 'uefi',
        blockSize: sectorSize,
      },
      platform: 'metal',
      expect: [/FCOS-CDK: test install pass/],
    },
    installedBoot(target, 'uefi', sectorSize),
  ];
}

/** The public key of `key` as a binary keyring (what gpgv --keyring reads), exported through `file`. */
async function binaryKeyring(exec: ToolExec, key: SigningKey, file: string): Promise<Buffer> {
  await exec('gpg', gpgArguments(key.gnupgHome, '--yes', '--output', file, '--export', key.fingerprint));
  return readFile(file);
}

/** pxe-online-install's served tree: rootfs, the signed image, a wrong stream and a bad signature, the configs. */
async function pxeInstallBoots(
  context: RunnerContext<InstallTestRunnerProps>,
  live: LiveFiles,
  key: SigningKey,
  served: string,
  baseUrl: string,
): Promise<PlannedBoot[]> {
  const { exec, workDir } = context;
  const image = live.metadata.metalImages.find((entry) => entry.sectorSize === 512);
  if (!image)
    throw new InstallTestInputError('the live ISO holds no 512-byte-sector metal image to serve', {
      constructPath: context.nodePath,
      field: 'live',
    });
  // The image as a release serves its metal image, from the ISO's copy, signed with the key;
  // compressed with zstd, which coreos-installer reads as it reads xz: xz takes minutes on 1 GiB
  // here, and the guest's busybox zcat inflates a gzip'd one ~12x slower than zstd decodes it.
  // An image file the ISO carries as it is (compressed already) is served as it is, named so.
  const layout =
    image.extents !== undefined && image.size !== undefined
      ? { extents: image.extents, size: image.size }
      : undefined;
  const name = layout
    ? `${path.posix.basename(image.file).replace(/\.extents$/, '')}.zst`
    : path.posix.basename(image.file);
  const carried = path.join(workDir, 'scratch', path.posix.basename(image.file));
  await exec('xorriso', ['-osirrox', 'on', '-indev', live.iso, '-extract', `/${image.file}`, carried]);
  await mkdir(path.join(served, 'metal'), { recursive: true });
  const raw = path.join(workDir, 'scratch', 'metal.raw');
  if (layout) {
    await unpackDataExtents(carried, layout.extents, layout.size, raw);
    await exec('zstd', ['-q', '-3', '-T1', '-c', raw], { stdoutFile: path.join(served, 'metal', name) });
    await rm(raw);
  } else {
    await exec('cp', [carried, path.join(served, 'metal', name)]);
  }
  await rm(carried);
  await signFile(exec, key, path.join(served, 'metal', name));
  // The same image with a signature of something else.
  await mkdir(path.join(served, 'bad-signature'), { recursive: true });
  await exec('ln', [path.join(served, 'metal', name), path.join(served, 'bad-signature', name)]);
  await writeFile(path.join(served, 'unrelated.txt'), 'not the image\n');
  await signFile(
    exec,
    key,
    path.join(served, 'unrelated.txt'),
    path.join(served, 'bad-signature', `${name}.sig`),
  );
  // Stream metadata naming the image with a wrong sha256.
  const servedSha256 = (await sha256File(path.join(served, 'metal', name))).digest;
  const wrongSha256 = servedSha256.replace(/^./, (digit) => (digit === '0' ? '1' : '0'));
  const stream = {
    stream: 'testing',
    architectures: {
      [live.metadata.arch]: {
        artifacts: {
          metal: {
            release: live.metadata.version,
            formats: {
              // coreos-installer reads the `raw.xz` entry; it detects the compression itself.
              'raw.xz': {
                disk: {
                  location: `${baseUrl}/metal/${name}`,
                  sha256: wrongSha256,
                  signature: `${baseUrl}/metal/${name}.sig`,
                },
              },
            },
          },
        },
      },
    },
  };
  await mkdir(path.join(served, 'wrong-sha256'), { recursive: true });
  await writeFile(path.join(served, 'wrong-sha256/testing.json'), `${JSON.stringify(stream, null, 2)}\n`);
  await writeFile(path.join(served, 'target.ign'), JSON.stringify(basicConfig()));
  await copyFile(live.rootfs, path.join(served, 'rootfs.img'));
  const liveConfig = pxeLiveConfig(
    await binaryKeyring(exec, key, path.join(workDir, 'scratch', 'trusted.gpg')),
    {
      wrongSha256StreamBase: `${baseUrl}/wrong-sha256`,
      badSignatureImage: `${baseUrl}/bad-signature/${name}`,
    },
    serialConsole(live.metadata.arch),
  );
  await writeFile(path.join(served, 'live.ign'), JSON.stringify(liveConfig));
  const target = await blankDisk(path.join(workDir, 'scratch', 'target.raw'), context.props.diskMiB);
  // PXE hands over the kernel as a BIOS does, where the machine has one (UEFI on aarch64).
  const firmware = firmwaresOf(live.arch).at(-1)!;
  const commandLine = [
    `coreos.live.rootfs_url=${baseUrl}/rootfs.img`,
    ...live.metadata.kernelArguments,
    `ignition.config.url=${baseUrl}/live.ign`,
    `coreos.inst.install_dev=${TARGET_DEVICE}`,
    `coreos.inst.image_url=${baseUrl}/metal/${name}`,
    `coreos.inst.ignition_url=${baseUrl}/target.ign`,
  ].join(' ');
  return [
    {
      name: 'live-pxe-install',
      options: {
        disk: target,
        format: 'raw',
        persistent: true,
        firmware,
        network: 'user',
        kernel: { kernel: live.kernel, initramfs: live.initramfs, commandLine },
      },
      platform: 'metal',
      expect: [
        /FCOS-CDK: initramfs live rootfs fetched from/,
        /FCOS-CDK: test install-refusals pass/,
        /FCOS-CDK: install complete device=/,
        /FCOS-CDK: reboot reason=install/,
      ],
    },
    installedBoot(target, firmware, 512),
  ];
}

/** What is wrong with a boot's console (empty when it passed). */
export function bootProblems(console: string, boot: PlannedBoot, timedOut: boolean): string[] {
  const report = parseConsole(console);
  const problems = basicHostProblems(report, boot.platform);
  for (const test of report.tests)
    if (!test.passed) problems.push(`guest test ${test.name} failed: ${test.reason}`);
  if (!report.tests.some((test) => test.name === 'basic' && test.passed))
    problems.push('basic did not pass in the guest');
  for (const pattern of boot.expect)
    if (!pattern.test(console)) problems.push(`the console never showed ${pattern.source}`);
  problems.push(...report.failures);
  if (timedOut) problems.push('the boot hit its time limit');
  return problems;
}

/** Boots each planned boot in order, stopping at the first that fails. */
async function runBoots(
  context: RunnerContext<InstallTestRunnerProps>,
  arch: VmArch,
  boots: readonly PlannedBoot[],
  reportDir: string,
): Promise<BootRecord[]> {
  const records: BootRecord[] = [];
  for (const boot of boots) {
    const consoleLog = path.join(reportDir, `${boot.name}.console.txt`);
    const stop = new AbortController();
    const watchdog = setInterval(() => {
      readFile(consoleLog, 'utf8')
        .then((text) => {
          const fatal = FATAL_CONSOLE.exec(text);
          if (fatal) stop.abort(new Error(`the console said "${fatal[0]}"`));
        })
        .catch(() => undefined);
    }, 1000);
    let result: Awaited<ReturnType<typeof bootDisk>> | undefined;
    let stoppedBecause: string | undefined;
    try {
      result = await bootDisk({
        ...boot.options,
        arch,
        consoleLog,
        timeoutSeconds: context.props.bootTimeoutSeconds,
        memoryMiB: context.props.memoryMiB,
        signal: AbortSignal.any([context.signal, stop.signal]),
        log: context.log,
      });
    } catch (error) {
      context.signal.throwIfAborted();
      if (!stop.signal.aborted) throw error;
      stoppedBecause = (stop.signal.reason as Error).message;
    } finally {
      clearInterval(watchdog);
    }
    const console = result?.console ?? (await readFile(consoleLog, 'utf8').catch(() => ''));
    const problems = bootProblems(console, boot, result?.timedOut ?? false);
    if (stoppedBecause) problems.unshift(`stopped: ${stoppedBecause}`);
    const seconds = result?.seconds ?? 0;
    context.log(
      `${boot.name}: ${problems.length === 0 ? 'passed' : `failed (${problems.join('; ')})`} in ${seconds.toFixed(1)} s`,
    );
    records.push({ name: boot.name, seconds, consoleFile: consoleLog, problems });
    if (problems.length > 0) break;
  }
  return records;
}

/** Plans and runs the scenario; the report is the output whatever the verdict. */
async function runInstallTest(
  context: RunnerContext<InstallTestRunnerProps>,
): Promise<Record<string, RunnerOutput>> {
  const { props, workDir } = context;
  const live = liveFiles(context);
  const reportDir = path.join(workDir, 'report');
  await mkdir(reportDir, { recursive: true });
  await mkdir(path.join(workDir, 'scratch'), { recursive: true });
  let cleanup = async (): Promise<void> => undefined;
  let boots: PlannedBoot[];
  const scenario: InstallTestScenario = props.scenario;
  try {
    if (scenario === 'iso-live-login' || scenario === 'iso-as-disk') {
      boots = await liveLoginBoots(context, live, scenario === 'iso-as-disk');
    } else if (scenario === 'iso-offline-install' || scenario === 'iso-install.4k') {
      boots = await offlineInstallBoots(context, live, scenario === 'iso-install.4k' ? 4096 : 512);
    } else {
      const key = await resolveSigningKey(context.exec, {
        mode: props.signing,
        environment: process.env,
        workDir,
        cacheDirectory: context.cacheDirectory,
        nodePath: context.nodePath,
      });
      if (!key)
        throw new InstallTestInputError('no signing key for the served image (set FCOS_SIGNING_*)', {
          constructPath: context.nodePath,
          field: 'signing',
        });
      cleanup = () => key.release();
      const served = path.join(workDir, 'served');
      await mkdir(served, { recursive: true });
      const { startServer } = await import('../../lib/serve/server.ts');
      const server = await startServer({
        root: served,
        port: 0,
        log: (line) => context.log(`fcos-serve: ${line}`),
      });
      cleanup = async () => {
        await server.close();
        await key.release();
      };
      // The guest reaches the host's loopback as 10.0.2.2 (QEMU's user network).
      boots = await pxeInstallBoots(context, live, key, served, `http://10.0.2.2:${server.port}`);
    }
    const records = await runBoots(context, live.arch, boots, reportDir);
    const passed = records.length === boots.length && records.every((record) => record.problems.length === 0);
    const metadata = await writeInstallReport(reportDir, {
      nodePath: context.nodePath,
      live: context.inputs.live!.digest,
      arch: live.metadata.arch,
      scenario,
      boots: records,
      planned: boots.length,
      passed,
    });
    return { report: { storage: 'tree', path: reportDir, metadata } };
  } finally {
    await cleanup();
    await rm(path.join(workDir, 'scratch'), { recursive: true, force: true });
  }
}

export default defineRunner(installTestKind, {
  timeoutSeconds: 3 * 3600,
  run: runInstallTest,
});
