/**
 * The Fedora CoreOS disk layout (coreos-assembler's create_disk.sh and osbuild manifests): a 1 MiB
 * gap, partition 1 BIOS-BOOT (x86_64) or `reserved` (aarch64, to keep the numbers), 2 EFI-SYSTEM,
 * 3 `boot`, 4 `root` taking the rest, and the fixed placeholder UUIDs that the real OS randomizes
 * on first boot (ignition-dracut's coreos-gpt-setup for the disk GUID, fedora-coreos-config for the
 * filesystem UUIDs).
 */
import type { Arch } from '../artifacts.ts';
import { FcosError } from '../errors.ts';
import type { GptLayout, GptPartition } from './gpt.ts';

/** One mebibyte. */
export const MIB = 1024 * 1024;

/** The disk GUID coreos-gpt-setup looks for to know the disk is uninitialized. */
export const UNINITIALIZED_DISK_GUID = '00000000-0000-4000-a000-000000000001';
/** Filesystem UUID of `boot` that first boot replaces. */
export const BOOT_FILESYSTEM_UUID = '96d15588-3596-4b3c-adca-a2ff7279ea63';
/** Filesystem UUID of `root` that first boot replaces. */
export const ROOT_FILESYSTEM_UUID = '910678ff-f77e-4a7d-8d53-86f2ac47a823';
/** FAT volume id of EFI-SYSTEM (coreos-assembler's osbuild manifests). */
export const EFI_VOLUME_ID = '7B7795E7';

/** GPT partition type GUIDs used by the layout. */
export const PARTITION_TYPES = {
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
  efiSystem: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  linuxFilesystem: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  reserved: '8DA63339-0007-60C0-C436-083AC8230908',
} as const;

/**
 * Unique partition GUIDs: placeholders like the disk GUID (coreos-assembler lets sfdisk pick random
 * ones; fixed ones make the image reproducible, and first boot randomizes them with the disk GUID).
 */
export const PARTITION_GUIDS = [
  '00000000-0000-4000-a000-000000000011',
  '00000000-0000-4000-a000-000000000012',
  '00000000-0000-4000-a000-000000000013',
  '00000000-0000-4000-a000-000000000014',
] as const;

/** The GPT attribute bit that marks a partition legacy-BIOS bootable (osbuild sets it on BIOS-BOOT). */
const LEGACY_BIOS_BOOTABLE = 1n << 2n;

/** Sizes of the fixed partitions, in MiB, and the room kept after `root` for the backup table. */
const SIZES_MIB = { gap: 1, first: 1, efi: 127, boot: 384, tail: 1 } as const;

/** A partition of the layout, with what the builder needs to fill it. */
export interface LayoutPartition extends GptPartition {
  /** What goes in it. */
  readonly role: 'bios-boot' | 'reserved' | 'efi' | 'boot' | 'root';
}

/** A disk layout: the partition table plus the role of each partition. */
export interface DiskLayout extends GptLayout {
  /** The partitions, by number. */
  readonly partitions: readonly LayoutPartition[];
}

/** The arch or size does not allow the layout. */
export class DiskLayoutError extends FcosError {}

/** Architectures the layout (and the bootloader setup) is written for. */
export const LAYOUT_ARCHES: readonly Arch[] = ['x86_64', 'aarch64'];

/** The smallest disk that leaves `root` any room, in bytes. */
export function minimumDiskSize(): number {
  const { gap, first, efi, boot, tail } = SIZES_MIB;
  return (gap + first + efi + boot + tail + 1) * MIB;
}

/** The Fedora CoreOS layout of a `diskSize`-byte disk of `arch` with `sectorSize`-byte sectors. */
export function fedoraCoreOsLayout(arch: Arch, diskSize: number, sectorSize: 512 | 4096): DiskLayout {
  if (!LAYOUT_ARCHES.includes(arch))
    throw new DiskLayoutError(
      `the Fedora CoreOS disk layout is implemented for ${LAYOUT_ARCHES.join(' and ')}, not ${arch}`,
      { field: 'arch' },
    );
  if (diskSize < minimumDiskSize() || diskSize % MIB !== 0)
    throw new DiskLayoutError(
      `a disk of ${diskSize} bytes cannot hold the layout: it needs whole MiB and at least ${minimumDiskSize() / MIB} MiB`,
      { field: 'sizeGiB' },
    );
  const { gap, first, efi, boot, tail } = SIZES_MIB;
  const firstPartition: LayoutPartition =
    arch === 'x86_64'
      ? {
          number: 1,
          name: 'BIOS-BOOT',
          role: 'bios-boot',
          typeGuid: PARTITION_TYPES.biosBoot,
          guid: PARTITION_GUIDS[0],
          offset: gap * MIB,
          size: first * MIB,
          attributes: LEGACY_BIOS_BOOTABLE,
        }
      : {
          number: 1,
          name: 'reserved',
          role: 'reserved',
          typeGuid: PARTITION_TYPES.reserved,
          guid: PARTITION_GUIDS[0],
          offset: gap * MIB,
          size: first * MIB,
        };
  const efiOffset = (gap + first) * MIB;
  const bootOffset = efiOffset + efi * MIB;
  const rootOffset = bootOffset + boot * MIB;
  return {
    sectorSize,
    diskSize,
    diskGuid: UNINITIALIZED_DISK_GUID,
    partitions: [
      firstPartition,
      {
        number: 2,
        name: 'EFI-SYSTEM',
        role: 'efi',
        typeGuid: PARTITION_TYPES.efiSystem,
        guid: PARTITION_GUIDS[1],
        offset: efiOffset,
        size: efi * MIB,
      },
      {
        number: 3,
        name: 'boot',
        role: 'boot',
        typeGuid: PARTITION_TYPES.linuxFilesystem,
        guid: PARTITION_GUIDS[2],
        offset: bootOffset,
        size: boot * MIB,
      },
      {
        number: 4,
        name: 'root',
        role: 'root',
        typeGuid: PARTITION_TYPES.linuxFilesystem,
        guid: PARTITION_GUIDS[3],
        offset: rootOffset,
        size: diskSize - rootOffset - tail * MIB,
      },
    ],
  };
}

/** The partition of `layout` with `role`. */
export function partitionWithRole(layout: DiskLayout, role: LayoutPartition['role']): LayoutPartition {
  const partition = layout.partitions.find((candidate) => candidate.role === role);
  if (!partition) throw new DiskLayoutError(`the layout has no ${role} partition`);
  return partition;
}
