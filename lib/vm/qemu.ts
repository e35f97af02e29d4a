/**
 * Booting a disk image under QEMU, for x86_64 (q35) or aarch64 (virt) guests through one code
 * path with the arch as a parameter (lib/vm/machines.ts): UEFI (OVMF, or AAVMF on aarch64, with a
 * per-VM copy of its variable store) or BIOS (SeaBIOS, x86_64 only), an optional Ignition config
 * in fw_cfg, the serial console (the 16550 on q35, the PL011 `ttyAMA0` on virt) captured to a file
 * (with the host time each line arrived beside it, lib/vm/console-timeline.ts), and a hard time
 * limit. The VM runs through runTool, so it is killed with its whole process group on timeout, on
 * cancel and after it exits; the disk is opened with `snapshot=on`, so the image (a read-only cache
 * blob, say) is never written, unless the caller asks for a persistent boot of an overlay of its
 * own. A user-mode NIC is added on request. Facts measured on this kind of host: KVM guests hang,
 * so TCG is the default, with the arch's TCG CPU model (machines.ts); a Kola boot of the tiny OS takes
 * about 20 s on a quiet machine, an aarch64 one 27-30 s (6.5 s of it AAVMF; its phases:
 * `.timeline.tsv` beside the console, lib/vm/boot-phases.ts).
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FcosError } from '../errors.ts';
import { CancelledError, runTool } from '../exec.ts';
import {
  formatTimeline,
  recordConsoleTimeline,
  type TimelineEntry,
  timelineFileOf,
} from './console-timeline.ts';
import { GRUB_COUNTDOWN, pressEnter } from './grub-menu.ts';
import { type Firmware, type MachineModel, machineOf, TCG_CPU_MODELS, type VmArch } from './machines.ts';

export {
  AAVMF_CODE,
  AAVMF_VARS_TEMPLATE,
  type Firmware,
  MACHINES,
  machineOf,
  OVMF_CODE,
  OVMF_VARS_TEMPLATE,
  TCG_CPU_MODEL,
  TCG_CPU_MODELS,
  UnsupportedVmError,
  VM_ARCHES,
  type VmArch,
  vmProblem,
} from './machines.ts';

/** Options of {@link bootDisk}. */
export interface BootOptions {
  /** The disk image to boot. */
  readonly disk: string;
  /**
   * Its format, as qemu-img names it.
   * @default 'raw', or 'qcow2' for a `.qcow2` file
   */
  readonly format?: 'raw' | 'qcow2' | 'vmdk' | 'vpc';
  /** UEFI (OVMF, AAVMF) or BIOS (SeaBIOS, x86_64 only). */
  readonly firmware: Firmware;
  /**
   * The guest's architecture: which QEMU, machine, CPU model and firmware (lib/vm/machines.ts).
   * @default 'x86_64'
   */
  readonly arch?: VmArch;
  /** File that receives the serial console. */
  readonly consoleLog: string;
  /** Hard limit: the VM is killed after this many seconds. */
  readonly timeoutSeconds: number;
  /**
   * Ignition config passed as fw_cfg `opt/com.coreos/config` (Ignition's qemu platform).
   * @default none
   */
  readonly ignitionConfig?: string;
  /**
   * Logical and physical block size of the virtio disk (4096 for a 4Kn disk).
   * @default 512
   */
  readonly blockSize?: 512 | 4096;
  /**
   * Guest memory in MiB.
   * @default 1024
   */
  readonly memoryMiB?: number;
  /**
   * Accelerator.
   * @default 'tcg' (KVM guests hang on the hosts this was measured on)
   */
  readonly accelerator?: 'tcg' | 'kvm';
  /**
   * Keep the guest's writes in `disk` across boots (a qcow2 overlay the caller made with
   * `qemu-img create -b`), for tests that boot one machine several times; otherwise the disk is
   * opened with `snapshot=on` and never written.
   * @default false
   */
  readonly persistent?: boolean;
  /**
   * The guest's network: none, or QEMU's user network with a virtio NIC, where the guest reaches
   * the host's 127.0.0.1 as 10.0.2.2.
   * @default 'none'
   */
  readonly network?: 'none' | 'user';
  /**
   * A CD-ROM (an ISO image, read-only: IDE on q35's AHCI controller, a SCSI CD on virt's
   * virtio-scsi) booted before the disk.
   * @default none
   */
  readonly cdrom?: string;
  /**
   * Direct kernel boot (what a PXE server hands out): QEMU loads the kernel and initramfs itself
   * and passes the command line; the disk stays attached, unbooted.
   * @default none (the firmware boots the CD-ROM or the disk)
   */
  readonly kernel?: { readonly kernel: string; readonly initramfs: string; readonly commandLine: string };
  /**
   * Press Enter on the serial console when GRUB's menu counts down (lib/vm/grub-menu.ts): the
   * entry GRUB chose boots without the menu's timeout; the image is not changed.
   * @default true
   */
  readonly skipGrubMenu?: boolean;
  /** Cancels the boot (the VM is killed). */
  readonly signal?: AbortSignal;
  /** Receives the QEMU command and its own output (not the console). */
  readonly log?: (line: string) => void;
}

/** How a boot ended. */
export interface BootResult {
  /** Everything the guest wrote to the serial console. */
  readonly console: string;
  /** Whether the VM was killed at the time limit (otherwise it powered off by itself). */
  readonly timedOut: boolean;
  /** Wall-clock seconds the VM ran. */
  readonly seconds: number;
  /**
   * When each console line arrived (seconds since QEMU was started), also written beside the
   * console log as `NAME.timeline.tsv` (lib/vm/console-timeline.ts).
   */
  readonly timeline: readonly TimelineEntry[];
}

/** QEMU could not be started or failed by itself (not the guest: see the console for that). */
export class QemuError extends FcosError {}

/** The firmware arguments; UEFI gets a copy of the variable store in `scratch`. */
async function firmwareArguments(
  machine: MachineModel,
  firmware: Firmware,
  scratch: string,
): Promise<string[]> {
  if (firmware === 'bios') return [];
  const variables = path.join(scratch, path.basename(machine.uefiVarsTemplate));
  await copyFile(machine.uefiVarsTemplate, variables);
  return [
    '-drive',
    `if=pflash,format=raw,unit=0,readonly=on,file=${machine.uefiCode}`,
    '-drive',
    `if=pflash,format=raw,unit=1,file=${variables}`,
  ];
}

/** The format of `disk` when not given. */
function guessFormat(disk: string): NonNullable<BootOptions['format']> {
  return disk.endsWith('.qcow2') ? 'qcow2' : 'raw';
}

/** Escapes commas for a QEMU option value (`,` is written `,,`). */
function optionValue(value: string): string {
  return value.replace(/,/g, ',,');
}

/** The whole QEMU command line (without the binary) for a guest of `arch`. */
export function qemuArguments(
  options: BootOptions,
  firmware: readonly string[],
  consoleSocket: string,
): string[] {
  const arch = options.arch ?? 'x86_64';
  const machine = machineOf(arch);
  const blockSize = options.blockSize ?? 512;
  const accelerator = options.accelerator ?? 'tcg';
  const args = [
    '-machine',
    machine.machine,
    '-accel',
    accelerator,
    '-cpu',
    accelerator === 'tcg' ? TCG_CPU_MODELS[arch] : machine.kvmCpu,
    '-m',
    String(options.memoryMiB ?? 1024),
    '-smp',
    '1',
    '-nodefaults',
    '-display',
    'none',
    '-no-reboot',
    // The first serial port (q35's 16550, virt's PL011) is the console. It goes to the log file
    // whether or not anyone is connected to the socket, which the harness connects to only to
    // press a key (grub-menu.ts).
    '-chardev',
    `socket,id=console,path=${optionValue(consoleSocket)},server=on,wait=off,logfile=${optionValue(options.consoleLog)},logappend=off`,
    '-serial',
    'chardev:console',
    ...firmware,
    '-drive',
    `if=none,id=disk0,${options.persistent ? '' : 'snapshot=on,'}format=${options.format ?? guessFormat(options.disk)},file=${optionValue(options.disk)}`,
    '-device',
    `virtio-blk-pci,drive=disk0,bootindex=1,logical_block_size=${blockSize},physical_block_size=${blockSize}`,
  ];
  if (options.cdrom !== undefined) {
    args.push(
      '-drive',
      `if=none,id=cd0,media=cdrom,readonly=on,format=raw,file=${optionValue(options.cdrom)}`,
      ...machine.cdromDevices,
    );
  }
  if (options.kernel !== undefined) {
    args.push(
      '-kernel',
      options.kernel.kernel,
      '-initrd',
      options.kernel.initramfs,
      '-append',
      options.kernel.commandLine,
    );
  }
  if (options.network === 'user') {
    // QEMU's user network: no privileges, the host's loopback is 10.0.2.2 to the guest.
    args.push('-netdev', 'user,id=net0', '-device', 'virtio-net-pci,netdev=net0');
  }
  if (options.ignitionConfig) {
    args.push('-fw_cfg', `name=opt/com.coreos/config,file=${optionValue(options.ignitionConfig)}`);
  }
  return args;
}

/**
 * Boots `options.disk` until the guest powers off or the time limit, and returns the console.
 * A timeout is not an error (the caller decides from the console); QEMU failing to start is.
 * The console's timeline is written beside it however the boot ends.
 */
export async function bootDisk(options: BootOptions): Promise<BootResult> {
  const arch = options.arch ?? 'x86_64';
  const machine = machineOf(arch, options.firmware);
  const scratch = await mkdtemp(path.join(path.dirname(options.consoleLog), '.qemu-'));
  // The console's socket: a short path (a Unix socket's is limited to 107 bytes).
  const socketDirectory = await mkdtemp(path.join(os.tmpdir(), 'fcos-qemu-'));
  const consoleSocket = path.join(socketDirectory, 'console.sock');
  const timeout = AbortSignal.timeout(options.timeoutSeconds * 1000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    const args = qemuArguments(
      options,
      await firmwareArguments(machine, options.firmware, scratch),
      consoleSocket,
    );
    const started = performance.now();
    let menuSkipped = options.skipGrubMenu === false;
    // Presses Enter once, at GRUB's first countdown.
    const onText = (text: string): void => {
      if (menuSkipped || !GRUB_COUNTDOWN.test(text)) return;
      menuSkipped = true;
      void pressEnter(consoleSocket);
    };
    const recorder = await recordConsoleTimeline(options.consoleLog, started, onText);
    let timedOut = false;
    let failure: unknown;
    try {
      await runTool(machine.binary, args, { signal, ...(options.log ? { log: options.log } : {}) });
    } catch (error) {
      if (!(error instanceof CancelledError) || !timeout.aborted || options.signal?.aborted) {
        failure =
          error instanceof CancelledError
            ? error
            : new QemuError(`QEMU failed: ${(error as Error).message}`, { cause: error });
      } else {
        timedOut = true;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const timeline = await recorder.stop();
    await writeFile(timelineFileOf(options.consoleLog), formatTimeline(timeline));
    if (failure !== undefined) throw failure;
    const console = await readFile(options.consoleLog, 'utf8').catch(() => '');
    return { console, timedOut, seconds, timeline };
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await rm(socketDirectory, { recursive: true, force: true });
  }
}
