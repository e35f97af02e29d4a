#!/usr/bin/env bash
# The foreign roots of fcos-cdk: the Debian files another architecture's local tiny OS is made of
# (LocalPackageRepo repackages the build host's files for the host's arch, these for another one).
#
#   scripts/foreign-root.sh [ARCH...]            make /var/lib/fcos-cdk/roots/ARCH (default: aarch64)
#   scripts/foreign-root.sh --update-lock ARCH   write scripts/foreign-roots/ARCH.lock anew
#
# A root is the `dpkg-deb -x` of the Debian packages pinned in scripts/foreign-roots/ARCH.lock
# (`name version sha256`, one a line), downloaded with `apt-get download` into
# /var/cache/fcos-cdk/debs/ and checked against the pinned sha256. Nothing is installed: dpkg only
# learns the architecture (`dpkg --add-architecture`) so that apt knows its packages. The lock's
# copy, ROOT/.fcos-cdk-lock, is written last: it marks the root complete, and the LocalPackageRepo
# runner takes it as the root's fingerprint. Run again, a complete root with the same lock is left
# alone (fast). Needs root (dpkg, apt) unless the roots are already there.
#
# --update-lock pins the current candidates of: the arm64 builds of the Debian packages whose
# files the specs take (LocalPackageRepo's HOST_PACKAGES but rpm and createrepo-c, which run on the
# build host), the kernel (linux-image-ABI-ARCH, the dependency of the linux-image-ARCH
# metapackage), GRUB's EFI modules (grub-efi-ARCH-bin, for DiskImage's grub-mkimage) and of their
# Depends only the packages holding a shared library the ELF files of those packages need
# (transitively, found with local-os/packages/elf-libraries.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# FCOS_FOREIGN_ROOTS_DIR overrides where the roots go, as for lib/tools/foreign-root.ts.
ROOTS=${FCOS_FOREIGN_ROOTS_DIR:-/var/lib/fcos-cdk/roots}
CACHE=/var/cache/fcos-cdk/debs
LOCKS=scripts/foreign-roots
MARKER=.fcos-cdk-lock
# The packages of the specs, from LocalPackageRepo's HOST_PACKAGES (stages/local-package-repo/runner.ts).
SPEC_PACKAGES=(busybox-static ignition passwd login ostree libostree-1-1 libgpgme11 gpg gpgv gpgconf
  curl libcurl4 jq libjq1 bubblewrap zstd)

# Prints an error and exits.
die() {
  echo "foreign-root: $*" >&2
  exit 1
}

# Debian's name of RPM architecture $1.
debian_arch() {
  case $1 in
    aarch64) echo arm64 ;;
    *) die "no foreign root is defined for architecture '$1' (known: aarch64)" ;;
  esac
}

# The multiarch triplet of RPM architecture $1.
multiarch_triplet() {
  case $1 in
    aarch64) echo aarch64-linux-gnu ;;
  esac
}

# Makes apt know the packages of Debian architecture $1 (dpkg --add-architecture, apt-get update).
enable_architecture() {
  local arch=$1
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    [[ $(id -u) -eq 0 ]] || die "dpkg does not know architecture $arch: run scripts/setup.sh as root"
    dpkg --add-architecture "$arch"
  fi
  if ! compgen -G "/var/lib/apt/lists/*_binary-${arch}_Packages*" >/dev/null; then
    [[ $(id -u) -eq 0 ]] || die "apt has no $arch package lists: run scripts/setup.sh as root"
    apt-get update -qq
  fi
}

# Downloads package $1:$3 version $2 into the cache unless it is there; prints the .deb's path.
download() {
  local name=$1 version=$2 arch=$3
  # apt-get download's file name: the epoch's colon is written %3a; arch-independent ones are _all.
  local stem=$CACHE/${name}_${version//:/%3a}
  mkdir -p "$CACHE"
  if [[ ! -f ${stem}_$arch.deb && ! -f ${stem}_all.deb ]]; then
    (cd "$CACHE" && apt-get download -q -o APT::Sandbox::User=root "$name:$arch=$version" >/dev/null) || return 1
  fi
  if [[ -f ${stem}_$arch.deb ]]; then echo "${stem}_$arch.deb"; else echo "${stem}_all.deb"; fi
}

# Makes the root of RPM architecture $1 from its lock (nothing to do if it is complete and current).
make_root() {
  local arch=$1
  local debian lock root
  debian=$(debian_arch "$arch")
  lock=$LOCKS/$arch.lock
  root=$ROOTS/$arch
  [[ -f $lock ]] || die "no lock $lock: run scripts/foreign-root.sh --update-lock $arch"
  if [[ -f $root/$MARKER ]] && cmp -s "$lock" "$root/$MARKER"; then
    return 0
  fi
  enable_architecture "$debian"
  echo "foreign-root: making $root from $lock"
  rm -rf "$root.partial"
  mkdir -p "$root.partial"
  local name version sha256 deb
  while read -r name version sha256; do
    [[ -z $name || $name == \#* ]] && continue
    if ! deb=$(download "$name" "$version" "$debian") || [[ -z $deb ]]; then
      die "$name $version ($debian) is no longer in the Debian archive: regenerate the lock with scripts/foreign-root.sh --update-lock $arch (then commit $lock)"
    fi
    if [[ $(sha256sum "$deb" | cut -d' ' -f1) != "$sha256" ]]; then
      rm -f "$deb"
      die "$deb does not have the sha256 $lock pins ($sha256): downloaded again next time; if the archive changed, regenerate the lock with scripts/foreign-root.sh --update-lock $arch"
    fi
    dpkg-deb -x "$deb" "$root.partial"
  done <"$lock"
  merge_usr "$root.partial"
  # The kernel package leaves modules.dep to its postinst: made here, as on an installed system.
  local modules
  for modules in "$root.partial"/usr/lib/modules/*/; do
    depmod -b "$root.partial" "$(basename "$modules")"
  done
  rm -rf "$root"
  mv "$root.partial" "$root"
  # Last: the marker that the root is complete.
  cp "$lock" "$root/$MARKER"
  echo "foreign-root: $root is ready ($(du -sh "$root" | cut -f1))"
}

# Makes root $1 merged-/usr like the build host (Debian 12 with usrmerge): /bin, /sbin and /lib
# moved under /usr and linked there, so that files have the paths they have on the host.
merge_usr() {
  local root=$1 directory
  for directory in bin sbin lib; do
    [[ -d $root/$directory && ! -L $root/$directory ]] || continue
    mkdir -p "$root/usr/$directory"
    cp -a "$root/$directory/." "$root/usr/$directory/"
    rm -rf "${root:?}/$directory"
    ln -s "usr/$directory" "$root/$directory"
  done
}

# The current candidate version of package $1:$2.
candidate() {
  apt-cache policy "$1:$2" | sed -n 's/^ *Candidate: //p' | grep -vx '(none)' || die "no candidate for $1:$2"
}

# The archive's sha256 of package $1:$2 version $3.
archive_sha256() {
  apt-cache show "$1:$2=$3" | sed -n 's/^SHA256: //p' | head -n 1
}

# The real packages (of architecture $2) that package $1 Depends or Pre-Depends on.
direct_dependencies() {
  apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
    "$1:$2" | sed -n "s/^ *|\\?\\(Pre\\)\\?Depends: \\([^<: ][^ :]*\\):$2\$/\\2/p" | sort -u
}

# Writes scripts/foreign-roots/$1.lock: the current candidates of the packages the root needs.
update_lock() {
  local arch=$1
  local debian triplet
  debian=$(debian_arch "$arch")
  triplet=$(multiarch_triplet "$arch")
  enable_architecture "$debian"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/root" "$work/lists"
  local kernel
  kernel=$(apt-cache depends "linux-image-$debian:$debian" | sed -n "s/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p" | head -n 1)
  [[ -n $kernel ]] || die "linux-image-$debian:$debian depends on no linux-image-ABI package"
  local -A kept=() examined=() expanded=()
  # Downloads and unpacks package $1 into the work root, recording its version and file list.
  unpack() {
    local name=$1 version deb
    version=$(candidate "$name" "$debian")
    deb=$(download "$name" "$version" "$debian") || die "cannot download $name:$debian $version"
    dpkg-deb -x "$deb" "$work/root"
    dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' >"$work/lists/$name"
    echo "$version" >"$work/lists/$name.version"
  }
  local name
  for name in "${SPEC_PACKAGES[@]}" "$kernel" "grub-efi-$debian-bin"; do
    unpack "$name"
    kept[$name]=1
    examined[$name]=1
  done
  # The ELF executables and libraries of the spec packages (not the kernel's modules or GRUB's).
  local elves=()
  for name in "${SPEC_PACKAGES[@]}"; do
    while read -r path; do
      [[ -f $work/root$path && ! -L $work/root$path ]] || continue
      [[ $(head -c 4 "$work/root$path" | od -An -c | tr -d ' ') == 177ELF ]] && elves+=("$path")
    done <"$work/lists/$name"
  done
  # Until every needed library is found: unpack the dependencies of the kept packages.
  local round=0 missing found
  while true; do
    round=$((round + 1))
    if found=$(sh local-os/packages/elf-libraries.sh "$work/root" "$triplet" "${elves[@]}" 2>"$work/missing"); then
      break
    fi
    missing=$(sed -n 's/^elf-libraries: not found: \([^ ]*\) .*/\1/p' "$work/missing" | sort -u)
    [[ -n $missing ]] || die "elf-libraries failed: $(cat "$work/missing")"
    local added=0 dependency
    for name in "${!kept[@]}"; do
      # Each kept package's Depends are unpacked once (apt-cache is slow with two arches' lists).
      [[ -n ${expanded[$name]:-} ]] && continue
      expanded[$name]=1
      for dependency in $(direct_dependencies "$name" "$debian"); do
        [[ -n ${examined[$dependency]:-} ]] && continue
        examined[$dependency]=1
        unpack "$dependency"
        added=1
      done
    done
    # The newly unpacked packages that hold a missing library are kept.
    local library
    for library in $missing; do
      for name in "${!examined[@]}"; do
        [[ -n ${kept[$name]:-} ]] && continue
        if grep -q "/$library\$" "$work/lists/$name"; then
          kept[$name]=1
          added=1
        fi
      done
    done
    ((added)) || die "not found in the Depends of the kept packages: $missing"
    ((round < 20)) || die "the library closure did not settle: $missing"
  done
  # The packages owning the libraries found (and their real files).
  local path
  for path in $(echo "$found" | tr ' ' '\n' | sort -u); do
    for name in "${!examined[@]}"; do
      grep -qx "$path" "$work/lists/$name" && kept[$name]=1
    done
  done
  # Written: the kept packages; one unpacked but holding no needed library is left out.
  {
    echo "# The Debian $debian packages of /var/lib/fcos-cdk/roots/$arch (scripts/foreign-root.sh): name version sha256."
    echo "# Generated by 'scripts/foreign-root.sh --update-lock $arch' (current candidates of the spec packages,"
    echo "# $kernel, grub-efi-$debian-bin and the library packages their ELF files need); run it again when"
    echo "# a version is gone from the archive, and commit this file."
    for name in $(printf '%s\n' "${!kept[@]}" | LC_ALL=C sort); do
      local version
      version=$(cat "$work/lists/$name.version")
      echo "$name $version $(archive_sha256 "$name" "$debian" "$version")"
    done
  } >"$work/lock"
  mkdir -p "$LOCKS"
  mv "$work/lock" "$LOCKS/$arch.lock"
  echo "foreign-root: wrote $LOCKS/$arch.lock (${#kept[@]} packages of ${#examined[@]} examined)"
}

if [[ ${1:-} == --update-lock ]]; then
  [[ $# -eq 2 ]] || die 'usage: scripts/foreign-root.sh --update-lock ARCH'
  update_lock "$2"
  exit 0
fi
for arch in "${@:-aarch64}"; do
  make_root "$arch"
done
