/**
 * Small metal-like disk images for the coreos-installer tests: a GPT with the Fedora CoreOS
 * partition numbers (1 BIOS-BOOT, 2 EFI-SYSTEM, 3 `boot`: ext4 holding a BLS entry, the grub.cfg
 * DiskImage would write for it, `ignition.firstboot` and `coreos/platforms.json`; 4 `root`) at 512- or 4096-byte sectors.
 * They are 14 MiB, so a test writes a whole image in a fraction of a second. Also reading files back
 * from the boot partition of an installed disk with debugfs, so no mount is needed to check, and
 * packing an image as the live ISO's data extents.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseBlsEntry } from '../../lib/disk/bls.ts';
import { packDataExtents } from '../../lib/disk/data-extents.ts';
import { MIB, PARTITION_GUIDS, PARTITION_TYPES } from '../../lib/disk/disk-layout.ts';
import { writeGpt } from '../../lib/disk/gpt.ts';
import { renderGrubConfig } from '../../lib/disk/grub-config.ts';
import { archSection } from '../../lib/disk/platform-boot.ts';
import { runTool } from '../../lib/exec.ts';

/** The `options` line of the images' BLS entry, as a metal image has it. */
export const METAL_OPTIONS =
  'root=LABEL=root rw ostree=/ostree/boot.1/fedora-coreos/abc/0 $ignition_firstboot mitigations=auto,nosmt ignition.platform.id=metal console=tty0 console=ttyS0,115200n8';

/** Where the BLS entry is on the boot partition. */
export const ENTRY_PATH = '/loader/entries/ostree-1-fedora-coreos.conf';

/** The linux line of the BLS entry (grub.cfg's menuentry repeats it with the options). */
const LINUX = '/ostree/fedora-coreos-abc/vmlinuz-6.1.0';

/** The console commands of the grub.cfg written into the images (kept by grub-config). */
export const CONSOLE_COMMANDS = [
  'serial --speed=115200',
  'terminal_input serial console',
  'terminal_output serial console',
] as const;

/** One platform of /boot/coreos/platforms.json. */
export interface PlatformEntry {
  readonly grub_commands?: readonly string[];
  readonly kernel_arguments?: readonly string[];
}

/**
 * The images' /coreos/platforms.json: the x86_64 section of targets/platforms.yaml, as DiskImage
 * writes it, plus a `metal` entry holding the image's own console settings (as Fedora CoreOS's
 * table had one), which coreos-installer swaps out for a platform's or --console's.
 */
export const PLATFORMS: Readonly<Record<string, PlatformEntry>> = {
  ...(archSection('x86_64') as Record<string, PlatformEntry>),
  metal: { grub_commands: CONSOLE_COMMANDS, kernel_arguments: ['console=tty0', 'console=ttyS0,115200n8'] },
};

/** One built image. */
export interface InstallImage {
  /** The raw disk image. */
  readonly raw: string;
  /** Logical sector size of its GPT. */
  readonly sectorSize: 512 | 4096;
  /** Its size in bytes: (AlternateLBA + 1) * sector size. */
  readonly size: number;
  /** Byte offset of partition 3 (`boot`). */
  readonly bootOffset: number;
  /** Size of partition 3 in bytes. */
  readonly bootSize: number;
}

/** Partition sizes in MiB: 1 MiB gap, BIOS-BOOT, EFI-SYSTEM, boot, root, 1 MiB for the backup table. */
const SIZES_MIB = { gap: 1, bios: 1, efi: 1, boot: 8, root: 2, tail: 1 } as const;

/** The text of the images' BLS entry with `options`. */
export function blsEntryText(options: string): string {
  return [
    'title Fedora CoreOS 41.20261130.2.0 (ostree:0)',
    'version 1',
    `options ${options}`,
    `linux ${LINUX}`,
    'initrd /ostree/fedora-coreos-abc/initramfs-6.1.0.img',
    '',
  ].join('\n');
}

/** The grub.cfg menuentry line that boots the entry with `options`. */
export function grubLinuxLine(options: string): string {
  return `  linux ${LINUX} ${options}`;
}

/** Builds `metal-<sectorSize>.raw` in `directory`: GPT, an ext4 boot partition, random bytes elsewhere. */
export async function buildInstallImage(directory: string, sectorSize: 512 | 4096): Promise<InstallImage> {
  const { gap, bios, efi, boot, root, tail } = SIZES_MIB;
  const size = (gap + bios + efi + boot + root + tail) * MIB;
  const offsets = { bios: gap * MIB, efi: (gap + bios) * MIB, boot: (gap + bios + efi) * MIB };
  const rootOffset = offsets.boot + boot * MIB;
  const raw = path.join(directory, `metal-${sectorSize}.raw`);
  const handle = await open(raw, 'w');
  try {
    await handle.truncate(size);
    // Random bytes in BIOS-BOOT and root: a test that compares the disk with the image sees them.
    await handle.write(randomBytes(64 * 1024), 0, 64 * 1024, offsets.bios);
    await handle.write(randomBytes(256 * 1024), 0, 256 * 1024, rootOffset);
  } finally {
    await handle.close();
  }
  await writeGpt(raw, {
    sectorSize,
    diskSize: size,
    diskGuid: '00000000-0000-4000-a000-000000000001',
    partitions: [
      partition(1, 'BIOS-BOOT', PARTITION_TYPES.biosBoot, offsets.bios, bios * MIB),
      partition(2, 'EFI-SYSTEM', PARTITION_TYPES.efiSystem, offsets.efi, efi * MIB),
      partition(3, 'boot', PARTITION_TYPES.linuxFilesystem, offsets.boot, boot * MIB),
      partition(4, 'root', PARTITION_TYPES.linuxFilesystem, rootOffset, root * MIB),
    ],
  });
  const bootImage = await buildBootFilesystem(directory, sectorSize, boot * MIB);
  const bootBytes = await readFile(bootImage);
  const disk = await open(raw, 'r+');
  try {
    await disk.write(bootBytes, 0, bootBytes.length, offsets.boot);
  } finally {
    await disk.close();
  }
  await rm(bootImage);
  return { raw, sectorSize, size, bootOffset: offsets.boot, bootSize: boot * MIB };
}

/** One partition of the layout. */
function partition(number: number, name: string, typeGuid: string, offset: number, size: number) {
  return { number, name, typeGuid, guid: PARTITION_GUIDS[number - 1]!, offset, size };
}

/** The boot filesystem: ext4 labelled `boot` with the BLS entry, grub.cfg and ignition.firstboot. */
async function buildBootFilesystem(directory: string, sectorSize: number, size: number): Promise<string> {
  const tree = path.join(directory, `boot-tree-${sectorSize}`);
  await mkdir(path.join(tree, 'loader/entries'), { recursive: true });
  await mkdir(path.join(tree, 'grub2'), { recursive: true });
  const entry = blsEntryText(METAL_OPTIONS);
  await writeFile(path.join(tree, ENTRY_PATH), entry);
  await writeFile(
    path.join(tree, 'grub2/grub.cfg'),
    renderGrubConfig({ entries: [parseBlsEntry(entry)], consoleCommands: CONSOLE_COMMANDS }),
  );
  await writeFile(path.join(tree, 'ignition.firstboot'), '');
  await mkdir(path.join(tree, 'coreos'));
  await writeFile(path.join(tree, 'coreos/platforms.json'), `${JSON.stringify(PLATFORMS, null, 2)}\n`);
  const image = path.join(directory, `boot-${sectorSize}.ext4`);
  await runTool('mkfs.ext4', ['-q', '-F', '-L', 'boot', '-b', '4096', '-d', tree, image, `${size / 1024}k`]);
  await rm(tree, { recursive: true });
  return image;
}

/** Compresses `file` with xz (`.xz`), gzip (`.gz`) or zstd (`.zst`) beside it; returns the new file. */
export async function compress(file: string, format: 'xz' | 'gzip' | 'zstd'): Promise<string> {
  const output = `${file}.${{ xz: 'xz', gzip: 'gz', zstd: 'zst' }[format]}`;
  const toolArguments = { xz: ['-T1', '-0', '-c', file], gzip: ['-n', '-c', file], zstd: ['-q', '-c', file] }[
    format
  ];
  await runTool(format, toolArguments, { stdoutFile: output });
  return output;
}

/** Copies the boot partition of `disk` (laid out as `image`) into a file of its own, for debugfs. */
async function extractBootPartition(disk: string, image: InstallImage, scratch: string): Promise<string> {
  const bytes = Buffer.alloc(image.bootSize);
  const handle = await open(disk, 'r');
  try {
    await handle.read(bytes, 0, image.bootSize, image.bootOffset);
  } finally {
    await handle.close();
  }
  const file = path.join(scratch, `boot-${path.basename(disk)}.ext4`);
  await writeFile(file, bytes);
  return file;
}

/** A file of the boot partition of installed `disk`: its text and its permission bits. */
export async function readBootFile(
  disk: string,
  image: InstallImage,
  file: string,
  scratch: string,
): Promise<{ text: string; mode: number }> {
  const partitionFile = await extractBootPartition(disk, image, scratch);
  try {
    const text = (await runTool('debugfs', ['-R', `cat ${file}`, partitionFile])).stdout;
    const stat = (await runTool('debugfs', ['-R', `stat ${file}`, partitionFile])).stdout;
    const mode = /Mode:\s+(0[0-7]+)/.exec(stat)?.[1];
    if (mode === undefined) throw new Error(`debugfs found no ${file} on the boot partition of ${disk}`);
    return { text, mode: Number.parseInt(mode, 8) };
  } finally {
    await rm(partitionFile, { force: true });
  }
}

/** A live ISO metal.json entry for a raw image carried as data extents, and its data file. */
export interface ExtentsEntry {
  /** The entry as stages/live-image writes it (`file` is the data file's path on the ISO). */
  readonly entry: {
    readonly file: string;
    readonly sha256: string;
    readonly sectorSize: number;
    readonly size: number;
    readonly extents: Array<[number, number]>;
  };
  /** The data file's bytes (the extents' bytes in order). */
  readonly data: Buffer;
  /** Bytes of the image that no extent covers (must read as zeros after an install). */
  readonly zeroBytes: number;
}

/** Packs `raw` with packDataExtents (as the live ISO carries it) into an entry for ISO path `file`. */
export async function buildExtentsEntry(
  raw: string,
  file: string,
  sectorSize: 512 | 4096,
): Promise<ExtentsEntry> {
  const dataFile = `${raw}.extents`;
  const packed = await packDataExtents(raw, dataFile);
  const data = await readFile(dataFile);
  await rm(dataFile);
  return {
    entry: {
      file,
      sha256: createHash('sha256').update(data).digest('hex'),
      sectorSize,
      size: packed.size,
      extents: packed.extents.map(([offset, length]) => [offset, length]),
    },
    data,
    zeroBytes: packed.size - packed.dataBytes,
  };
}
