#!/bin/sh
# /init of the local tiny OS's initramfs (tiny-dracut puts it there). In order:
#   1. mounts /proc /sys /dev /run and loads the disk, file system and fw_cfg modules;
#   2. mounts the root partition (root=LABEL=...|UUID=...|/dev/..., default LABEL=root) on /physroot;
#   3. follows the ostree= kernel argument (/ostree/boot.N/<os>/<bootcsum>/<n>, a chain of relative
#      links in the root partition) to /ostree/deploy/<os>/deploy/<checksum>.<serial> and bind-mounts
#      that deployment on /newroot, with /ostree/deploy/<os>/var on its /var;
#   4. on first boot (the `ignition.firstboot` kernel argument, as Fedora CoreOS) runs Ignition's
#      fetch stage for `ignition.platform.id`, populates /var from the deployment's tmpfiles.d
#      (its d, D and L lines under /var, as ignition-ostree-populate-var: /var/home must exist for
#      `useradd --create-home`, /home being a link to it), runs the files stage into /newroot (users
#      and groups with the initramfs's useradd/groupadd, which chroot into /newroot), then deletes
#      /ignition.firstboot from a partition labelled `boot`, if there is one;
#   Live boots (Fedora CoreOS's live ISO and PXE: `coreos.liveiso=LABEL`, `coreos.live.rootfs_url=URL`,
#   or the live rootfs image passed as a second initramfs) replace 2 and 3: the rootfs image's
#   /root.squashfs (a deployed sysroot) comes from the initramfs, from the ISO labelled LABEL
#   (mounted on /run/media/iso, where coreos-installer finds its offline image) or from URL (the
#   network configured by DHCP first), its sha256 must be the one in /etc/coreos-live-want-rootfs
#   when the initramfs has that file, and it is mounted read-only with a tmpfs overlay: the whole
#   system runs from RAM. ostree= may be omitted: the image's only deployment is used, and its path
#   is written to /run/ostree-live (the marker the OS's init reads). Ignition always runs.
#   4a. before Ignition, the config embedded in the live ISO (/config.ign, from its ignition.img) or
#      the one coreos-installer wrote to the boot partition (ignition/config.ign) becomes Ignition's
#      user config (/usr/lib/ignition/user.ign), as coreos-ignition-setup-user; the network is
#      configured first when `ignition.config.url=` is given; after Ignition, the boot partition's
#      ignition/ directory is deleted with the first-boot stamp (it may hold secrets);
#   5. does the rest of ostree-prepare-root: /usr becomes a read-only bind mount, the physical root
#      moves to /sysroot, /run/ostree-booted is created, and it switch_roots into /sbin/init.
# Progress is printed as `FCOS-CDK: initramfs ...` lines; any error prints
# `FCOS-CDK: initramfs failed: <reason>` (with the tail of the tool's log) and powers off: it never
# waits for input.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin

# Modules loaded at start, in order (their dependencies come with them).
MODULES='crc32c_generic crc32c_intel crct10dif_generic crc64_rocksoft_generic virtio_pci virtio_blk
virtio_scsi sd_mod ahci ext4 vfat nls_cp437 nls_iso8859_1 nls_ascii qemu_fw_cfg'
# How long to wait for the root device, in tenths of a second.
ROOT_WAIT_TENTHS=600
# Time limit of each Ignition stage, in seconds.
IGNITION_TIMEOUT=180
# Modules of live boots: the squashfs on a loop device under an overlay, the ISO on a CD or disk.
LIVE_MODULES='loop squashfs overlay isofs cdrom sr_mod'
# Where the live ISO is mounted (Fedora CoreOS's path, which coreos-installer reads).
LIVE_ISO_MOUNT=/run/media/iso
# The rootfs image on the live ISO, and the squashfs inside it.
LIVE_ROOTFS_ON_ISO=images/pxeboot/rootfs.img
LIVE_SQUASHFS=/root.squashfs
# The sha256 of the squashfs the initramfs was built for (LiveImage writes it).
LIVE_WANT_ROOTFS=/etc/coreos-live-want-rootfs
# The marker of a live boot for the OS's init, holding the deployment's ostree= path.
LIVE_MARKER=/run/ostree-live
# Ignition's user config (read when the platform has none), and where coreos-installer leaves it.
IGNITION_USER_CONFIG=/usr/lib/ignition/user.ign
INSTALLED_IGNITION_CONFIG=ignition/config.ign

# Prints one progress line.
say() {
  echo "FCOS-CDK: initramfs $*"
}

# Reports a failure (with the tail of log $2, if given) and powers off.
fail() {
  echo "FCOS-CDK: initramfs failed: $1"
  if [ -n "${2:-}" ] && [ -f "$2" ]; then
    tail -n 25 "$2" | sed 's/^/  | /'
  fi
  sync
  poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 10
  exit 1
}

# Mounts the API file systems and points the shell's output at the console.
mount_api_filesystems() {
  mkdir -p /proc /sys /dev /run /tmp
  mount -t proc -o nosuid,nodev,noexec proc /proc
  mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
  mount -t devtmpfs -o mode=0755,nosuid devtmpfs /dev
  mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
  exec </dev/console >/dev/console 2>&1
}

# Reads the kernel arguments this init understands into variables.
read_kernel_arguments() {
  ostree_path=''
  root_spec=LABEL=root
  firstboot=no
  platform=''
  quiet_console=yes
  live_iso=''
  live_rootfs_url=''
  ignition_config_url=''
  set -f
  # shellcheck disable=SC2046
  set -- $(cat /proc/cmdline)
  set +f
  for argument in "$@"; do
    case $argument in
      ostree=*) ostree_path=${argument#ostree=} ;;
      root=*) root_spec=${argument#root=} ;;
      ignition.firstboot | ignition.firstboot=*) firstboot=yes ;;
      ignition.platform.id=*) platform=${argument#ignition.platform.id=} ;;
      loglevel=* | debug) quiet_console=no ;;
      coreos.liveiso=*) live_iso=${argument#coreos.liveiso=} ;;
      coreos.live.rootfs_url=*) live_rootfs_url=${argument#coreos.live.rootfs_url=} ;;
      ignition.config.url=*) ignition_config_url=${argument#ignition.config.url=} ;;
    esac
  done
}

# Loads $MODULES; modules that are missing or do not apply (crc32c_intel without SSE 4.2) are skipped.
load_modules() {
  [ -d "/lib/modules/$(uname -r)" ] || fail "no modules for kernel $(uname -r) in the initramfs"
  for module in $MODULES; do
    modprobe "$module" 2>/dev/null || say "module $module not loaded"
  done
}

# Device of $root_spec, waiting for it to appear; empty if it never does.
find_root_device() {
  tenths=0
  while [ "$tenths" -lt "$ROOT_WAIT_TENTHS" ]; do
    case $root_spec in
      LABEL=* | UUID=*) device=$(findfs "$root_spec" 2>/dev/null) ;;
      *) if [ -b "$root_spec" ]; then device=$root_spec; else device=''; fi ;;
    esac
    if [ -n "$device" ]; then
      echo "$device"
      return
    fi
    usleep 100000
    tenths=$((tenths + 1))
  done
}

# Mounts the root partition on /physroot.
mount_physical_root() {
  case $root_spec in
    LABEL=* | UUID=* | /dev/*) ;;
    *) fail "root=$root_spec: use LABEL=, UUID= or a /dev path" ;;
  esac
  device=$(find_root_device)
  [ -n "$device" ] || fail "root device $root_spec not found after $((ROOT_WAIT_TENTHS / 10)) s"
  mkdir -p /physroot
  mount -o rw "$device" /physroot || fail "cannot mount $device ($root_spec) on /physroot"
  say "root $device ($root_spec) mounted"
}

# yes when this is a live boot (the rootfs image comes from the initramfs, an ISO or a URL).
is_live() {
  [ -n "$live_iso" ] || [ -n "$live_rootfs_url" ] || [ -f "$LIVE_SQUASHFS" ]
}

# Configures the first Ethernet interface by DHCP (QEMU's user network: the host is 10.0.2.2).
bring_up_network() {
  [ -z "${network_up:-}" ] || return 0
  modprobe virtio_net 2>/dev/null
  ip link set lo up
  interface=''
  for candidate in /sys/class/net/*; do
    [ "${candidate##*/}" = lo ] || { interface=${candidate##*/}; break; }
  done
  [ -n "$interface" ] || fail "no network interface for $1"
  ip link set "$interface" up
  udhcpc -i "$interface" -n -q -t 10 -T 1 -s /usr/lib/tiny-init/udhcpc-script >/run/udhcpc.log 2>&1 ||
    fail "no DHCP answer on $interface for $1" /run/udhcpc.log
  network_up=yes
  say "network $interface up for $1"
}

# Waits for the file system labelled $1 (up to ROOT_WAIT_TENTHS) and prints its device.
wait_for_label() {
  tenths=0
  while [ "$tenths" -lt "$ROOT_WAIT_TENTHS" ]; do
    device=$(findfs "LABEL=$1" 2>/dev/null) && { echo "$device"; return; }
    usleep 100000
    tenths=$((tenths + 1))
  done
}

# Puts the live rootfs image's squashfs at $LIVE_SQUASHFS: from the ISO, or fetched from the URL.
fetch_live_rootfs() {
  [ -f "$LIVE_SQUASHFS" ] && return 0
  if [ -n "$live_iso" ]; then
    device=$(wait_for_label "$live_iso")
    [ -n "$device" ] || fail "live ISO labelled $live_iso not found after $((ROOT_WAIT_TENTHS / 10)) s"
    mkdir -p "$LIVE_ISO_MOUNT"
    mount -t iso9660 -o ro "$device" "$LIVE_ISO_MOUNT" || fail "cannot mount the live ISO $device"
    say "live ISO $device mounted on $LIVE_ISO_MOUNT"
    (cd / && cpio -i -d <"$LIVE_ISO_MOUNT/$LIVE_ROOTFS_ON_ISO") 2>/run/live-rootfs.log ||
      fail "cannot unpack $LIVE_ROOTFS_ON_ISO from the live ISO" /run/live-rootfs.log
  elif [ -n "$live_rootfs_url" ]; then
    bring_up_network coreos.live.rootfs_url
    # Unpacked as it arrives: the image is in RAM once, not twice.
    { wget -q -O - "$live_rootfs_url" || echo "wget failed" >&2; } 2>/run/live-rootfs.log |
      (cd / && cpio -i -d 2>>/run/live-rootfs.log)
    # cpio's "N blocks" is its only line when all went well (the sha256 check below catches the rest).
    if grep -v '^[0-9]* blocks$' /run/live-rootfs.log | grep -q .; then
      fail "cannot fetch coreos.live.rootfs_url=$live_rootfs_url" /run/live-rootfs.log
    fi
    say "live rootfs fetched from $live_rootfs_url"
  fi
  [ -f "$LIVE_SQUASHFS" ] || fail "the live rootfs image holds no ${LIVE_SQUASHFS#/}"
}

# Mounts the live squashfs read-only under a tmpfs overlay on /physroot and finds the deployment.
mount_live_root() {
  for module in $LIVE_MODULES; do
    modprobe "$module" 2>/dev/null || say "module $module not loaded"
  done
  fetch_live_rootfs
  if [ -f "$LIVE_WANT_ROOTFS" ]; then
    want=$(cat "$LIVE_WANT_ROOTFS")
    have=$(sha256sum "$LIVE_SQUASHFS" | cut -d' ' -f1)
    [ "$have" = "$want" ] ||
      fail "the live rootfs is not the one this initramfs was built for (sha256 $have, expected $want)"
  fi
  mkdir -p /run/rootfs /run/overlay /physroot
  mount -t squashfs -o ro,loop "$LIVE_SQUASHFS" /run/rootfs || fail "cannot mount the live squashfs"
  mount -t tmpfs -o mode=0755 tmpfs /run/overlay || fail "cannot mount the overlay's tmpfs"
  mkdir -p /run/overlay/upper /run/overlay/work
  mount -t overlay -o lowerdir=/run/rootfs,upperdir=/run/overlay/upper,workdir=/run/overlay/work overlay \
    /physroot || fail "cannot mount the live overlay on /physroot"
  if [ -z "$ostree_path" ]; then
    set -- /physroot/ostree/boot.[01]/*/*/*
    [ $# -eq 1 ] && [ -e "$1" ] || fail "the live rootfs has $# deployments and no ostree= argument chose one"
    ostree_path=${1#/physroot}
  fi
  echo "$ostree_path" >"$LIVE_MARKER"
  firstboot=yes
  say "live root mounted (squashfs under a tmpfs overlay)"
}

# Resolves ostree= to the deployment and bind-mounts it (and its stateroot's var) on /newroot.
mount_deployment() {
  [ -n "$ostree_path" ] || fail "no ostree= kernel argument"
  deployment=$(readlink -f "/physroot$ostree_path")
  case $deployment in
    /physroot/ostree/deploy/*/deploy/*) ;;
    *) fail "ostree=$ostree_path leads to '$deployment', not to /ostree/deploy/<os>/deploy/<deployment>" ;;
  esac
  [ -d "$deployment/usr" ] || fail "deployment $deployment has no /usr"
  stateroot=${deployment#/physroot/ostree/deploy/}
  stateroot=${stateroot%%/*}
  mkdir -p /newroot
  mount --bind "$deployment" /newroot || fail "cannot bind-mount $deployment"
  mount --bind "/physroot/ostree/deploy/$stateroot/var" /newroot/var ||
    fail "cannot bind-mount /ostree/deploy/$stateroot/var on /var"
  say "deployment $stateroot/${deployment##*/}"
}

# Runs Ignition's fetch and files stages into /newroot.
run_ignition() {
  [ -n "$platform" ] || fail "ignition.firstboot without ignition.platform.id"
  say "ignition platform=$platform"
  mkdir -p /run/ignition
  setup_user_config
  [ -z "$ignition_config_url" ] || bring_up_network ignition.config.url
  timeout "$IGNITION_TIMEOUT" ignition -platform "$platform" -stage fetch -log-to-stdout \
    >/run/ignition-fetch.log 2>&1 || fail "ignition fetch stage (platform $platform)" /run/ignition-fetch.log
  populate_var
  lend_selinux_config
  timeout "$IGNITION_TIMEOUT" ignition -platform "$platform" -stage files -root /newroot -log-to-stdout \
    >/run/ignition-files.log 2>&1 || fail "ignition files stage" /run/ignition-files.log
  return_selinux_config
  remove_firstboot_stamp
  say "ignition done"
}

# Makes the live ISO's embedded config or the one coreos-installer wrote Ignition's user config.
setup_user_config() {
  source=''
  if [ -f /config.ign ]; then
    source=/config.ign
  elif ! is_live && boot_device=$(findfs LABEL=boot 2>/dev/null); then
    mkdir -p /bootpart
    if mount -o ro "$boot_device" /bootpart 2>/dev/null; then
      [ -f "/bootpart/$INSTALLED_IGNITION_CONFIG" ] && cp "/bootpart/$INSTALLED_IGNITION_CONFIG" /run/user.ign &&
        source=/run/user.ign
      umount /bootpart
    fi
  fi
  [ -n "$source" ] || return 0
  mkdir -p "${IGNITION_USER_CONFIG%/*}"
  cp "$source" "$IGNITION_USER_CONFIG" || fail "cannot set up Ignition's user config from $source"
  say "ignition user config from $source"
}

# The d, D and L lines of the deployment's tmpfiles.d (etc/tmpfiles.d overriding usr/lib/tmpfiles.d
# file by file) for paths under /var, one `d PATH MODE UID GID` or `L PATH TARGET` line each (and
# `# PATH NOTE` for an unknown owner), owners resolved with the deployment's passwd and group,
# sorted by path (parents first).
var_tmpfiles_entries() {
  conf_files=''
  for conf in /newroot/etc/tmpfiles.d/*.conf /newroot/usr/lib/tmpfiles.d/*.conf; do
    [ -f "$conf" ] || continue
    name=${conf##*/}
    case " $conf_files " in
      *"/$name "*) ;;
      *) conf_files="$conf_files $conf" ;;
    esac
  done
  [ -n "$conf_files" ] || return 0
  conf_files=$(for conf in $conf_files; do echo "${conf##*/} $conf"; done | LC_ALL=C sort | cut -d' ' -f2)
  # shellcheck disable=SC2086
  awk -v passwd=/newroot/etc/passwd -v group=/newroot/etc/group '
    # Numeric id of `name` ("-" is root, numbers stay, names come from table `ids`); "" if unknown.
    function id_of(name, ids) {
      if (name == "-" || name == "") return 0
      if (name ~ /^[0-9]+$/) return name
      return (name in ids) ? ids[name] : ""
    }
    BEGIN {
      while ((getline line < passwd) > 0) { split(line, field, ":"); uids[field[1]] = field[3] }
      while ((getline line < group) > 0) { split(line, field, ":"); gids[field[1]] = field[3] }
    }
    /^[ \t]*(#|$)/ { next }
    {
      type = $1; path = $2; mode = $3
      gsub(/[-!=~^+]/, "", type)
      if (path != "/var" && path !~ /^\/var\//) next
      if (path ~ /%/ || path ~ /\.\./ || (path in seen)) next
      if (type == "d" || type == "D") {
        sub(/^[~:]+/, "", mode)
        if (mode == "-" || mode == "") mode = "0755"
        uid = id_of($4, uids); gid = id_of($5, gids)
        if (uid == "" || gid == "") { print "#", path, "unknown owner " $4 ":" $5 ", root used"; uid = 0; gid = 0 }
        seen[path] = 1
        print "d", path, mode, uid, gid
      } else if (type == "L") {
        if (NF < 7 || $7 == "-") next
        seen[path] = 1
        print "L", path, $7
      }
    }' $conf_files | LC_ALL=C sort -k2,2
}

# Creates the /var directories and links of the deployment's tmpfiles.d, as Fedora CoreOS's
# ignition-ostree-populate-var does before Ignition's files stage (systemd-tmpfiles --create).
populate_var() {
  var_tmpfiles_entries >/run/populate-var.list 2>/run/populate-var.log ||
    fail "reading the deployment's tmpfiles.d" /run/populate-var.log
  created=0
  while read -r type path argument uid gid; do
    target=/newroot$path
    case $type in
      '#') echo "$path: $argument $uid $gid" >>/run/populate-var.log ;;
      d)
        if [ -L "$target" ] || { [ -e "$target" ] && [ ! -d "$target" ]; }; then
          echo "$path exists and is not a directory: left alone" >>/run/populate-var.log
          continue
        fi
        if [ ! -d "$target" ]; then
          mkdir -p "$target" || fail "populating /var: cannot create $path" /run/populate-var.log
          created=$((created + 1))
        fi
        if ! { chmod "$argument" "$target" && chown "$uid:$gid" "$target"; }; then
          fail "populating /var: cannot set $argument $uid:$gid on $path" /run/populate-var.log
        fi
        ;;
      L)
        if [ -e "$target" ] || [ -L "$target" ]; then continue; fi
        if ! { mkdir -p "${target%/*}" && ln -s "$argument" "$target"; }; then
          fail "populating /var: cannot link $path to $argument" /run/populate-var.log
        fi
        created=$((created + 1))
        ;;
    esac
  done </run/populate-var.list
  say "var populated ($created created from tmpfiles.d)"
}

# Puts the OS's SELinux config for Ignition (/usr/lib/tiny-release/ignition-selinux-config) at
# /etc/selinux/config, which Debian's Ignition reads before it relabels, unless /etc has one.
lend_selinux_config() {
  lent_selinux_config=no
  source=/newroot/usr/lib/tiny-release/ignition-selinux-config
  [ -f "$source" ] && [ ! -e /newroot/etc/selinux/config ] || return 0
  mkdir -p /newroot/etc/selinux && cp "$source" /newroot/etc/selinux/config && lent_selinux_config=yes
}

# Removes the config lent to Ignition: an /etc/selinux/config makes ostree refresh the SELinux
# policy with semodule (absent here) whenever it finalizes a deployment.
return_selinux_config() {
  [ "$lent_selinux_config" = yes ] || return 0
  rm -f /newroot/etc/selinux/config
  rmdir /newroot/etc/selinux 2>/dev/null
}

# Deletes /ignition.firstboot and the installed config's ignition/ from the boot partition, as
# ignition-firstboot-complete does (not in a live boot: a `boot` partition there belongs to a disk
# it may install to), once what Ignition wrote is on disk: a power cut after the stamp is gone must not lose the first boot's
# files (Ignition does not run again).
remove_firstboot_stamp() {
  sync
  is_live && return 0
  boot_device=$(findfs LABEL=boot 2>/dev/null) || return 0
  mkdir -p /bootpart
  mount -o rw "$boot_device" /bootpart 2>/dev/null || return 0
  rm -f /bootpart/ignition.firstboot
  rm -rf "/bootpart/${INSTALLED_IGNITION_CONFIG%/*}"
  umount /bootpart
}

# The rest of ostree-prepare-root: read-only /usr, physical root on /sysroot, API mounts moved.
prepare_root() {
  mount --bind /newroot/usr /newroot/usr || fail "cannot bind-mount /usr"
  mount -o remount,bind,ro /newroot/usr || fail "cannot make /usr read-only"
  [ -d /newroot/sysroot ] || fail "the deployment has no /sysroot directory"
  mount --move /physroot /newroot/sysroot || fail "cannot move the physical root to /sysroot"
  : >/run/ostree-booted
  for api in /dev /proc /sys /run; do
    [ -d "/newroot$api" ] || fail "the deployment has no $api directory"
    mount --move "$api" "/newroot$api" || fail "cannot move $api into the deployment"
  done
}

# Path of the deployment's init.
find_init() {
  for candidate in /sbin/init /usr/sbin/init /usr/lib/systemd/systemd; do
    if [ -x "/newroot$candidate" ] || [ -L "/newroot$candidate" ]; then
      echo "$candidate"
      return
    fi
  done
}

mount_api_filesystems
read_kernel_arguments
[ "$quiet_console" = yes ] && dmesg -n 4
say "started kernel=$(uname -r)"
load_modules
if is_live; then
  mount_live_root
else
  mount_physical_root
fi
mount_deployment
if [ "$firstboot" = yes ]; then
  run_ignition
else
  say "ignition skipped (no ignition.firstboot)"
fi
init=$(find_init)
[ -n "$init" ] || fail "the deployment has no /sbin/init"
prepare_root
say "switching root to $init"
exec switch_root /newroot "$init"
