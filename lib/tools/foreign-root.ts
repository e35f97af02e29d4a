/**
 * Where an architecture's Debian files are on this build host: `/` for the host's own arch, the
 * foreign root scripts/foreign-root.sh unpacks (`/var/lib/fcos-cdk/roots/ARCH`) for another one.
 * The local tiny OS repackages those files (LocalPackageRepo); DiskImage takes GRUB's EFI modules
 * from there. A foreign root is complete when its lock copy (`.fcos-cdk-lock`, written last) is
 * there; that lock (`name version sha256` lines) is also what it is made of.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Arch } from '../artifacts.ts';
import { FcosError } from '../errors.ts';

/** The local tiny OS (and its GRUB) is not made for this arch. */
export class UnsupportedArchError extends FcosError {}

/** Directory of the foreign roots; `FCOS_FOREIGN_ROOTS_DIR` overrides it (tests). */
export function foreignRootsDirectory(): string {
  return process.env.FCOS_FOREIGN_ROOTS_DIR ?? '/var/lib/fcos-cdk/roots';
}

/** File a complete foreign root holds: the copy of the lock it was made from. */
export const FOREIGN_ROOT_MARKER = '.fcos-cdk-lock';

/** What differs between the architectures whose Debian files the local tiny OS is made of. */
export interface ArchFacts {
  /** Debian's name of the architecture (`arm64`). */
  readonly debianArch: string;
  /** Multiarch triplet: the libraries are in /lib/TRIPLET and /usr/lib/TRIPLET. */
  readonly multiarchTriplet: string;
  /** The dynamic loader, as binaries name it (PT_INTERP). */
  readonly elfInterpreter: string;
  /** `readelf -h` Machine of its binaries. */
  readonly elfMachine: string;
  /** GRUB's EFI platform (`grub-mkimage -O`, the directory of its modules under /usr/lib/grub). */
  readonly grubEfiPlatform: string;
}

/** The facts of each architecture the local tiny OS can be built for. */
const ARCH_FACTS: Partial<Record<Arch, ArchFacts>> = {
  x86_64: {
    debianArch: 'amd64',
    multiarchTriplet: 'x86_64-linux-gnu',
    elfInterpreter: '/lib64/ld-linux-x86-64.so.2',
    elfMachine: 'Advanced Micro Devices X86-64',
    grubEfiPlatform: 'x86_64-efi',
  },
  aarch64: {
    debianArch: 'arm64',
    multiarchTriplet: 'aarch64-linux-gnu',
    elfInterpreter: '/lib/ld-linux-aarch64.so.1',
    elfMachine: 'AArch64',
    grubEfiPlatform: 'arm64-efi',
  },
};

/** The facts of `arch`, or undefined for one the local tiny OS is not built for. */
export function archFacts(arch: Arch): ArchFacts | undefined {
  return ARCH_FACTS[arch];
}

/** The host's architecture as RPM names it, or undefined for one Fedora CoreOS is not built for. */
export function hostArch(): Arch | undefined {
  const names: Partial<Record<string, Arch>> = {
    x64: 'x86_64',
    arm64: 'aarch64',
    ppc64: 'ppc64le',
    s390x: 's390x',
  };
  return names[process.arch];
}

/** Whether `arch` is another one than the host's (its files come from a foreign root). */
export function isForeignArch(arch: Arch): boolean {
  return arch !== hostArch();
}

/** The root `arch`'s Debian files are under: `/` for the host's arch, its foreign root otherwise. */
export function archRoot(arch: Arch): string {
  return isForeignArch(arch) ? path.join(foreignRootsDirectory(), arch) : '/';
}

/** Directory of GRUB's EFI modules for `arch` (`grub-mkimage -d`), in the arch's root. */
export function grubEfiModulesDirectory(arch: Arch): string {
  const facts = archFacts(arch);
  if (!facts)
    throw new UnsupportedArchError(`no GRUB EFI platform is known for ${arch} (only x86_64 and aarch64)`);
  return path.join(archRoot(arch), 'usr/lib/grub', facts.grubEfiPlatform);
}

/** One Debian package of a foreign root's lock. */
export interface LockedPackage {
  /** Package name (`libc6`). */
  readonly name: string;
  /** Debian version (`2.36-9+deb12u13`). */
  readonly version: string;
  /** sha256 of the .deb. */
  readonly sha256: string;
}

/** The packages of the foreign root of `arch`, or undefined if it is missing or incomplete. */
export function readForeignRootLock(arch: Arch): LockedPackage[] | undefined {
  const marker = path.join(foreignRootsDirectory(), arch, FOREIGN_ROOT_MARKER);
  if (!existsSync(marker)) return undefined;
  return parseLock(readFileSync(marker, 'utf8'));
}

/** The `name version sha256` lines of a lock (comments and blank lines skipped). */
export function parseLock(text: string): LockedPackage[] {
  const packages: LockedPackage[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [name, version, sha256] = trimmed.split(/\s+/);
    if (name && version && sha256) packages.push({ name, version, sha256 });
  }
  return packages;
}

/** The binfmt_misc entries through which the kernel runs another arch's binaries (qemu-user). */
const BINFMT_ENTRIES: Partial<Record<Arch, string>> = {
  x86_64: 'qemu-x86_64',
  aarch64: 'qemu-aarch64',
  ppc64le: 'qemu-ppc64le',
  s390x: 'qemu-s390x',
};

/**
 * Whether this host can execute `arch`'s binaries (a chroot's scripts): its own arch, or another
 * one with an enabled qemu-user binfmt_misc entry (`update-binfmts --enable qemu-aarch64`).
 */
export function canExecuteArch(arch: Arch, binfmtDirectory = '/proc/sys/fs/binfmt_misc'): boolean {
  if (!isForeignArch(arch)) return true;
  const entry = BINFMT_ENTRIES[arch];
  if (!entry) return false;
  const file = path.join(binfmtDirectory, entry);
  if (!existsSync(file)) return false;
  return readFileSync(file, 'utf8').split('\n')[0]?.trim() === 'enabled';
}
