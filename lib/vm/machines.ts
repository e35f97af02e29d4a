/**
 * The virtual machines the QEMU harness (lib/vm/qemu.ts) boots, one per guest arch: what differs
 * between them is data here, the code path is one. Pure data and checks, no tool: construct-side
 * code (a stage's synthesis checks) imports it too.
 */
import type { Arch } from '../artifacts.ts';
import { FcosError } from '../errors.ts';

/** Firmware a VM boots with. */
export type Firmware = 'uefi' | 'bios';

/** Architectures the harness boots guests of. */
export type VmArch = Extract<Arch, 'x86_64' | 'aarch64'>;

/** The architectures of {@link VmArch}, for checks of an arch that came from data. */
export const VM_ARCHES: readonly VmArch[] = ['x86_64', 'aarch64'];

/** OVMF's code and variable-store template (Debian's ovmf package, 4 MiB flash). */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
/** The template every VM gets its own writable copy of. */
export const OVMF_VARS_TEMPLATE = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** Whether the harness boots guests of `arch`. */
export function isVmArch(arch: string): arch is VmArch {
  return (VM_ARCHES as readonly string[]).includes(arch);
}

/** AAVMF, OVMF built for aarch64 (Debian's qemu-efi-aarch64 package, 64 MiB flash): code. */
export const AAVMF_CODE = '/usr/share/AAVMF/AAVMF_CODE.fd';
/** AAVMF's variable-store template. */
export const AAVMF_VARS_TEMPLATE = '/usr/share/AAVMF/AAVMF_VARS.fd';

/**
 * The CPU model of each arch under TCG.
 *
 * x86_64: `max` offers AVX/AVX2 (emulated by QEMU 7.2's TCG, slowly), which the kernel's crypto and
 * glibc's string functions then use: measured on the tiny OS's Kola image, boots took 23.9-28.8 s
 * with `max` and 18.4-20.5 s with `Nehalem` (kernel init 4.0-6.0 -> 3.0-3.8 s, update agent
 * 4.6-6.4 -> 2.7-3.1 s). Nehalem is x86-64-v2 (SSE4.2, POPCNT: crc32c_intel still loads); `qemu64`
 * (v1) was no faster.
 *
 * aarch64 (QEMU 7.2, AAVMF, `-smp 1`, on a shared 2-core host, so noisy): Kola's basic on the tiny
 * OS's qemu image, two rounds each, took 27.1 / 29.4 s with `cortex-a72`, 27.6 / 29.8 s with
 * `cortex-a57` and 32.6 / 23.6 s with `max,pauth-impdef=on`, whose kernel init was the slowest in
 * both (4.0-4.9 s against 2.7-3.0 s). Debian 12's arm64 kernel with a busybox initramfs, four
 * rounds (wall seconds to power-off): `cortex-a72` 2.9 / 5.9 / 4.1 / 4.3, `cortex-a57` 4.2 / 5.8 /
 * 4.3 / 3.6, `max,pauth-impdef=on` 3.6 / 5.6 / 4.8 / 7.9, plain `max` 17.2-21.6 (QARMA pointer
 * authentication emulated in every function prologue). The Cortex models tie within the noise;
 * cortex-a72 (ARMv8.0, Fedora's aarch64 baseline) was the faster on average.
 *
 * Under KVM the host's CPU is passed through instead.
 */
export const TCG_CPU_MODELS: Readonly<Record<VmArch, string>> = {
  x86_64: 'Nehalem',
  aarch64: 'cortex-a72',
};

/** The x86_64 CPU model under TCG (see {@link TCG_CPU_MODELS}). */
export const TCG_CPU_MODEL = TCG_CPU_MODELS.x86_64;

/** What differs between the arches' virtual machines; everything else is one code path. */
export interface MachineModel {
  /** The QEMU binary. */
  readonly binary: string;
  /** `-machine` value. */
  readonly machine: string;
  /** `-cpu` under KVM (the host's own CPU). */
  readonly kvmCpu: string;
  /** UEFI firmware code (read-only pflash unit 0). */
  readonly uefiCode: string;
  /** The UEFI variable store every VM gets its own copy of (pflash unit 1). */
  readonly uefiVarsTemplate: string;
  /** Whether the machine has a BIOS (SeaBIOS) to boot. */
  readonly bios: boolean;
  /** Devices that attach the CD-ROM drive `cd0` as the first boot device. */
  readonly cdromDevices: readonly string[];
}

/**
 * The machine of each arch. q35 has an AHCI controller for an IDE CD; virt has no IDE, so its CD
 * is a SCSI CD on virtio-scsi. Both take virtio-blk-pci disks, virtio-net-pci NICs and fw_cfg.
 */
export const MACHINES: Readonly<Record<VmArch, MachineModel>> = {
  x86_64: {
    binary: 'qemu-system-x86_64',
    machine: 'q35',
    kvmCpu: 'max',
    uefiCode: OVMF_CODE,
    uefiVarsTemplate: OVMF_VARS_TEMPLATE,
    bios: true,
    cdromDevices: ['-device', 'ide-cd,drive=cd0,bootindex=0'],
  },
  aarch64: {
    binary: 'qemu-system-aarch64',
    machine: 'virt',
    kvmCpu: 'host',
    uefiCode: AAVMF_CODE,
    uefiVarsTemplate: AAVMF_VARS_TEMPLATE,
    bios: false,
    cdromDevices: [
      '-device',
      'virtio-scsi-pci,id=scsi0',
      '-device',
      'scsi-cd,drive=cd0,bus=scsi0.0,bootindex=0',
    ],
  },
};

/** The boot asked for a machine the harness does not have (an arch, or BIOS on aarch64). */
export class UnsupportedVmError extends FcosError {}

/**
 * Why the harness cannot boot a guest of `arch` with `firmware` (the field at fault and a
 * sentence), or undefined: for synthesis checks and runners alike.
 */
export function vmProblem(
  arch: string,
  firmware: Firmware,
): { readonly field: 'arch' | 'firmware'; readonly message: string } | undefined {
  if (!isVmArch(arch))
    return {
      field: 'arch',
      message: `the QEMU harness boots ${VM_ARCHES.join(' and ')} guests, not ${arch}`,
    };
  const machine = MACHINES[arch];
  if (firmware === 'bios' && !machine.bios)
    return {
      field: 'firmware',
      message: `${arch} guests have no BIOS to boot (QEMU's ${machine.machine} machine boots UEFI only): use firmware 'uefi'`,
    };
  return undefined;
}

/** The machine model of `arch` for a boot with `firmware`, or an UnsupportedVmError. */
export function machineOf(arch: string, firmware: Firmware = 'uefi'): MachineModel {
  const problem = vmProblem(arch, firmware);
  if (problem) throw new UnsupportedVmError(problem.message, { field: problem.field });
  return MACHINES[arch as VmArch];
}
