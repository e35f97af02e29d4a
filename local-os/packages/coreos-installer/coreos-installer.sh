#!/usr/bin/sh
# /usr/bin/coreos-installer: the tiny OS's installer, with the interface and behaviour of Fedora
# CoreOS's `coreos-installer install` (coreos/coreos-installer, docs/cmd/install.md), in a busybox
# shell with curl, jq, gpgv and ignition-validate.
#
#   coreos-installer install [OPTIONS] DEVICE
#     1. finds the image: --image-file, --image-url (each with `<image>.sig` beside it), --stream
#        (`<stream-base-url>/<stream>.json`, the metal `raw.xz` disk of --architecture, or
#        `4k.raw.xz` for a target with 4096-byte logical sectors), or, with none of them, the live
#        ISO's own image (`/run/media/iso/coreos/metal.json`, the entry of the target's sector size);
#     2. fetches and checks everything before the first byte is written: the target (a block device,
#        or a regular file for tests; not mounted), the Ignition config (--ignition-hash, then
#        ignition-validate), the image's sha256 (stream metadata, ISO), its detached GPG signature
#        (gpgv against every `*.gpg` keyring of /usr/lib/coreos-installer/keys.d and
#        /etc/coreos-installer/keys.d; a missing, unknown or bad signature refuses unless
#        --insecure), the image's sector size (primary GPT header at byte 512 or 4096 of the
#        decompressed image) against the target's, and its size ((AlternateLBA + 1) * sector size)
#        against the target's;
#     3. writes the decompressed image (xz, gzip or raw, by magic) to the target, re-reads its
#        partition table, mounts the boot partition (partition 3), writes the Ignition config to
#        `ignition/config.ign` (mode 0600), edits the BLS entries' `options` (--append-karg,
#        --delete-karg, --platform), regenerates grub.cfg (ostree-grub2's grub-config, when
#        installed), unmounts and syncs. A failure after the write started clears the partition
#        table (unless --preserve-on-error), so a half-written disk never boots.
#   coreos-installer install --from-kargs [OPTIONS]
#     the automated install of the live system: the same install from the kernel arguments
#     coreos.inst.install_dev= (a name without `/` gets /dev/), coreos.inst.ignition_url= (`skip`
#     is ignored; HTTP allowed, as coreos-installer-service does), coreos.inst.image_url=,
#     coreos.inst.stream=, coreos.inst.platform_id= and coreos.inst.insecure.
#
# Refusals print one `coreos-installer: error: ...` line and exit 1 with the target untouched;
# argument errors print the usage and exit 2 (as coreos-installer's clap parser); progress lines go
# to stderr, as coreos-installer prints them.
#
# Environment: COREOS_INSTALLER_ROOT (tests) prefixes every system path the installer reads:
# /proc/cmdline, /proc/mounts, /sys/class/block, /run/media/iso, the keys.d directories and
# /usr/libexec/ostree-grub2/grub-config. With it set, a regular-file target also takes its logical
# sector size from `$COREOS_INSTALLER_ROOT/sys/class/block/<file name>/queue/logical_block_size`
# when that exists (so a test can give a file-backed disk 4096-byte sectors). TMPDIR: where
# downloads go (default /var/tmp).

set -u
export PATH=/usr/sbin:/usr/bin:/bin
umask 022

ROOT=${COREOS_INSTALLER_ROOT:-}
ISO_ROOT=$ROOT/run/media/iso
KEY_DIRECTORIES="$ROOT/usr/lib/coreos-installer/keys.d $ROOT/etc/coreos-installer/keys.d"
GRUB_CONFIG=$ROOT/usr/libexec/ostree-grub2/grub-config
DEFAULT_STREAM_BASE_URL=https://builds.coreos.fedoraproject.org/streams
# The boot partition's number in the Fedora CoreOS layout (lib/disk/disk-layout.ts).
BOOT_PARTITION=3
# How much of the decompressed image is read for its GPT header (a header at 4096 fits).
HEADER_BYTES=8192
# Seconds to wait for the boot partition's device node after re-reading the partition table.
PARTITION_WAIT_SECONDS=10
VERSION=0.1.0

work=''
mountpoint=''
write_started=0
preserve_on_error=0
device=''

# Prints a progress line, on stderr as coreos-installer does.
say() {
  echo "$*" >&2
}

# Refuses with one error line; after the write started, clears the partition table first.
die() {
  echo "coreos-installer: error: $*" >&2
  if [ "$write_started" = 1 ]; then
    release_mount
    if [ "$preserve_on_error" = 1 ]; then
      say "Preserving partition table as requested"
    else
      clear_partition_table
    fi
    echo "coreos-installer: error: install failed" >&2
  fi
  exit 1
}

# The short usage, for argument errors.
short_usage() {
  echo "Usage: coreos-installer install [OPTIONS] [DEST_DEVICE]"
}

# An argument error: the message, the usage, exit 2 (clap's exit code).
usage_error() {
  {
    echo "coreos-installer: error: $*"
    echo
    short_usage
    echo
    echo "For more information, try '--help'."
  } >&2
  exit 2
}

# `coreos-installer install --help`.
install_help() {
  cat <<'HELP'
Install Fedora CoreOS or RHEL CoreOS

Usage: coreos-installer install [OPTIONS] [DEST_DEVICE]

Arguments:
  [DEST_DEVICE]  Destination device (a block device; a regular file works too)

Options:
  -s, --stream <name>            Fedora CoreOS stream
  -u, --image-url <URL>          Manually specify the image URL (its signature: <URL>.sig)
  -f, --image-file <path>        Manually specify a local image file (its signature: <path>.sig)
  -i, --ignition-file <path>     Embed an Ignition config from a file
  -I, --ignition-url <URL>       Embed an Ignition config from a URL
      --ignition-hash <digest>   Digest (type-value) of the Ignition config (sha256-HEX or sha512-HEX)
  -a, --architecture <name>      Target CPU architecture [default: the machine's]
  -p, --platform <name>          Override the Ignition platform ID [default: metal]
      --append-karg <arg>        Append default kernel arg (repeatable)
      --delete-karg <arg>        Delete default kernel arg (repeatable)
  -h, --help                     Print help

Advanced Options:
      --offline                  Force offline installation (the live ISO's image)
      --insecure                 Skip signature verification
      --insecure-ignition        Allow Ignition URL without HTTPS or hash
      --stream-base-url <URL>    Base URL for CoreOS stream metadata
                                 [default: https://builds.coreos.fedoraproject.org/streams]
      --preserve-on-error        Don't clear partition table on error
      --fetch-retries <N>        Fetch retries, or "infinite" [default: 0]

With no --image-file, --image-url or --stream, the image of the live ISO mounted on /run/media/iso
is installed.
HELP
}

# `coreos-installer --help`.
top_help() {
  cat <<'HELP'
Installer for Fedora CoreOS and RHEL CoreOS (the tiny OS's implementation of `install`)

Usage: coreos-installer <COMMAND>

Commands:
  install  Install Fedora CoreOS or RHEL CoreOS

Options:
  -h, --help     Print help
  -V, --version  Print version
HELP
}

# Removes the work directory, unmounting the boot partition first; never removes a mounted tree.
cleanup() {
  release_mount
  if [ -n "$mountpoint" ]; then
    say "coreos-installer: warning: $mountpoint is still mounted; leaving $work in place"
    return
  fi
  [ -z "$work" ] || rm -rf "$work"
}

# Unmounts the boot partition if it is mounted (freeing its loop device, if any).
release_mount() {
  [ -n "$mountpoint" ] || return 0
  sync
  if umount -d "$mountpoint" 2>/dev/null || umount "$mountpoint" 2>/dev/null; then
    mountpoint=''
  fi
}

# Zeroes the first MiB of the target (the protective MBR and the primary GPT), as coreos-installer
# does after a failed install, so firmware does not boot a half-written disk.
clear_partition_table() {
  say "Clearing partition table"
  dd if=/dev/zero of="$device" bs=1M count=1 conv=notrunc,fsync 2>/dev/null ||
    echo "coreos-installer: error: clearing the partition table of $device failed" >&2
  [ -b "$device" ] && blockdev --rereadpt "$device" 2>/dev/null
}

# --- Arguments -------------------------------------------------------------------------------

ignition_file=''
ignition_url=''
ignition_hash=''
image_file=''
image_url=''
stream=''
stream_base_url=''
architecture=''
platform=''
append_kargs=''
delete_kargs=''
insecure=0
insecure_ignition=0
offline=0
from_kargs=0
fetch_retries=0

# Sets variable $1 from option $2's value $3, refusing a second use of the option.
assign_once() {
  eval "previous=\${$1}"
  # shellcheck disable=SC2154
  [ -z "$previous" ] || usage_error "the argument '$2' cannot be used multiple times"
  [ -n "$3" ] || usage_error "a value is required for '$2' but none was supplied"
  eval "$1=\$3"
}

# Appends value $2 to the newline-separated list variable $1.
append_to_list() {
  eval "list=\${$1}"
  # shellcheck disable=SC2154
  if [ -n "$list" ]; then
    eval "$1=\"\${list}
\$2\""
  else
    eval "$1=\$2"
  fi
}

# Parses `install`'s arguments into the variables above.
parse_install_arguments() {
  while [ $# -gt 0 ]; do
    option=$1
    value=''
    inline=0
    case $option in
      --) shift; break ;;
      --*=*) value=${option#*=}; option=${option%%=*}; inline=1 ;;
      -[a-zA-Z]?*) value=${option#-?}; option=${option%"$value"}; inline=1 ;;
    esac
    case $option in
      -i | --ignition-file | --ignition | -I | --ignition-url | --ignition-hash | -f | --image-file | \
        -u | --image-url | -s | --stream | --stream-base-url | -a | --architecture | -p | --platform | \
        --append-karg | --delete-karg | --fetch-retries)
        if [ "$inline" = 0 ]; then
          [ $# -ge 2 ] || usage_error "a value is required for '$option' but none was supplied"
          value=$2
          shift
        fi
        ;;
      -h | --help | --insecure | --insecure-ignition | --offline | --from-kargs | --preserve-on-error)
        [ "$inline" = 0 ] || usage_error "unexpected value '$value' for '$option' found; no more were expected"
        ;;
      -*) usage_error "unexpected argument '$1' found" ;;
    esac
    case $option in
      -h | --help) install_help; exit 0 ;;
      -i | --ignition-file | --ignition) assign_once ignition_file "$option" "$value" ;;
      -I | --ignition-url) assign_once ignition_url "$option" "$value" ;;
      --ignition-hash) assign_once ignition_hash "$option" "$value" ;;
      -f | --image-file) assign_once image_file "$option" "$value" ;;
      -u | --image-url) assign_once image_url "$option" "$value" ;;
      -s | --stream) assign_once stream "$option" "$value" ;;
      --stream-base-url) assign_once stream_base_url "$option" "$value" ;;
      -a | --architecture) assign_once architecture "$option" "$value" ;;
      -p | --platform) assign_once platform "$option" "$value" ;;
      --append-karg) [ -n "$value" ] || usage_error "a value is required for '$option'"; append_to_list append_kargs "$value" ;;
      --delete-karg) [ -n "$value" ] || usage_error "a value is required for '$option'"; append_to_list delete_kargs "$value" ;;
      --fetch-retries) fetch_retries=$value ;;
      --insecure) insecure=1 ;;
      --insecure-ignition) insecure_ignition=1 ;;
      --offline) offline=1 ;;
      --from-kargs) from_kargs=1 ;;
      --preserve-on-error) preserve_on_error=1 ;;
      *)
        [ -z "$device" ] || usage_error "unexpected argument '$option' found"
        device=$option
        ;;
    esac
    shift
  done
  if [ $# -gt 0 ]; then
    [ -z "$device" ] || usage_error "unexpected argument '$1' found"
    device=$1
    shift
    [ $# -eq 0 ] || usage_error "unexpected argument '$1' found"
  fi
}

# Refuses options $1 and $2 together, as clap's conflicts_with.
conflict() {
  usage_error "the argument '$1' cannot be used with '$2'"
}

# Checks what the parser cannot check option by option: conflicts, formats, the device.
check_arguments() {
  [ -z "$ignition_file" ] || [ -z "$ignition_url" ] || conflict --ignition-file --ignition-url
  [ -z "$image_file" ] || [ -z "$image_url" ] || conflict --image-file --image-url
  [ -z "$image_file" ] || [ -z "$stream" ] || conflict --image-file --stream
  [ -z "$image_url" ] || [ -z "$stream" ] || conflict --image-url --stream
  if [ "$offline" = 1 ]; then
    [ -z "$image_url" ] || conflict --offline --image-url
    [ -z "$stream" ] || conflict --offline --stream
    [ -z "$ignition_url" ] || conflict --offline --ignition-url
  fi
  case $ignition_hash in
    '') ;;
    sha256-*) echo "${ignition_hash#sha256-}" | grep -qx '[0-9a-fA-F]\{64\}' ||
      usage_error "invalid value '$ignition_hash' for '--ignition-hash <digest>': wrong digest length or not hex" ;;
    sha512-*) echo "${ignition_hash#sha512-}" | grep -qx '[0-9a-fA-F]\{128\}' ||
      usage_error "invalid value '$ignition_hash' for '--ignition-hash <digest>': wrong digest length or not hex" ;;
    *) usage_error "invalid value '$ignition_hash' for '--ignition-hash <digest>': unknown hash type (sha256 or sha512)" ;;
  esac
  case $fetch_retries in
    infinite) ;;
    '' | *[!0-9]*) usage_error "invalid value '$fetch_retries' for '--fetch-retries <N>': a number or \"infinite\"" ;;
  esac
  [ -n "$device" ] || usage_error "the following required arguments were not provided: <DEST_DEVICE>"
  [ -n "$architecture" ] || architecture=$(uname -m)
  [ -n "$stream_base_url" ] || stream_base_url=$DEFAULT_STREAM_BASE_URL
}

# Value of kernel argument $1 (`name=value`; the last one wins), empty if absent.
kernel_argument() {
  value=''
  set -f
  # shellcheck disable=SC2046
  set -- "$1" $(cat "$ROOT/proc/cmdline" 2>/dev/null)
  set +f
  name=$1
  shift
  for argument in "$@"; do
    case $argument in
      "$name="*) value=${argument#"$name"=} ;;
      "$name") value=1 ;;
    esac
  done
  echo "$value"
}

# --from-kargs: fills the options from coreos.inst.* kernel arguments (the command line's own
# options win), as coreos-installer-service does.
apply_kernel_arguments() {
  [ -r "$ROOT/proc/cmdline" ] || die "cannot read $ROOT/proc/cmdline"
  karg_device=$(kernel_argument coreos.inst.install_dev)
  if [ -z "$device" ]; then
    [ -n "$karg_device" ] || die "no install device specified (coreos.inst.install_dev=)"
    case $karg_device in
      */*) device=$karg_device ;;
      *) device=/dev/$karg_device ;;
    esac
  fi
  karg_ignition_url=$(kernel_argument coreos.inst.ignition_url)
  if [ -z "$ignition_url" ] && [ -z "$ignition_file" ] && [ -n "$karg_ignition_url" ] && [ "$karg_ignition_url" != skip ]; then
    ignition_url=$karg_ignition_url
    insecure_ignition=1
  fi
  karg_image_url=$(kernel_argument coreos.inst.image_url)
  karg_stream=$(kernel_argument coreos.inst.stream)
  if [ -z "$image_file$image_url$stream" ]; then
    image_url=$karg_image_url
    [ -n "$image_url" ] || stream=$karg_stream
  fi
  [ -n "$platform" ] || platform=$(kernel_argument coreos.inst.platform_id)
  case $(kernel_argument coreos.inst.insecure) in
    '' | 0 | no | off) ;;
    *) insecure=1 ;;
  esac
  say "coreos-installer install $device${ignition_url:+ --ignition-url $ignition_url}${image_url:+ --image-url $image_url}${stream:+ --stream $stream}${platform:+ --platform $platform}$([ "$insecure" = 1 ] && echo ' --insecure')"
}

# --- Fetching --------------------------------------------------------------------------------

# curl's retry options for --fetch-retries.
retry_options() {
  case $fetch_retries in
    0) ;;
    infinite) echo "--retry 1000000 --retry-connrefused --retry-max-time 0" ;;
    *) echo "--retry $fetch_retries --retry-connrefused" ;;
  esac
}

# Downloads URL $1 to file $2; prints the HTTP status code; curl's message in $work/curl.err.
download() {
  # shellcheck disable=SC2046
  curl --silent --show-error --fail --location --connect-timeout 30 $(retry_options) \
    --write-out '%{http_code}' --output "$2" "$1" 2>"$work/curl.err"
}

# Downloads URL $1 to $2 or refuses, naming $3 (what it is).
download_or_die() {
  if ! download "$1" "$2" >/dev/null; then
    die "downloading $3 $1: $(tail -n 1 "$work/curl.err")"
  fi
}

# Downloads signature URL $1 to $2: 0 when fetched, 1 when the server has none (404/410), dies otherwise.
download_signature() {
  if code=$(download "$1" "$2"); then
    return 0
  fi
  rm -f "$2"
  case $code in
    404 | 410) return 1 ;;
  esac
  die "downloading signature $1: $(tail -n 1 "$work/curl.err")"
}

# A URL relative to URL $2 resolved ($1 absolute: unchanged).
resolve_url() {
  case $1 in
    *://*) echo "$1" ;;
    /*) echo "$(echo "$2" | sed 's#^\([a-z]*://[^/]*\).*#\1#')$1" ;;
    *) echo "${2%/*}/$1" ;;
  esac
}

# --- The target ------------------------------------------------------------------------------

target_kind=''
target_sector_size=''
target_size=''

# Checks the target and reads its logical sector size and size.
inspect_target() {
  [ -e "$device" ] || die "$device does not exist"
  if [ -b "$device" ]; then
    target_kind=block
  elif [ -f "$device" ]; then
    target_kind=file
  else
    die "$device is not a block device"
  fi
  [ -w "$device" ] || die "$device is not writable"
  resolved=$(readlink -f "$device")
  name=${resolved##*/}
  sysfs=$ROOT/sys/class/block/$name
  if [ "$target_kind" = block ]; then
    busy=$(awk -v device="$resolved" 'index($1, device) == 1 { print $1 " mounted on " $2 }' "$ROOT/proc/mounts" 2>/dev/null | head -n 1)
    [ -z "$busy" ] || die "found busy partitions on $device: $busy"
    if [ -r "$sysfs/queue/logical_block_size" ]; then
      target_sector_size=$(cat "$sysfs/queue/logical_block_size")
    else
      target_sector_size=$(blockdev --getss "$device") || die "getting the sector size of $device"
    fi
    target_size=$(blockdev --getsize64 "$device") || die "getting the size of $device"
  else
    target_sector_size=512
    if [ -n "$ROOT" ] && [ -r "$sysfs/queue/logical_block_size" ]; then
      target_sector_size=$(cat "$sysfs/queue/logical_block_size")
    fi
    target_size=$(stat -c %s "$device")
  fi
  case $target_sector_size in
    512 | 4096) ;;
    *)
      say "Found non-standard sector size $target_sector_size for $device, assuming 512b-compatible"
      target_sector_size=512
      ;;
  esac
}

# --- The Ignition config ---------------------------------------------------------------------

ignition_config=''

# Fetches, checks (hash, ignition-validate) and keeps the Ignition config in $work/config.ign.
prepare_ignition() {
  [ -n "$ignition_file$ignition_url" ] || return 0
  ignition_config=$work/config.ign
  if [ -n "$ignition_file" ]; then
    source_name=$ignition_file
    [ -f "$ignition_file" ] && [ -r "$ignition_file" ] || die "opening source Ignition config $ignition_file: no such file"
    cp "$ignition_file" "$ignition_config" || die "reading source Ignition config $ignition_file"
  else
    source_name=$ignition_url
    case $ignition_url in
      https://*) ;;
      http://*)
        [ -n "$ignition_hash" ] || [ "$insecure_ignition" = 1 ] ||
          die "refusing to fetch Ignition config over HTTP without --ignition-hash or --insecure-ignition: $ignition_url"
        ;;
      *) die "unknown protocol for Ignition URL '$ignition_url'" ;;
    esac
    download_or_die "$ignition_url" "$ignition_config" "source Ignition config"
  fi
  chmod 600 "$ignition_config"
  if [ -n "$ignition_hash" ]; then
    algorithm=${ignition_hash%%-*}
    expected=$(echo "${ignition_hash#*-}" | tr 'A-F' 'a-f')
    actual=$("${algorithm}sum" "$ignition_config" | cut -d' ' -f1)
    [ "$actual" = "$expected" ] ||
      die "Ignition config $source_name does not match --ignition-hash: computed $algorithm-$actual"
  fi
  command -v ignition-validate >/dev/null || die "ignition-validate is not installed: cannot check the Ignition config"
  if ! ignition-validate "$ignition_config" >"$work/validate.log" 2>&1; then
    die "Ignition config $source_name does not validate: $(grep -v '^[[:space:]]*$' "$work/validate.log" | head -n 1)"
  fi
}

# --- The image -------------------------------------------------------------------------------

image_path=''
image_name=''
image_sha256=''
signature_path=''
signature_expected=1

# Finds the image from the ISO: the metal.json entry of the target's sector size.
locate_iso_image() {
  metadata=$ISO_ROOT/coreos/metal.json
  entry=$(jq -c --argjson size "$target_sector_size" 'first(.images[] | select(.sectorSize == $size)) // empty' "$metadata" 2>/dev/null) ||
    die "cannot read the live ISO's image list $metadata"
  [ -n "$entry" ] || die "the live ISO has no image for $target_sector_size-byte sectors ($metadata)"
  file=$(echo "$entry" | jq -r '.file // empty')
  image_sha256=$(echo "$entry" | jq -r '.sha256 // empty')
  [ -n "$file" ] && [ -n "$image_sha256" ] || die "$metadata: the $target_sector_size-byte entry has no file or sha256"
  image_path=$ISO_ROOT/${file#/}
  image_name=$file
  [ -f "$image_path" ] || die "the live ISO's image $image_path does not exist"
  signature_expected=0
  say "Installing $file from the live ISO ($target_sector_size-byte sectors)"
}

# Downloads the stream metadata and the metal image (and signature) it names for the target.
locate_stream_image() {
  format=raw.xz
  [ "$target_sector_size" = 4096 ] && format=4k.raw.xz
  stream_url=${stream_base_url%/}/$stream.json
  say "Downloading $architecture metal image ($format) and signature referenced from $stream_url"
  download_or_die "$stream_url" "$work/stream.json" "stream metadata"
  disk=$(jq -c --arg arch "$architecture" --arg format "$format" \
    '.architectures[$arch].artifacts.metal.formats[$format].disk // empty' "$work/stream.json" 2>/dev/null) ||
    die "stream metadata $stream_url is not JSON"
  [ -n "$disk" ] || die "couldn't find architecture $architecture, platform metal, format $format in stream metadata $stream_url"
  location=$(echo "$disk" | jq -r '.location // empty')
  image_sha256=$(echo "$disk" | jq -r '.sha256 // empty')
  signature_url=$(echo "$disk" | jq -r '.signature // empty')
  [ -n "$location" ] || die "stream metadata $stream_url: the $format disk has no location"
  location=$(resolve_url "$location" "$stream_url")
  image_name=${location##*/}
  image_path=$work/$image_name
  download_or_die "$location" "$image_path" "image"
  if [ -n "$signature_url" ]; then
    signature_url=$(resolve_url "$signature_url" "$stream_url")
    download_signature "$signature_url" "$work/$image_name.sig" && signature_path=$work/$image_name.sig
  fi
}

# Downloads --image-url and `<URL>.sig`.
locate_url_image() {
  say "Downloading image from $image_url"
  say "Downloading signature from $image_url.sig"
  image_name=${image_url##*/}
  image_name=${image_name%%\?*}
  [ -n "$image_name" ] || image_name=image
  image_path=$work/$image_name
  download_or_die "$image_url" "$image_path" "image"
  download_signature "$image_url.sig" "$work/$image_name.sig" && signature_path=$work/$image_name.sig
}

# --image-file and `<file>.sig`.
locate_file_image() {
  say "Copying image from $image_file"
  say "Reading signature from $image_file.sig"
  [ -f "$image_file" ] && [ -r "$image_file" ] || die "opening image file $image_file: no such file"
  image_path=$image_file
  image_name=${image_file##*/}
  [ -f "$image_file.sig" ] && signature_path=$image_file.sig
}

# Finds (and fetches) the image the options name.
locate_image() {
  if [ -n "$image_file" ]; then
    locate_file_image
  elif [ -n "$image_url" ]; then
    locate_url_image
  elif [ -n "$stream" ]; then
    locate_stream_image
  elif [ -f "$ISO_ROOT/coreos/metal.json" ]; then
    locate_iso_image
  elif [ "$offline" = 1 ]; then
    die "cannot perform offline install: no image on a live ISO ($ISO_ROOT/coreos/metal.json); give --image-file"
  else
    die "no image to install: give --image-file, --image-url or --stream (no live ISO image in $ISO_ROOT)"
  fi
}

# Checks the image's sha256 when the stream metadata or the ISO gave one.
check_image_sha256() {
  [ -n "$image_sha256" ] || return 0
  actual=$(sha256sum "$image_path" | cut -d' ' -f1)
  [ "$actual" = "$(echo "$image_sha256" | tr 'A-F' 'a-f')" ] ||
    die "sha256 mismatch for image $image_name: expected $image_sha256, computed $actual"
}

# Checks the detached signature against the trusted keyrings; --insecure skips the check.
check_image_signature() {
  [ "$signature_expected" = 1 ] || return 0
  if [ "$insecure" = 1 ]; then
    if [ -z "$signature_path" ]; then
      say "Signature not found; skipping verification as requested"
    else
      say "Skipping signature verification as requested"
    fi
    return 0
  fi
  [ -n "$signature_path" ] || die "signature not found for image $image_name (--insecure not specified)"
  set --
  for directory in $KEY_DIRECTORIES; do
    for keyring in "$directory"/*.gpg; do
      [ -f "$keyring" ] && set -- "$@" --keyring "$keyring"
    done
  done
  [ $# -gt 0 ] || die "no trusted keys to verify image $image_name with (*.gpg in ${KEY_DIRECTORIES% *} or ${KEY_DIRECTORIES#* })"
  mkdir -m 0700 "$work/gnupg"
  gpgv --homedir "$work/gnupg" --status-fd 1 "$@" "$signature_path" "$image_path" >"$work/gpgv.status" 2>"$work/gpgv.err"
  status=$?
  signer=$(sed -n 's/^\[GNUPG:\] VALIDSIG \([0-9A-F]*\) .*/\1/p' "$work/gpgv.status" | head -n 1)
  if [ "$status" = 0 ] && [ -n "$signer" ]; then
    say "Verified the signature of $image_name (key $signer)"
    return 0
  fi
  if grep -q '^\[GNUPG:\] BADSIG' "$work/gpgv.status"; then
    die "bad signature on image $image_name"
  fi
  unknown=$(sed -n 's/^\[GNUPG:\] NO_PUBKEY \([0-9A-F]*\).*/\1/p' "$work/gpgv.status" | head -n 1)
  [ -z "$unknown" ] || die "image $image_name is signed by key $unknown, which is not among the trusted keys"
  die "verifying the signature of image $image_name: $(grep -v '^[[:space:]]*$' "$work/gpgv.err" | tail -n 1)"
}

# The compression of file $1 by its magic: xz, gzip or raw.
compression_of() {
  magic=$(head -c 6 "$1" | od -A n -t x1 | tr -d ' \n')
  case $magic in
    fd377a585a00) echo xz ;;
    1f8b*) echo gzip ;;
    *) echo raw ;;
  esac
}

# Writes file $1 decompressed to stdout.
decompress() {
  case $(compression_of "$1") in
    xz) xzcat "$1" ;;
    gzip) zcat "$1" ;;
    raw) cat "$1" ;;
  esac
}

# Unsigned little-endian integer of $2 bytes at offset $3 of file $1.
read_integer() {
  od -A n -t "u$2" -j "$3" -N "$2" "$1" | tr -d ' \n'
}

image_sector_size=''
image_size=''

# Reads the image's sector size and size from its primary GPT header; checks both against the target.
check_image_geometry() {
  header=$work/header
  decompress "$image_path" 2>/dev/null | head -c "$HEADER_BYTES" >"$header"
  if [ "$(dd if="$header" bs=1 skip=512 count=8 2>/dev/null)" = "EFI PART" ]; then
    image_sector_size=512
  elif [ "$(dd if="$header" bs=1 skip=4096 count=8 2>/dev/null)" = "EFI PART" ]; then
    image_sector_size=4096
  else
    die "image $image_name has no GPT header (no \"EFI PART\" at byte 512 or 4096 of the disk image)"
  fi
  alternate=$(read_integer "$header" 8 $((image_sector_size + 32)))
  [ -n "$alternate" ] || die "cannot read the GPT header of image $image_name"
  image_size=$(((alternate + 1) * image_sector_size))
  [ "$image_sector_size" = "$target_sector_size" ] ||
    die "image $image_name has $image_sector_size-byte sectors but $device has $target_sector_size-byte logical sectors"
  [ "$target_size" -ge "$image_size" ] ||
    die "$device ($target_size bytes) is smaller than image $image_name ($image_size bytes)"
  # xzcat and zcat fail on a truncated stream (while writing); a raw image is measured now.
  if [ "$(compression_of "$image_path")" = raw ] && [ "$(stat -L -c %s "$image_path")" -lt "$image_size" ]; then
    die "image $image_name is truncated: $(stat -L -c %s "$image_path") bytes, its GPT says $image_size"
  fi
}

# --- Writing ---------------------------------------------------------------------------------

# Writes the decompressed image to the target and makes the kernel re-read its partition table.
write_image() {
  say "Installing $image_name to $device"
  write_started=1
  : >"$work/decompress.status"
  { decompress "$image_path"; echo $? >"$work/decompress.status"; } |
    dd of="$device" bs=1M conv=notrunc,fsync 2>"$work/dd.err" ||
    die "writing $device: $(tail -n 1 "$work/dd.err")"
  [ "$(cat "$work/decompress.status")" = 0 ] || die "decompressing image $image_name failed"
  sync
  if [ "$target_kind" = block ]; then
    blockdev --rereadpt "$device" || die "re-reading the partition table of $device"
  fi
}

# The boot partition's device node: DEV3, or DEVp3 when DEV ends in a digit (nvme0n1p3, loop0p3).
boot_partition_node() {
  case $device in
    *[0-9]) echo "${device}p$BOOT_PARTITION" ;;
    *) echo "$device$BOOT_PARTITION" ;;
  esac
}

# Byte offset of the boot partition, from the written disk's GPT (for a target without partition nodes).
boot_partition_offset() {
  entries_lba=$(read_integer "$device" 8 $((image_sector_size + 72)))
  entry_size=$(read_integer "$device" 4 $((image_sector_size + 84)))
  first_lba=$(read_integer "$device" 8 $((entries_lba * image_sector_size + (BOOT_PARTITION - 1) * entry_size + 32)))
  echo $((first_lba * image_sector_size))
}

# Mounts the boot partition on $work/boot: its device node, or the target through a loop device at
# the partition's offset (a regular file, or a disk whose partition nodes do not appear).
mount_boot_partition() {
  mkdir -p "$work/boot"
  if [ "$target_kind" = block ]; then
    node=$(boot_partition_node)
    waited=0
    while [ ! -b "$node" ] && [ "$waited" -lt "$PARTITION_WAIT_SECONDS" ]; do
      sleep 1
      waited=$((waited + 1))
    done
    if [ -b "$node" ]; then
      mount -t ext4 "$node" "$work/boot" 2>"$work/mount.err" || die "mounting $node: $(tail -n 1 "$work/mount.err")"
      mountpoint=$work/boot
      return 0
    fi
  fi
  offset=$(boot_partition_offset)
  [ "${offset:-0}" -gt 0 ] || die "cannot find partition $BOOT_PARTITION in the written partition table of $device"
  mount -t ext4 -o "loop,offset=$offset" "$device" "$work/boot" 2>"$work/mount.err" ||
    die "mounting partition $BOOT_PARTITION of $device (offset $offset): $(tail -n 1 "$work/mount.err")"
  mountpoint=$work/boot
}

# Writes the Ignition config where the first boot finds it: ignition/config.ign, mode 0600.
write_ignition() {
  say "Writing Ignition config"
  mkdir -p "$mountpoint/ignition"
  chmod 700 "$mountpoint/ignition"
  rm -f "$mountpoint/ignition/config.ign"
  (umask 077 && cp "$ignition_config" "$mountpoint/ignition/config.ign") || die "writing Ignition config"
  chmod 600 "$mountpoint/ignition/config.ign"
}

# Edits the `options` line of BLS entry $1 as coreos-installer's KargsEditor: deletions of exact
# arguments, appends at the end, the platform id replaced.
edit_entry() {
  DELETE_KARGS=$delete_kargs APPEND_KARGS=$append_kargs PLATFORM_ID=$platform awk '
    # Removes every " needle " from text (exact arguments only).
    function remove_all(text, needle,   position) {
      while ((position = index(text, needle)) > 0)
        text = substr(text, 1, position - 1) " " substr(text, position + length(needle))
      return text
    }
    BEGIN {
      deletes = split(ENVIRON["DELETE_KARGS"], delete_list, "\n")
      appends = split(ENVIRON["APPEND_KARGS"], append_list, "\n")
      platform = ENVIRON["PLATFORM_ID"]
      marker = " ignition.platform.id="
    }
    $1 == "options" {
      if (seen++) { exit_code = 3; exit }
      options = $0
      sub(/^options[ \t]*/, "", options)
      text = " " options " "
      for (i = 1; i <= deletes; i++) if (delete_list[i] != "") text = remove_all(text, " " delete_list[i] " ")
      for (i = 1; i <= appends; i++) if (append_list[i] != "") text = text append_list[i] " "
      if (platform != "") {
        done = ""
        while ((position = index(text, marker)) > 0) {
          done = done substr(text, 1, position) "ignition.platform.id=" platform
          text = substr(text, position + length(marker))
          text = substr(text, index(text, " "))
          found++
        }
        text = done text
      }
      gsub(/^ +| +$/, "", text)
      print "options " text
      next
    }
    { print }
    END {
      if (exit_code) exit exit_code
      if (!seen) exit 4
      if (platform != "" && platform != "metal" && !found) exit 5
    }' "$1" >"$1.new"
  status=$?
  case $status in
    0) ;;
    3) rm -f "$1.new"; die "multiple 'options' lines found in $1" ;;
    4) rm -f "$1.new"; die "couldn't locate 'options' line in $1" ;;
    5) rm -f "$1.new"; die "couldn't locate platform ID in $1" ;;
    *) rm -f "$1.new"; die "editing $1 failed" ;;
  esac
  mv "$1.new" "$1" || die "writing $1"
}

# Applies --append-karg, --delete-karg and --platform to every BLS entry, then regenerates grub.cfg.
configure_kernel_arguments() {
  [ -n "$append_kargs$delete_kargs$platform" ] || return 0
  [ -z "$platform" ] || [ "$platform" = metal ] || say "Setting platform to $platform"
  [ -z "$append_kargs$delete_kargs" ] || say "Modifying kernel arguments"
  found_entry=0
  for entry in "$mountpoint"/loader/entries/*.conf; do
    [ -f "$entry" ] || continue
    found_entry=1
    edit_entry "$entry"
  done
  [ "$found_entry" = 1 ] || die "found no BLS entries in $mountpoint/loader/entries"
  if [ -x "$GRUB_CONFIG" ]; then
    "$GRUB_CONFIG" "$mountpoint" 2>"$work/grub.err" || die "regenerating grub.cfg: $(tail -n 1 "$work/grub.err")"
  fi
}

# Everything after the image is written: the boot partition's Ignition config and kernel arguments.
post_process() {
  [ -n "$ignition_config$append_kargs$delete_kargs$platform" ] || return 0
  mount_boot_partition
  [ -z "$ignition_config" ] || write_ignition
  configure_kernel_arguments
  sync
  umount -d "$mountpoint" 2>"$work/umount.err" || umount "$mountpoint" 2>>"$work/umount.err" ||
    die "unmounting the boot partition: $(tail -n 1 "$work/umount.err")"
  mountpoint=''
}

# `coreos-installer install`.
install() {
  parse_install_arguments "$@"
  [ "$from_kargs" = 0 ] || apply_kernel_arguments
  check_arguments
  work=$(mktemp -d "${TMPDIR:-/var/tmp}/coreos-installer.XXXXXX") || die "cannot create a temporary directory in ${TMPDIR:-/var/tmp}"
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP
  inspect_target
  prepare_ignition
  locate_image
  check_image_sha256
  check_image_signature
  check_image_geometry
  write_image
  post_process
  sync
  write_started=0
  say "Install complete."
}

case ${1:-} in
  install) shift; install "$@" ;;
  -h | --help | help) top_help ;;
  -V | --version) echo "coreos-installer $VERSION (tiny OS)" ;;
  '')
    top_help >&2
    exit 2
    ;;
  *)
    {
      echo "coreos-installer: error: unrecognized subcommand '$1'"
      echo
      echo "Usage: coreos-installer <COMMAND>"
      echo
      echo "For more information, try '--help'."
    } >&2
    exit 2
    ;;
esac
