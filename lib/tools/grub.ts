/**
 * GRUB without grub-install: images made with grub-mkimage carrying every module they need and an
 * embedded early config that finds the `boot` partition by label and reads its grub2/grub.cfg.
 * Quirks handled here (Debian 12, GRUB 2.06): there is no `blscfg` module (grub.cfg is generated
 * from the BLS entries, lib/grub-config.ts); `grub-bios-setup` is not in grub-pc-bin, so the BIOS
 * boot sector and core image are placed by hand, as grub-bios-setup would: boot.img's code (bytes
 * 0-439) in the MBR with the LBA of core.img at 0x5c and the drive check at 0x66 replaced by NOPs
 * (GRUB does that for hard disks), core.img in the BIOS-BOOT partition with the first sector of
 * its blocklist patched at 0x1f4. A platform whose Debian package is not installed (arm64-efi on
 * an amd64 host: grub-efi-arm64-bin is arm64-only) takes its modules from the foreign root of its
 * arch (scripts/foreign-root.sh: the package's files extracted under /var/lib/fcos-cdk/roots/ARCH).
 */
import { existsSync, readFileSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Arch } from '../artifacts.ts';
import { FcosError } from '../errors.ts';
import type { ToolExec } from '../exec.ts';
import type { JsonValue } from '../util/canonical-json.ts';
import { FOREIGN_ROOT_MARKER, foreignRootsDirectory, parseLock } from './foreign-root.ts';

/** Where Debian's grub-*-bin packages install the modules of each platform. */
export const GRUB_LIBRARY = '/usr/lib/grub';

/** GRUB platforms an image is made for. */
export type GrubPlatform = 'i386-pc' | 'x86_64-efi' | 'arm64-efi';

/** What an image is made as: a platform's, or BIOS's El Torito core of a CD (i386-pc's modules). */
export type GrubFormat = GrubPlatform | 'i386-pc-eltorito';

/** The GRUB image could not be made or placed. */
export class GrubError extends FcosError {}

/** Modules every image carries: disks, filesystems, search, the config language, Linux, consoles. */
const COMMON_MODULES = [
  'part_gpt',
  'ext2',
  'fat',
  'search',
  'search_label',
  'search_fs_uuid',
  'configfile',
  'normal',
  'linux',
  'echo',
  'test',
  'true',
  'serial',
  'terminal',
  'boot',
  'cat',
  'ls',
  'sleep',
  'reboot',
  'halt',
  // grubenv: greenboot's boot counter (load_env, save_env).
  'loadenv',
];

/** Modules of one platform on top of the common ones. */
const PLATFORM_MODULES: Record<GrubPlatform, readonly string[]> = {
  'i386-pc': ['biosdisk'],
  'x86_64-efi': ['efi_gop'],
  'arm64-efi': ['efi_gop'],
};

/** The removable-media path of the EFI binary for `arch` on the ESP (what firmware boots by default). */
export function efiBootPath(arch: Arch): string {
  if (arch === 'x86_64') return '/EFI/BOOT/BOOTX64.EFI';
  if (arch === 'aarch64') return '/EFI/BOOT/BOOTAA64.EFI';
  throw new GrubError(`no UEFI GRUB for ${arch}`);
}

/** The GRUB EFI platform of `arch`. */
export function efiPlatform(arch: Arch): GrubPlatform {
  if (arch === 'x86_64') return 'x86_64-efi';
  if (arch === 'aarch64') return 'arm64-efi';
  throw new GrubError(`no UEFI GRUB for ${arch}`);
}

/** The Debian package that ships the modules of `platform`, for messages. */
function packageOf(platform: GrubPlatform): string {
  return { 'i386-pc': 'grub-pc-bin', 'x86_64-efi': 'grub-efi-amd64-bin', 'arm64-efi': 'grub-efi-arm64-bin' }[
    platform
  ];
}

/**
 * The early config embedded in every image: the partition labelled `boot` becomes the root, its
 * grub2/ the prefix, and its grub2/grub.cfg is read (coreos-assembler's static EFI grub.cfg does the same).
 */
export function earlyConfig(): string {
  return [
    'search --no-floppy --label boot --set=root',
    'set prefix=($root)/grub2',
    'configfile $prefix/grub.cfg',
    '',
  ].join('\n');
}

/**
 * The early config of a live ISO's images: the ISO labelled `volumeId` becomes the root, its
 * boot/grub/ the prefix, and its boot/grub/grub.cfg is read.
 */
export function liveEarlyConfig(volumeId: string): string {
  return [
    `search --no-floppy --label ${volumeId} --set=root`,
    'set prefix=($root)/boot/grub',
    'configfile $prefix/grub.cfg',
    '',
  ].join('\n');
}

/** Modules of a live ISO's images on top of the common ones: the ISO's filesystem and hybrid MBR. */
const LIVE_MODULES = ['iso9660', 'part_msdos'];

/** Options of {@link makeGrubImage}. */
export interface GrubImageOptions {
  /** Platform of the image, or `i386-pc-eltorito` for a CD's BIOS boot image. */
  readonly platform: GrubFormat;
  /** Where to write it. */
  readonly output: string;
  /** A scratch directory for the early config file. */
  readonly workDir: string;
  /**
   * The early config and prefix, and the modules a live ISO needs.
   * @default the disk's: the partition labelled `boot`, /grub2
   */
  readonly liveVolumeId?: string;
  /**
   * Where foreign roots are looked for when the platform's package is not installed.
   * @default lib/tools/foreign-root.ts's foreignRootsDirectory()
   */
  readonly foreignRoots?: string;
}

/** The arch whose foreign root can hold the modules of `platform` (EFI platforms only). */
function foreignArchOf(platform: GrubPlatform): Arch | undefined {
  return platform === 'arm64-efi' ? 'aarch64' : platform === 'x86_64-efi' ? 'x86_64' : undefined;
}

/** Where the modules of one GRUB platform come from, and the version of the package they are from. */
export interface GrubModuleSource {
  /** The directory passed to grub-mkimage's `--directory`. */
  readonly directory: string;
  /** `host` (the installed Debian package) or the foreign root's directory. */
  readonly origin: 'host' | string;
  /** The Debian package the modules are from. */
  readonly package: string;
  /** Its version, when known (the foreign root's lock pins it; the host's is in the fingerprint's tools). */
  readonly version?: string;
}

/** The version `lockFile` pins for `packageName`, or undefined (no such line, or no file). */
function lockedVersion(lockFile: string, packageName: string): string | undefined {
  if (!existsSync(lockFile)) return undefined;
  return parseLock(readFileSync(lockFile, 'utf8')).find((locked) => locked.name === packageName)?.version;
}

/**
 * Where grub-mkimage finds the modules of `platform`: the host's package if installed, else a
 * complete foreign root of the platform's arch under `foreignRoots` that holds them; undefined if
 * neither.
 */
export function grubModuleSource(
  platform: GrubPlatform,
  foreignRoots: string = foreignRootsDirectory(),
): GrubModuleSource | undefined {
  const packageName = packageOf(platform);
  const hostDirectory = path.join(GRUB_LIBRARY, platform);
  if (existsSync(hostDirectory)) return { directory: hostDirectory, origin: 'host', package: packageName };
  const arch = foreignArchOf(platform);
  if (arch === undefined) return undefined;
  const root = path.join(foreignRoots, arch);
  const directory = path.join(root, GRUB_LIBRARY, platform);
  // Only a complete root (its marker is written last) whose lock pins the package counts.
  const version = lockedVersion(path.join(root, FOREIGN_ROOT_MARKER), packageName);
  if (version === undefined || !existsSync(path.join(directory, 'linux.mod'))) return undefined;
  return { directory, origin: root, package: packageName, version };
}

/** Why GRUB images for `platform` cannot be made on this host (its modules are missing), or undefined. */
export function missingGrubPlatform(
  platform: GrubPlatform,
  foreignRoots: string = foreignRootsDirectory(),
): string | undefined {
  if (grubModuleSource(platform, foreignRoots)) return undefined;
  const arch = foreignArchOf(platform);
  const foreign =
    arch === undefined
      ? ''
      : `, or make the ${arch} foreign root that holds its files (scripts/foreign-root.sh ${arch}: ${path.join(foreignRoots, arch)})`;
  return `GRUB's ${platform} modules are not installed (${path.join(GRUB_LIBRARY, platform)}): install ${packageOf(platform)}${foreign}`;
}

/**
 * The origin and version of the modules of each of `platforms`, for a runner's fingerprint (an
 * image's bytes depend on them whether they come from the host or a foreign root).
 */
export function grubModuleVersions(
  platforms: readonly GrubPlatform[],
  foreignRoots: string = foreignRootsDirectory(),
): Record<string, { origin: string; package: string; version: string | null }> {
  const versions: Record<string, { origin: string; package: string; version: string | null }> = {};
  for (const platform of platforms) {
    const source = grubModuleSource(platform, foreignRoots);
    if (source)
      versions[platform] = {
        origin: source.origin,
        package: source.package,
        version: source.version ?? null,
      };
  }
  return versions;
}

/**
 * `fingerprint` of an image's tools with, when `arch`'s EFI GRUB modules come from a foreign root
 * (arm64-efi on an amd64 host), that root's package and version as `foreignGrubModules`; a host's
 * package is among the tools already, so a host-arch image's fingerprint is `fingerprint` itself.
 */
export function withForeignGrubModules(
  fingerprint: Readonly<Record<string, JsonValue>>,
  arch: Arch,
): Record<string, JsonValue> {
  if (arch !== 'x86_64' && arch !== 'aarch64') return { ...fingerprint };
  const foreign = Object.entries(grubModuleVersions([efiPlatform(arch)])).filter(
    ([, source]) => source.origin !== 'host',
  );
  return foreign.length === 0
    ? { ...fingerprint }
    : { ...fingerprint, foreignGrubModules: Object.fromEntries(foreign) };
}

/** Makes a GRUB image (EFI binary or BIOS core.img) with the modules and the early config built in. */
export async function makeGrubImage(exec: ToolExec, options: GrubImageOptions): Promise<void> {
  const platform: GrubPlatform = options.platform === 'i386-pc-eltorito' ? 'i386-pc' : options.platform;
  const source = grubModuleSource(platform, options.foreignRoots);
  if (!source) throw new GrubError(missingGrubPlatform(platform, options.foreignRoots) ?? platform);
  const directory = source.directory;
  const config = path.join(options.workDir, `early-${options.platform}.cfg`);
  const live = options.liveVolumeId;
  await writeFile(config, live === undefined ? earlyConfig() : liveEarlyConfig(live));
  await exec('grub-mkimage', [
    '--directory',
    directory,
    '--format',
    options.platform,
    '--prefix',
    live === undefined ? '/grub2' : '/boot/grub',
    '--config',
    config,
    '--output',
    options.output,
    ...COMMON_MODULES,
    ...PLATFORM_MODULES[platform],
    ...(live === undefined ? [] : LIVE_MODULES),
  ]);
}

/** Offset in boot.img of the LBA (8 bytes, little-endian) it loads core.img's first sector from. */
const BOOT_KERNEL_SECTOR = 0x5c;
/** Offset in boot.img of the 2-byte jump over the boot-drive check that hard disks get NOPs for. */
const BOOT_DRIVE_CHECK = 0x66;
/** Bytes of boot.img that go into the MBR (the rest of the sector is the partition table). */
const BOOT_CODE_SIZE = 440;
/** Offset in core.img of the first blocklist entry's start LBA (8 bytes, little-endian). */
const CORE_FIRST_BLOCKLIST_START = 0x1f4;
/** Sector size the BIOS boot path addresses. */
const BIOS_SECTOR = 512;

/** Options of {@link installBiosBoot}. */
export interface BiosBootOptions {
  /** The disk image (512-byte sectors). */
  readonly disk: string;
  /** core.img from {@link makeGrubImage} with platform `i386-pc`. */
  readonly coreImage: string;
  /** Byte offset of the BIOS-BOOT partition. */
  readonly partitionOffset: number;
  /** Byte size of the BIOS-BOOT partition. */
  readonly partitionSize: number;
}

/** Writes boot.img's code into the MBR and core.img into BIOS-BOOT, patched to find each other. */
export async function installBiosBoot(options: BiosBootOptions): Promise<void> {
  const bootImage = await readFile(path.join(GRUB_LIBRARY, 'i386-pc', 'boot.img'));
  const coreImage = await readFile(options.coreImage);
  if (coreImage.length > options.partitionSize)
    throw new GrubError(
      `core.img has ${coreImage.length} bytes, more than the ${options.partitionSize}-byte BIOS-BOOT partition`,
    );
  const coreLba = options.partitionOffset / BIOS_SECTOR;
  bootImage.writeBigUInt64LE(BigInt(coreLba), BOOT_KERNEL_SECTOR);
  bootImage.writeUInt16LE(0x9090, BOOT_DRIVE_CHECK);
  coreImage.writeBigUInt64LE(BigInt(coreLba + 1), CORE_FIRST_BLOCKLIST_START);
  const handle = await open(options.disk, 'r+');
  try {
    await handle.write(bootImage, 0, BOOT_CODE_SIZE, 0);
    await handle.write(coreImage, 0, coreImage.length, options.partitionOffset);
  } finally {
    await handle.close();
  }
}
