/**
 * One test machine under QEMU: a qcow2 overlay over the release's image (so the machine's writes
 * persist from boot to boot while the image, a cache blob, is never written), QEMU's user network
 * (the guest reaches fcos-serve on the host's loopback as 10.0.2.2), the image's arch, its Ignition config in fw_cfg
 * (read on the first boot only), and a watchdog that stops a boot whose console shows it will
 * never finish, or that the scenario wants cut short (QEMU killed mid-pull: a power failure).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ToolExec } from '../../lib/exec.ts';
import { bootDisk, type VmArch } from '../../lib/vm/qemu.ts';
import type { BootOutcome, BootRequest } from './boot-loop.ts';

/** Console lines after which a boot will never finish: the VM is stopped at once. */
const FATAL_CONSOLE = /Kernel panic - not syncing|FCOS-CDK: initramfs failed/;

/** A disk image QEMU opens. */
export interface BaseImage {
  /** The file (uncompressed). */
  readonly file: string;
  /** Its format. */
  readonly format: 'qcow2' | 'raw';
}

/** Makes `overlay`, a qcow2 file backed by `base` (absolute path, format named: qemu-img requires it). */
export async function createOverlay(exec: ToolExec, base: BaseImage, overlay: string): Promise<void> {
  await exec('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-b',
    path.resolve(base.file),
    '-F',
    base.format,
    overlay,
  ]);
}

/** How a machine boots. */
export interface MachineOptions {
  /** Its overlay disk. */
  readonly overlay: string;
  /** Its Ignition config file. */
  readonly ignitionConfig: string;
  /**
   * The guest's arch (the image's): which QEMU, machine and firmware boot it.
   * @default 'x86_64'
   */
  readonly arch?: VmArch;
  readonly firmware: 'uefi' | 'bios';
  readonly memoryMiB: number;
  readonly accelerator: 'tcg' | 'kvm';
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  /**
   * The scenario's own watchdog: given the boot and its console so far (raw), a reason to stop the
   * VM at once (QEMU killed: a power failure), or undefined to let it run.
   * @default never
   */
  readonly stopWhen?: (request: BootRequest, console: string) => string | undefined;
}

/** A boot function for the loop: one persistent, networked boot of the machine's overlay. */
export function machineBoot(options: MachineOptions): (request: BootRequest) => Promise<BootOutcome> {
  return async (request) => {
    const stop = new AbortController();
    // Stops the VM as soon as the console shows it will never finish.
    const watchdog = setInterval(() => {
      readFile(request.consoleFile, 'utf8')
        .catch(() => '')
        .then((text) => {
          if (stop.signal.aborted) return;
          const fatal = FATAL_CONSOLE.exec(text);
          if (fatal) {
            stop.abort(new Error(`the console said "${fatal[0]}"`));
            return;
          }
          const reason = options.stopWhen?.(request, text);
          if (reason !== undefined) stop.abort(new Error(reason));
        });
    }, 1000);
    const started = performance.now();
    try {
      const result = await bootDisk({
        disk: options.overlay,
        format: 'qcow2',
        persistent: true,
        network: 'user',
        ...(options.arch ? { arch: options.arch } : {}),
        firmware: options.firmware,
        consoleLog: request.consoleFile,
        timeoutSeconds: request.timeoutSeconds,
        ignitionConfig: options.ignitionConfig,
        memoryMiB: options.memoryMiB,
        accelerator: options.accelerator,
        signal: AbortSignal.any([options.signal, stop.signal]),
        log: options.log,
      });
      return result;
    } catch (error) {
      options.signal.throwIfAborted();
      if (!stop.signal.aborted) throw error;
      return {
        console: await readFile(request.consoleFile, 'utf8').catch(() => ''),
        timedOut: false,
        seconds: (performance.now() - started) / 1000,
        stoppedBecause: (stop.signal.reason as Error).message,
      };
    } finally {
      clearInterval(watchdog);
    }
  };
}
