/**
 * xorriso: a directory as a hybrid live ISO, bootable as a CD and as a disk (a USB stick), under
 * BIOS and UEFI, as grub-mkrescue and coreos-assembler's buildextend-live make it: El Torito with
 * GRUB's i386-pc-eltorito core for BIOS and a FAT image holding the EFI binary for UEFI, GRUB's
 * boot_hybrid.img as the MBR and a GPT naming the FAT image, so firmware finds it on a disk too.
 * Reproducible: SOURCE_DATE_EPOCH makes xorriso use that time for the volume, every file and the
 * GPT's GUIDs.
 */
import type { ToolExec } from '../exec.ts';

/** BIOS boot code of a hybrid ISO's MBR (grub-pc-bin). */
export const GRUB_HYBRID_MBR = '/usr/lib/grub/i386-pc/boot_hybrid.img';

/** Options of {@link makeHybridIso}. */
export interface HybridIsoOptions {
  /** The directory that becomes the ISO's root. */
  readonly tree: string;
  /** The ISO file to write. */
  readonly output: string;
  /** The volume label (at most 32 characters), which the live initramfs looks for. */
  readonly volumeId: string;
  /** Path in `tree` of GRUB's El Torito core (i386-pc-eltorito), for BIOS; none: UEFI only. */
  readonly biosBootImage?: string | undefined;
  /** Path in `tree` of the FAT image holding EFI/BOOT/BOOT*.EFI, for UEFI. */
  readonly efiBootImage: string;
  /** Path in `tree` of the El Torito boot catalog to create. */
  readonly bootCatalog: string;
  /** Seconds since the epoch: every date in the ISO. */
  readonly timestamp: number;
}

/** Writes a hybrid ISO of `tree` (mkisofs emulation: Rock Ridge, Joliet). */
export async function makeHybridIso(exec: ToolExec, options: HybridIsoOptions): Promise<void> {
  const bios = options.biosBootImage
    ? [
        '-b',
        options.biosBootImage,
        '-no-emul-boot',
        '-boot-load-size',
        '4',
        '-boot-info-table',
        '--grub2-boot-info',
        '--grub2-mbr',
        GRUB_HYBRID_MBR,
      ]
    : [];
  await exec(
    'xorriso',
    [
      '-as',
      'mkisofs',
      '-output',
      options.output,
      '-volid',
      options.volumeId,
      '-rational-rock',
      '-joliet',
      '-joliet-long',
      '-c',
      options.bootCatalog,
      ...bios,
      '-eltorito-alt-boot',
      '-e',
      options.efiBootImage,
      '-no-emul-boot',
      '-isohybrid-gpt-basdat',
      options.tree,
    ],
    { env: { SOURCE_DATE_EPOCH: String(options.timestamp) } },
  );
}
