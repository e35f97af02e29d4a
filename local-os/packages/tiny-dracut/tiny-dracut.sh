#!/bin/sh
# tiny-dracut: the initramfs generator of the local tiny OS, run by the compose the way rpm-ostree
# runs dracut, but on the build host against an installroot (no chroot, no root privileges):
#
#   tiny-dracut --root DIR --kver KVER --output FILE
#
# FILE is a gzip'd newc cpio holding DIR's busybox (with applet links), the modules and index of
# DIR/usr/lib/modules/KVER, DIR's Ignition binary with the shared libraries it needs (taken from
# DIR, found with readelf by the elf-libraries script beside this one, so that DIR may be of another
# architecture than the host), DIR's useradd, usermod, userdel, groupadd, groupmod and groupdel (shadow-utils, if DIR has
# them: Ignition runs them to create users and groups) with their libraries and login.defs, a no-op
# setfiles (Ignition's SELinux relabel) and DIR/usr/lib/tiny-dracut/init as /init.
# The bytes depend only on the inputs: names are sorted, owners are 0:0, every mtime is
# SOURCE_DATE_EPOCH (default 0), and gzip stores no name or time.
# Host tools used: find, sort, cpio (GNU, --reproducible), gzip, readelf, touch, awk.
set -eu
umask 022

IGNITION_BINARY=/usr/lib/dracut/modules.d/30ignition/ignition
# The shadow-utils tools Ignition runs (`useradd --root /newroot ...`), in /usr/sbin of the root.
SHADOW_TOOLS='useradd usermod userdel groupadd groupmod groupdel'
# chroot and id: Ignition checks whether a user exists with `chroot /newroot id NAME`; chown:
# the initramfs populates /var from the deployment's tmpfiles.d.
# cpio, sha256sum, wget, udhcpc, ip, ifconfig and route: live boots unpack, check and fetch the rootfs image.
APPLETS='sh ash [ [[ awk basename cat chmod chown chroot cp cpio cut dmesg echo env findfs grep head id
ifconfig insmod ip ln ls lsmod mkdir modprobe mount mv poweroff printf readlink reboot rm route sed
sha256sum sleep sort switch_root sync tail test timeout touch tr true udhcpc umount uname usleep wget'
# The DHCP script of the OS's init (tiny-init), used by live boots that fetch their rootfs.
UDHCPC_SCRIPT=/usr/lib/tiny-init/udhcpc-script
# The library resolver (the specs' elf-libraries.sh), installed beside /init by the package.
ELF_LIBRARIES=/usr/lib/tiny-dracut/elf-libraries

# Prints the usage.
usage() {
  echo 'usage: tiny-dracut --root DIR --kver KVER --output FILE'
}

# Prints an error and exits.
die() {
  echo "tiny-dracut: $*" >&2
  exit 1
}

# One newc cpio header and name ($1 name, $2 mode in octal, $3 rdev major, $4 rdev minor, $5 inode).
newc_entry() {
  name_size=$((${#1} + 1))
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    "$5" "$((0$2))" 0 0 1 "$epoch" 0 0 0 "$3" "$4" "$name_size" 0
  printf '%s\000' "$1"
  padding=$(((4 - (110 + name_size) % 4) % 4))
  while [ "$padding" -gt 0 ]; do
    printf '\000'
    padding=$((padding - 1))
  done
}

# A cpio holding /dev and the /dev/console node, written without mknod (no privileges needed).
console_archive() {
  newc_entry dev 040755 0 0 1
  newc_entry dev/console 020600 5 1 2
  newc_entry 'TRAILER!!!' 0 0 0 0
}

# Copies file $1 of the installroot (following links inside it) to $2 in the initramfs.
copy_from_root() {
  [ -e "$root$1" ] || die "$1 is not in $root"
  mkdir -p "$(dirname "$stage$2")"
  cp -L "$root$1" "$stage$2"
}

# The multiarch triplet of the installroot: the directory of its libc under /usr/lib.
root_triplet() {
  for libc in "$root"/usr/lib/*-linux-gnu*/libc.so.6; do
    [ -e "$libc" ] || continue
    triplet=${libc%/libc.so.6}
    printf '%s\n' "${triplet##*/}"
    return 0
  done
  die "no libc.so.6 in $root/usr/lib/TRIPLET (is Ignition's package installed in $root?)"
}

# Copies every shared library that executable $1 of the installroot needs, at the path its loader
# looks for it (as ldd would name it, without running it: the root may be of another arch).
copy_libraries() {
  libraries=$(sh "$root$ELF_LIBRARIES" "$root" "$(root_triplet)" "$1") ||
    die "the libraries of $1 are not all in $root"
  for library in $(printf '%s\n' "$libraries" | cut -d' ' -f1); do
    [ -e "$stage$library" ] || copy_from_root "$library" "$library"
  done
}

# Copies the Ignition binary and every shared library it needs.
copy_ignition() {
  copy_from_root "$IGNITION_BINARY" /usr/bin/ignition
  chmod 0755 "$stage/usr/bin/ignition"
  copy_libraries "$IGNITION_BINARY"
}

# Copies the shadow-utils tools, their libraries and login.defs, if the root has shadow-utils.
copy_shadow_utils() {
  [ -x "$root/usr/sbin/useradd" ] || return 0
  for tool in $SHADOW_TOOLS; do
    copy_from_root "/usr/sbin/$tool" "/usr/sbin/$tool"
    chmod 0755 "$stage/usr/sbin/$tool"
    copy_libraries "/usr/sbin/$tool"
  done
  # /etc before the compose moves it to /usr/etc; /usr/etc after.
  for defs in /etc/login.defs /usr/etc/login.defs; do
    if [ -f "$root$defs" ]; then
      copy_from_root "$defs" /etc/login.defs
      chmod 0644 "$stage/etc/login.defs"
      return 0
    fi
  done
}

root=''
kver=''
output=''
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --kver) kver=${2:?--kver needs a kernel version}; shift 2 ;;
    --output) output=${2:?--output needs a file}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
[ -n "$root" ] && [ -n "$kver" ] && [ -n "$output" ] || { usage >&2; exit 2; }
[ -d "$root" ] || die "--root $root is not a directory"
root=$(cd "$root" && pwd)
modules=$root/usr/lib/modules/$kver
[ -f "$modules/modules.dep" ] || die "no $modules/modules.dep (is tiny-kernel $kver installed in $root?)"
epoch=${SOURCE_DATE_EPOCH:-0}

stage=$(mktemp -d "${TMPDIR:-/tmp}/tiny-dracut.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/usr/bin" "$stage/usr/sbin" "$stage/proc" "$stage/sys" "$stage/run" \
  "$stage/tmp" "$stage/etc" "$stage/lib/modules"
ln -s bin "$stage/sbin"

copy_from_root /usr/lib/tiny-dracut/init /init
chmod 0755 "$stage/init"
copy_from_root /usr/bin/busybox /bin/busybox
chmod 0755 "$stage/bin/busybox"
for applet in $APPLETS; do
  ln -s busybox "$stage/bin/$applet"
done
printf '#!/bin/sh\n# Ignition relabels for SELinux; the tiny OS has no policy.\nexit 0\n' >"$stage/usr/sbin/setfiles"
chmod 0755 "$stage/usr/sbin/setfiles"

# The modules and their index, without the kernel and any previous initramfs.
cp -R "$modules" "$stage/lib/modules/$kver"
rm -f "$stage/lib/modules/$kver/vmlinuz" "$stage/lib/modules/$kver/initramfs.img"
copy_ignition
copy_shadow_utils
if [ -f "$root$UDHCPC_SCRIPT" ]; then
  copy_from_root "$UDHCPC_SCRIPT" "$UDHCPC_SCRIPT"
  chmod 0755 "$stage$UDHCPC_SCRIPT"
  # Its interpreter is the OS's /usr/bin/sh.
  ln -s ../../bin/busybox "$stage/usr/bin/sh"
fi

find "$stage" -exec touch -h -d "@$epoch" {} +
mkdir -p "$(dirname "$output")"
# The console archive comes second, so that `cpio -t` (which stops at the first trailer) lists the
# files; the kernel unpacks every archive of the concatenation.
{
  (cd "$stage" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort |
    cpio --quiet -o -H newc --reproducible -R 0:0)
  console_archive
} | gzip -n -6 >"$output.tmp"
mv "$output.tmp" "$output"
