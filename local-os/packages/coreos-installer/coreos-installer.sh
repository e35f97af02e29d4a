#!/usr/bin/sh
# /usr/bin/coreos-installer: the tiny OS's installer, with the interface and behaviour of Fedora
# CoreOS's `coreos-installer install` (coreos/coreos-installer, docs/cmd/install.md), in a busybox
# shell with curl, jq, gpgv, zstd and ignition-validate.
#
#   coreos-installer install [OPTIONS] DEVICE
#     1. finds the image: --image-file, --image-url (each with `<image>.sig` beside it), --stream
#        (`<stream-base-url>/<stream>.json`, the metal `raw.xz` disk of --architecture, or
#        `4k.raw.xz` for a target with 4096-byte logical sectors), or, with none of them, the live
#        ISO's own image (`/run/media/iso/coreos/metal.json`, the entry of the target's sector size:
#        an image file, or a raw image as data extents, see below);
#     2. fetches and checks everything before the first byte is written: the target (a block device,
#        or a regular file for tests; not mounted), the Ignition config (--ignition-hash, then
#        ignition-validate), the image's sha256 (stream metadata, ISO), its detached GPG signature
#        (gpgv against every `*.gpg` keyring of /usr/lib/coreos-installer/keys.d and
#        /etc/coreos-installer/keys.d; a missing, unknown or bad signature refuses unless
#        --insecure), the image's sector size (primary GPT header at byte 512 or 4096 of the
#        decompressed image) against the target's, and its size ((AlternateLBA + 1) * sector size)
#        against the target's;
#     3. writes the decompressed image (xz, gzip, zstd or raw, by magic) to the target (an extents image:
#        zeroes the image's byte range, then writes each extent in place), re-reads its
#        partition table, mounts the boot partition (partition 3), writes the Ignition config to
#        `ignition/config.ign` (mode 0600), edits the BLS entries' `options` (--append-karg,
#        --delete-karg, --platform), regenerates grub.cfg (ostree-grub2's grub-config, when
#        installed), unmounts and syncs. A failure after the write started clears the partition
#        table (unless --preserve-on-error), so a half-written disk never boots.
#     The live ISO's data-extents images (stages/live-image, lib/disk/data-extents.ts): the entry has
#     `size` (the raw image's bytes), `sectorSize` and `extents` ([offset, length] in bytes, in
#     order; multiples of 64 KiB but the image's last); its file is the extents' bytes one after
#     another. Decompressing a 1 GiB image under emulation takes minutes; zeroing the range and
#     copying the data takes seconds (the role of coreos-installer's osmet files). The sizes come
#     from the entry (no GPT header read); the extents must lie in order within the image, on
#     sector boundaries, and add up to the data file's size, or the install refuses (damaged
#     metadata).
#     --platform also applies the platform's console settings from the image's
#     /boot/coreos/platforms.json (its kernel_arguments replace the `metal` entry's, its
#     grub_commands go between grub.cfg's CONSOLE-SETTINGS markers); --console SPEC (repeatable)
#     overrides them: `console=SPEC` replaces the metal entry's kernel arguments and GRUB gets the
#     matching `serial`/`terminal_input`/`terminal_output` commands (src/install.rs, console.rs).
#     -c/--config-file FILE (repeatable): YAML with the long option names as keys (a subset of YAML
#     read with awk: scalars, flow and block lists, comments); later files override earlier ones,
#     the command line overrides them all, list options accumulate (files first).
#   coreos-installer install --from-kargs [OPTIONS]
#     the automated install of the live system, as coreos-installer-service: every file of
#     /etc/coreos/installer.d (name order) is a config file, then the kernel arguments
#     coreos.inst.install_dev= (a name without `/` gets /dev/; optional when a config file may name
#     the device), coreos.inst.ignition_url= (`skip` is ignored; HTTP allowed),
#     coreos.inst.image_url=, coreos.inst.stream=, coreos.inst.platform_id= and
#     coreos.inst.insecure act as command-line options. After a successful install the directory
#     is removed (so a machine that boots the live system again does not reinstall from it).
#
# Refusals print one `coreos-installer: error: ...` line and exit 1 with the target untouched;
# argument errors print the usage and exit 2 (as coreos-installer's clap parser); progress lines go
# to stderr, as coreos-installer prints them.
#
# Environment: COREOS_INSTALLER_ROOT (tests) prefixes every system path the installer reads:
# /proc/cmdline, /proc/mounts, /sys/class/block, /run/media/iso, the keys.d directories,
# /etc/coreos/installer.d and /usr/libexec/ostree-grub2/grub-config. With it set, a regular-file target also takes its logical
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
INSTALLER_CONFIG_DIRECTORY=$ROOT/etc/coreos/installer.d
TAB=$(printf '\t')
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
  -c, --config-file <path>       YAML config file with install options (repeatable); keys are long
                                 option names, lists for repeatable options, true for flags,
                                 dest-device for the device. The command line overrides them
  -s, --stream <name>            Fedora CoreOS stream
  -u, --image-url <URL>          Manually specify the image URL (its signature: <URL>.sig)
  -f, --image-file <path>        Manually specify a local image file (its signature: <path>.sig)
  -i, --ignition-file <path>     Embed an Ignition config from a file
  -I, --ignition-url <URL>       Embed an Ignition config from a URL
      --ignition-hash <digest>   Digest (type-value) of the Ignition config (sha256-HEX or sha512-HEX)
  -a, --architecture <name>      Target CPU architecture [default: the machine's]
  -p, --platform <name>          Override the Ignition platform ID [default: metal]
      --console <spec>           Kernel and bootloader console (repeatable), as console=:
                                 ttyS<N>[,<speed>[<parity>[<bits>]]], ttyAMA<N>[,...], tty0, hvc0
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
# Empty until an option or a config file sets it (0 then); a config file may not override a set value.
fetch_retries=''
consoles=''
config_files=''

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
        --append-karg | --delete-karg | --fetch-retries | --console | -c | --config-file)
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
      --console) [ -n "$value" ] || usage_error "a value is required for '$option'"; append_to_list consoles "$value" ;;
      -c | --config-file) [ -n "$value" ] || usage_error "a value is required for '$option'"; append_to_list config_files "$value" ;;
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
  parse_consoles
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
  [ -n "$fetch_retries" ] || fetch_retries=0
  case $fetch_retries in
    infinite) ;;
    *[!0-9]*) usage_error "invalid value '$fetch_retries' for '--fetch-retries <N>': a number or \"infinite\"" ;;
  esac
  [ -n "$device" ] || usage_error "the following required arguments were not provided: <DEST_DEVICE>"
  [ -n "$architecture" ] || architecture=$(uname -m)
  [ -n "$stream_base_url" ] || stream_base_url=$DEFAULT_STREAM_BASE_URL
}

# --- Consoles (coreos-installer's src/cmdline/console.rs) --------------------------------------

# The kernel arguments and GRUB commands of --console, set by parse_consoles.
console_kargs=''
console_grub_commands=''

# Prints console spec $1 as `KARG<TAB>GRUB-SERIAL-COMMAND<TAB>GRUB-TERMINAL` (the serial command
# empty for a graphical console); exit 1 when it is not a console coreos-installer accepts.
console_fields() {
  case $1 in
    tty0 | hvc0 | ttysclp0) printf 'console=%s\t\tconsole\n' "$1"; return 0 ;;
  esac
  SPEC=$1 awk 'BEGIN {
    spec = ENVIRON["SPEC"]
    if (spec !~ /^(ttyS|ttyAMA)[0-9]+(,[0-9]+([noe][5-8]?)?)?$/) exit 1
    prefix = substr(spec, 1, 6) == "ttyAMA" ? "ttyAMA" : "ttyS"
    rest = substr(spec, length(prefix) + 1)
    comma = index(rest, ",")
    port = comma ? substr(rest, 1, comma - 1) : rest
    # Defaults of the console= syntax: 9600 baud, no parity, 8 data bits.
    speed = "9600"; parity = "n"; bits = "8"
    if (comma) {
      options = substr(rest, comma + 1)
      match(options, /^[0-9]+/)
      speed = substr(options, 1, RLENGTH)
      options = substr(options, RLENGTH + 1)
      if (options != "") parity = substr(options, 1, 1)
      if (length(options) > 1) bits = substr(options, 2, 1)
    }
    sub(/^0+/, "", port); if (port == "") port = "0"
    sub(/^0+/, "", speed); if (speed == "") speed = "0"
    # The port is a u8 and the speed a u32 upstream.
    if (length(port) > 3 || port + 0 > 255 || length(speed) > 10 || speed + 0 > 4294967295) exit 1
    grub_parity = parity == "n" ? "no" : parity == "o" ? "odd" : "even"
    printf "console=%s%s,%s%s%s\tserial --unit=%s --speed=%s --word=%s --parity=%s\tserial\n",
      prefix, port, speed, parity, bits, port, speed, bits, grub_parity
  }'
}

# Checks every --console and builds their kernel arguments and GRUB commands (one `serial` command
# per serial console, then terminal_input and terminal_output over the sorted terminal kinds).
parse_consoles() {
  [ -n "$consoles" ] || return 0
  has_console=0
  has_serial=0
  saved_ifs=$IFS
  IFS='
'
  set -f
  for spec in $consoles; do
    IFS=$saved_ifs
    case $spec in
      console=*) usage_error "invalid value '$spec' for '--console <spec>': spec should not start with \"console=\"" ;;
      /dev/*) usage_error "invalid value '$spec' for '--console <spec>': spec should not start with \"/dev/\"" ;;
    esac
    fields=$(console_fields "$spec") ||
      usage_error "invalid value '$spec' for '--console <spec>': invalid or unsupported console argument"
    append_to_list console_kargs "${fields%%"$TAB"*}"
    rest=${fields#*"$TAB"}
    serial_command=${rest%%"$TAB"*}
    [ -z "$serial_command" ] || append_to_list console_grub_commands "$serial_command"
    case ${rest#*"$TAB"} in
      serial) has_serial=1 ;;
      console) has_console=1 ;;
    esac
  done
  IFS=$saved_ifs
  set +f
  terminals=$( ([ "$has_console" = 1 ] && echo console; [ "$has_serial" = 1 ] && echo serial) | tr '\n' ' ')
  terminals=${terminals% }
  append_to_list console_grub_commands "terminal_input $terminals"
  append_to_list console_grub_commands "terminal_output $terminals"
}

# Prints coreos-installer's note when every console= of --append-karg is a console --console takes.
maybe_note_console_kargs() {
  suggested=''
  replaced=''
  saved_ifs=$IFS
  IFS='
'
  set -f
  for karg in $append_kargs; do
    case $karg in
      console=*)
        if ! console_fields "${karg#console=}" >/dev/null; then
          IFS=$saved_ifs
          set +f
          return 0
        fi
        suggested="$suggested --console ${karg#console=}"
        replaced="$replaced --append-karg $karg"
        ;;
    esac
  done
  IFS=$saved_ifs
  set +f
  [ -n "$suggested" ] || return 0
  say "Note: consider using \"${suggested# }\" instead of \"${replaced# }\" to configure both kernel and bootloader consoles."
}

# --- Config files (-c/--config-file, /etc/coreos/installer.d) ---------------------------------

# Prints the options of YAML config file $1 as records: `S<TAB>key<TAB>value` (a single value),
# `L<TAB>key<TAB>value` (one list item), `F<TAB>key` (a flag set to true); on an error, a record
# `ERROR<TAB>message` and exit 3. The YAML subset: `key: value` at column 0 (plain, 'single' or
# "double" quoted), `key: [a, "b,c"]` flow lists on one line, `key:` followed by `- item` lines,
# `# comments`, a leading `---`, `null`/`~`. As in YAML, an unquoted flow-list item ends at a comma:
# `[ttyS0,115200n8]` is two items, so such a value is quoted or given as a block list.
config_records() {
  SCALAR_KEYS='stream image-url image-file ignition-file ignition-url ignition-hash architecture platform stream-base-url fetch-retries dest-device' \
    LIST_KEYS='console append-karg delete-karg' \
    FLAG_KEYS='offline insecure insecure-ignition preserve-on-error' \
    UNSUPPORTED_KEYS='copy-network network-dir save-partlabel save-partindex secure-ipl' \
    awk '
    # The text without leading and trailing blanks.
    function trim(text) { sub(/^[ \t]+/, "", text); sub(/[ \t]+$/, "", text); return text }
    # Reports an error on the current line and stops.
    function fail(message) { print "ERROR\tline " NR ": " message; failed = 1; exit 3 }
    # True when text is empty or only a comment.
    function clean(text) { text = trim(text); return text == "" || substr(text, 1, 1) == "#" }
    # Reads one scalar at the start of text into token (quoted: 1 when it was quoted) and returns
    # the text after it; in a flow list a plain scalar ends at , [ ] { }.
    function scalar(text, in_flow,    first, i, c, value) {
      first = substr(text, 1, 1)
      value = ""
      if (first == "\"") {
        for (i = 2; i <= length(text); i++) {
          c = substr(text, i, 1)
          if (c == "\\") {
            c = substr(text, ++i, 1)
            if (c != "\\" && c != "\"" && c != "/") fail("unsupported escape \\" c " in a double-quoted string")
          } else if (c == "\"") {
            token = value; quoted = 1
            return substr(text, i + 1)
          }
          value = value c
        }
        fail("unterminated double-quoted string")
      }
      if (first == "\047") {
        for (i = 2; i <= length(text); i++) {
          c = substr(text, i, 1)
          if (c == "\047") {
            if (substr(text, i + 1, 1) != "\047") { token = value; quoted = 1; return substr(text, i + 1) }
            i++
          }
          value = value c
        }
        fail("unterminated single-quoted string")
      }
      if (first ~ /[&*!|>%@`{]/) fail("anchors, aliases, tags, block scalars and mappings are not supported")
      if (first == "[") fail("nested lists are not supported")
      if (text ~ /^-([ \t]|$)/) fail("nested lists are not supported")
      for (i = 1; i <= length(text); i++) {
        c = substr(text, i, 1)
        if (c == "#" && i > 1 && substr(text, i - 1, 1) ~ /[ \t]/) break
        if (in_flow && (c == "," || c == "[" || c == "]" || c == "{" || c == "}")) break
        if (c == ":" && (i == length(text) || substr(text, i + 1, 1) ~ /[ \t]/)) fail("nested mappings are not supported")
        value = value c
      }
      token = trim(value); quoted = 0
      return substr(text, i)
    }
    # Prints the record of value (a single value or, with is_item, a list item) of key, checking its type.
    function emit(key, value, is_quoted, is_item) {
      if (!is_quoted && value ~ /^(null|Null|NULL|~)$/) {
        if (is_item) fail("null item in the list of `" key "`")
        return
      }
      if (is_item) {
        if (kind[key] != "list") fail("`" key "` takes a single value, not a list")
        print "L\t" key "\t" value
      } else if (kind[key] == "list") {
        fail("`" key "` takes a list (" key ": [...] or - items)")
      } else if (kind[key] == "flag") {
        if (!is_quoted && value ~ /^(true|True|TRUE)$/) print "F\t" key
        else if (is_quoted || value !~ /^(false|False|FALSE)$/) fail("`" key "` takes true or false")
      } else {
        print "S\t" key "\t" value
      }
    }
    # Reads the flow list of key that starts text.
    function flow_list(key, text,    rest, c) {
      rest = substr(text, 2)
      while (1) {
        sub(/^[ \t]+/, "", rest)
        if (rest == "" || substr(rest, 1, 1) == "#") fail("a flow list must end (`]`) on its line")
        if (substr(rest, 1, 1) == "]") break
        rest = scalar(rest, 1)
        if (!quoted && token == "") fail("empty item in the flow list of `" key "`")
        emit(key, token, quoted, 1)
        sub(/^[ \t]+/, "", rest)
        c = substr(rest, 1, 1)
        if (c == "" || c == "#") fail("a flow list must end (`]`) on its line")
        if (c == ",") rest = substr(rest, 2)
        else if (c != "]") fail("expected , or ] in the flow list of `" key "`")
      }
      if (!clean(substr(rest, 2))) fail("unexpected text after the flow list of `" key "`")
    }
    BEGIN {
      count = split(ENVIRON["SCALAR_KEYS"], names, " "); for (i = 1; i <= count; i++) kind[names[i]] = "scalar"
      count = split(ENVIRON["LIST_KEYS"], names, " "); for (i = 1; i <= count; i++) kind[names[i]] = "list"
      count = split(ENVIRON["FLAG_KEYS"], names, " "); for (i = 1; i <= count; i++) kind[names[i]] = "flag"
      count = split(ENVIRON["UNSUPPORTED_KEYS"], names, " "); for (i = 1; i <= count; i++) kind[names[i]] = "unsupported"
    }
    { sub(/\r$/, "") }
    /^[ \t]*(#.*)?$/ { next }
    /^---[ \t]*(#.*)?$/ && !started { started = 1; next }
    { started = 1 }
    /^[ \t]*-([ \t]|$)/ {
      if (pending == "") fail("a list item without a key")
      item = $0
      sub(/^[ \t]*-/, "", item)
      item = trim(item)
      if (item == "" || substr(item, 1, 1) == "#") fail("empty item in the list of `" pending "`")
      if (!clean(scalar(item, 0))) fail("unexpected text after an item of `" pending "`")
      emit(pending, token, quoted, 1)
      next
    }
    /^[ \t]/ { fail("unexpected indented line (nested mappings and multi-line values are not supported)") }
    {
      pending = ""
      if ($0 !~ /^[A-Za-z0-9_.-]+:([ \t]|$)/) fail("expected `key: value`")
      key = substr($0, 1, index($0, ":") - 1)
      text = trim(substr($0, index($0, ":") + 1))
      if (!(key in kind)) fail("unknown key `" key "`")
      if (kind[key] == "unsupported") fail("`" key "` is not supported by this installer")
      if (key in seen) fail("duplicate key `" key "`")
      seen[key] = 1
      if (clean(text)) { pending = key; next }
      if (substr(text, 1, 1) == "[") { flow_list(key, text); next }
      if (!clean(scalar(text, 0))) fail("unexpected text after the value of `" key "`")
      emit(key, token, quoted, 0)
    }' "$1"
}

# The shell variable a config file key sets (lists: the config files' own list).
config_variable() {
  case $1 in
    dest-device) echo device ;;
    append-karg) echo config_append_kargs ;;
    delete-karg) echo config_delete_kargs ;;
    console) echo config_consoles ;;
    *) echo "$1" | tr - _ ;;
  esac
}

# Applies config file $1: its single values unless the command line set them (a later file
# overrides an earlier one), its flags, its list items (before the command line's).
apply_config_file() {
  [ -f "$1" ] && [ -r "$1" ] || die "opening config file $1: no such file"
  records=$(config_records "$1")
  status=$?
  if [ "$status" != 0 ]; then
    message=$(printf '%s\n' "$records" | sed -n "s/^ERROR$TAB//p" | head -n 1)
    die "parsing config file $1: ${message:-cannot read it}"
  fi
  while IFS= read -r record; do
    [ -n "$record" ] || continue
    record_kind=${record%%"$TAB"*}
    rest=${record#*"$TAB"}
    key=${rest%%"$TAB"*}
    value=${rest#*"$TAB"}
    variable=$(config_variable "$key")
    case $record_kind in
      S)
        eval "fixed=\${fixed_$variable:-0}"
        # shellcheck disable=SC2154
        [ "$fixed" = 1 ] || eval "$variable=\$value"
        ;;
      L) append_to_list "$variable" "$value" ;;
      F) eval "$variable=1" ;;
    esac
  done <<RECORDS
$records
RECORDS
}

# Applies the config files in order below the command line's options (coreos-installer's
# expand_config_files: the files' options first, then the command line's, parsed again).
apply_config_files() {
  [ -n "$config_files" ] || return 0
  for variable in ignition_file ignition_url ignition_hash image_file image_url stream stream_base_url \
    architecture platform fetch_retries device; do
    eval "[ -z \"\${$variable}\" ] || fixed_$variable=1"
  done
  config_append_kargs=''
  config_delete_kargs=''
  config_consoles=''
  saved_ifs=$IFS
  IFS='
'
  set -f
  # shellcheck disable=SC2086
  set -- $config_files
  IFS=$saved_ifs
  set +f
  for file in "$@"; do
    apply_config_file "$file"
  done
  append_kargs=$(printf '%s\n%s' "$config_append_kargs" "$append_kargs" | sed '/^$/d')
  delete_kargs=$(printf '%s\n%s' "$config_delete_kargs" "$delete_kargs" | sed '/^$/d')
  consoles=$(printf '%s\n%s' "$config_consoles" "$consoles" | sed '/^$/d')
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

# --from-kargs: the files of /etc/coreos/installer.d become the first config files, and the
# coreos.inst.* kernel arguments fill the options the command line left unset, as
# coreos-installer-service does.
apply_kernel_arguments() {
  [ -r "$ROOT/proc/cmdline" ] || die "cannot read $ROOT/proc/cmdline"
  directory_files=''
  for file in "$INSTALLER_CONFIG_DIRECTORY"/*; do
    [ -f "$file" ] && append_to_list directory_files "$file"
  done
  if [ -n "$directory_files" ]; then
    config_files=$(printf '%s\n%s' "$directory_files" "$config_files" | sed '/^$/d')
  fi
  karg_device=$(kernel_argument coreos.inst.install_dev)
  if [ -z "$device" ]; then
    # With a config file the device may come from its dest-device, as the service assumes.
    [ -n "$karg_device" ] || [ -n "$config_files" ] || die "no install device specified (coreos.inst.install_dev=)"
    case $karg_device in
      '') ;;
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
  say "coreos-installer install$(printf '%s\n' "$config_files" | sed -n 's/^./ --config-file &/p' | tr -d '\n')${device:+ $device}${ignition_url:+ --ignition-url $ignition_url}${image_url:+ --image-url $image_url}${stream:+ --stream $stream}${platform:+ --platform $platform}$([ "$insecure" = 1 ] && echo ' --insecure')"
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
  if [ "$(echo "$entry" | jq 'has("size") or has("extents")')" = true ]; then
    read_iso_extents "$entry"
    say "Installing $file from the live ISO ($target_sector_size-byte sectors, $extent_count extents)"
  else
    say "Installing $file from the live ISO ($target_sector_size-byte sectors)"
  fi
}

image_layout=file
extent_count=0

# Reads a data-extents entry ($1): its size and sector size, and its extents into $work/extents
# ("offset length" lines), so the checks before writing and the writing read one list.
read_iso_extents() {
  image_layout=extents
  image_size=$(echo "$1" | jq -r '.size | if type == "number" and . > 0 and . == floor then tostring else empty end')
  image_sector_size=$(echo "$1" | jq -r '.sectorSize')
  [ -n "$image_size" ] || die "damaged metadata for image $image_name: no valid size"
  # Each extent must be [offset, length] of non-negative integers; jq prints them one per line.
  echo "$1" | jq -r '
    def natural: type == "number" and . >= 0 and . == floor;
    if (.extents | type) == "array"
      and all(.extents[]; type == "array" and length == 2 and (.[0] | natural) and (.[1] | natural))
    then .extents[] | "\(.[0]) \(.[1])"
    else error("not a list of [offset, length] pairs") end' >"$work/extents" 2>/dev/null ||
    die "damaged metadata for image $image_name: extents are not a list of [offset, length] pairs"
  extent_count=$(wc -l <"$work/extents" | tr -d ' ')
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

# The compression of file $1 by its magic: xz, gzip, zstd or raw.
compression_of() {
  magic=$(head -c 6 "$1" | od -A n -t x1 | tr -d ' \n')
  case $magic in
    fd377a585a00) echo xz ;;
    1f8b*) echo gzip ;;
    28b52ffd*) echo zstd ;;
    *) echo raw ;;
  esac
}

# Writes file $1 decompressed to stdout.
decompress() {
  case $(compression_of "$1") in
    xz) xzcat "$1" ;;
    gzip) zcat "$1" ;;
    # zstd decodes the tiny OS's 1 GiB metal image ~12x faster than busybox zcat (0.46 s against
    # 5.4 s on the build host); under emulation the install took 35.6 s instead of 61.4 s.
    zstd) zstd -q -d -c "$1" ;;
    raw) cat "$1" ;;
  esac
}

# Unsigned little-endian integer of $2 bytes at offset $3 of file $1.
read_integer() {
  od -A n -t "u$2" -j "$3" -N "$2" "$1" | tr -d ' \n'
}

image_sector_size=''
image_size=''

# Reads the image's sector size and size from its primary GPT header (an extents image: from its
# metadata); checks both against the target.
check_image_geometry() {
  if [ "$image_layout" = extents ]; then
    check_extents_geometry
    return
  fi
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
  # xzcat, zcat and zstd fail on a truncated stream (while writing); a raw image is measured now.
  if [ "$(compression_of "$image_path")" = raw ] && [ "$(stat -L -c %s "$image_path")" -lt "$image_size" ]; then
    die "image $image_name is truncated: $(stat -L -c %s "$image_path") bytes, its GPT says $image_size"
  fi
}

# Checks an extents image before writing: sector size and size against the target, and the extents
# against the image and the data file (in order, inside the image, on sector boundaries, their
# lengths adding up to the file's size), so damaged metadata refuses instead of writing garbage.
check_extents_geometry() {
  [ "$image_sector_size" = "$target_sector_size" ] ||
    die "image $image_name has $image_sector_size-byte sectors but $device has $target_sector_size-byte logical sectors"
  [ $((image_size % image_sector_size)) = 0 ] ||
    die "damaged metadata for image $image_name: size $image_size is not a multiple of $image_sector_size-byte sectors"
  [ "$target_size" -ge "$image_size" ] ||
    die "$device ($target_size bytes) is smaller than image $image_name ($image_size bytes)"
  data_size=$(stat -L -c %s "$image_path")
  # awk's doubles hold byte counts exactly up to 2^53; the sum is printed as an integer.
  result=$(awk -v size="$image_size" -v sector="$image_sector_size" '
    # `exit` still runs END: `bad` keeps it from adding a total line after the problem.
    $0 !~ /^[0-9]+ [0-9]+$/ { print "extent " NR " is not two byte counts: " $0; bad = 1; exit }
    $1 < end { print "extent " NR " (offset " $1 ") overlaps or precedes the one before"; bad = 1; exit }
    $2 == 0 || $1 % sector != 0 || $2 % sector != 0 {
      print "extent " NR " (" $1 ", " $2 ") is empty or not on " sector "-byte sector boundaries"; bad = 1; exit
    }
    $1 + $2 > size { print "extent " NR " (" $1 ", " $2 ") ends past the image size " size; bad = 1; exit }
    { end = $1 + $2; total += $2 }
    END { if (!bad) printf "total %.0f\n", total }' "$work/extents")
  case $result in
    total\ *) ;;
    *) die "damaged metadata for image $image_name: $result" ;;
  esac
  [ "${result#total }" = "$data_size" ] ||
    die "damaged metadata for image $image_name: its extents add up to ${result#total } bytes but the data file has $data_size"
}

# --- Writing ---------------------------------------------------------------------------------

# Writes the decompressed image to the target and makes the kernel re-read its partition table.
write_image() {
  say "Installing $image_name to $device"
  write_started=1
  if [ "$image_layout" = extents ]; then
    write_extents
  else
    write_stream
  fi
  sync
  if [ "$target_kind" = block ]; then
    blockdev --rereadpt "$device" || die "re-reading the partition table of $device"
  fi
}

# Writes an extents image: zeroes the image's byte range (what no extent covers must read as zeros,
# whatever the disk held), then copies each extent from the data file to its offset. Byte-counted
# dd (busybox 1.35 and GNU dd have skip_bytes, count_bytes, seek_bytes), so neither the image's
# size nor its last extent need be a multiple of the block size. O_DIRECT on a block device keeps
# the page cache out of the way; a regular file (tmpfs has no O_DIRECT) is written through it.
write_extents() {
  output_flags=seek_bytes
  [ "$target_kind" = block ] && output_flags=seek_bytes,direct
  dd if=/dev/zero of="$device" bs=4M count="$image_size" iflag=count_bytes oflag="$output_flags" \
    conv=notrunc 2>"$work/dd.err" || die "zeroing $device: $(tail -n 1 "$work/dd.err")"
  source_offset=0
  while read -r offset length; do
    dd if="$image_path" of="$device" bs=4M skip="$source_offset" seek="$offset" count="$length" \
      iflag=skip_bytes,count_bytes,fullblock oflag="$output_flags" conv=notrunc 2>"$work/dd.err" ||
      die "writing the extent at byte $offset of $device: $(tail -n 1 "$work/dd.err")"
    source_offset=$((source_offset + length))
  done <"$work/extents"
}

# Writes the decompressed image file (xz, gzip, zstd or raw) to the target, in one stream.
write_stream() {
  : >"$work/decompress.status"
  { decompress "$image_path"; echo $? >"$work/decompress.status"; } |
    dd of="$device" bs=1M conv=notrunc,fsync 2>"$work/dd.err" ||
    die "writing $device: $(tail -n 1 "$work/dd.err")"
  [ "$(cat "$work/decompress.status")" = 0 ] || die "decompressing image $image_name failed"
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

# Edits the `options` line of BLS entry $1 as coreos-installer's KargsEditor, in upstream's order:
# the platform id replaced and the platform's console arguments swapped in (for the metal entry's),
# --console's arguments swapped in, then --delete-karg and --append-karg (each step deletes exact
# arguments, then appends at the end).
edit_entry() {
  DELETE_KARGS=$delete_kargs APPEND_KARGS=$append_kargs PLATFORM_ID=$platform \
    PLATFORM_DELETE=$platform_delete_kargs PLATFORM_APPEND=$platform_append_kargs \
    CONSOLE_DELETE=$console_delete_kargs CONSOLE_APPEND=$console_kargs awk '
    # Removes every " needle " from text (exact arguments only).
    function remove_all(text, needle,   position) {
      while ((position = index(text, needle)) > 0)
        text = substr(text, 1, position - 1) " " substr(text, position + length(needle))
      return text
    }
    # One KargsEditor step: the arguments of the newline-separated deletions removed, the appends added.
    function edit(text, deletions, appends,   count, list, i) {
      count = split(deletions, list, "\n")
      for (i = 1; i <= count; i++) if (list[i] != "") text = remove_all(text, " " list[i] " ")
      count = split(appends, list, "\n")
      for (i = 1; i <= count; i++) if (list[i] != "") text = text list[i] " "
      return text
    }
    BEGIN {
      platform = ENVIRON["PLATFORM_ID"]
      marker = " ignition.platform.id="
    }
    $1 == "options" {
      if (seen++) { exit_code = 3; exit }
      options = $0
      sub(/^options[ \t]*/, "", options)
      text = " " options " "
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
      text = edit(text, ENVIRON["PLATFORM_DELETE"], ENVIRON["PLATFORM_APPEND"])
      text = edit(text, ENVIRON["CONSOLE_DELETE"], ENVIRON["CONSOLE_APPEND"])
      text = edit(text, ENVIRON["DELETE_KARGS"], ENVIRON["APPEND_KARGS"])
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

# The platforms table the image carries (coreos-assembler's arch section of platforms.yaml).
platforms_table=''

# Checks the boot partition's coreos/platforms.json, if any: an object of platform entries.
check_platforms_table() {
  platforms_table=$mountpoint/coreos/platforms.json
  [ -f "$platforms_table" ] || return 0
  jq -e 'type == "object" and all(.[]; type == "object"
      and all((.grub_commands // []), (.kernel_arguments // []); type == "array" and all(.[]; type == "string")))' \
    "$platforms_table" >/dev/null 2>&1 || die "parsing platform table $platforms_table: not an object of {grub_commands, kernel_arguments} string lists"
}

# The newline-separated list field $2 (grub_commands or kernel_arguments) of platform $1 (empty when absent).
platform_field() {
  [ -f "$platforms_table" ] || return 0
  jq -r --arg platform "$1" --arg field "$2" '(.[$platform][$field] // [])[]' "$platforms_table"
}

# Replaces the lines between the CONSOLE-SETTINGS markers of grub2/grub.cfg with the commands of
# the newline-separated list $1 (what grub-config keeps when it regenerates grub.cfg).
set_grub_console_commands() {
  file=$mountpoint/grub2/grub.cfg
  [ -f "$file" ] || die "reading grub2/grub.cfg: no such file on the boot partition"
  COMMANDS=$1 awk '
    !done && $0 == "# CONSOLE-SETTINGS-START" {
      print
      count = split(ENVIRON["COMMANDS"], list, "\n")
      for (i = 1; i <= count; i++) if (list[i] != "") print list[i]
      inside = 1
      next
    }
    inside && $0 == "# CONSOLE-SETTINGS-END" { inside = 0; done = 1 }
    inside { next }
    { print }
    END { if (!done) exit 3 }' "$file" >"$file.new" || {
    rm -f "$file.new"
    die "updating grub2/grub.cfg: missing substitution marker in grub.cfg"
  }
  # Rewritten in place, as upstream does: the file keeps its mode.
  cat "$file.new" >"$file" || die "writing grub2/grub.cfg"
  rm -f "$file.new"
}

# Kernel arguments each BLS step swaps, set by configure_boot.
platform_delete_kargs=''
platform_append_kargs=''
console_delete_kargs=''

# Applies --platform, --console, --append-karg and --delete-karg to every BLS entry and GRUB's
# console settings (coreos-installer's configure_kernel_arguments and configure_grub), then
# regenerates grub.cfg, which keeps the console settings just written.
configure_boot() {
  [ -n "$append_kargs$delete_kargs$platform$consoles" ] || return 0
  check_platforms_table
  metal_kargs=$(platform_field metal kernel_arguments)
  if [ -n "$platform" ] && [ "$platform" != metal ]; then
    say "Setting platform to $platform"
    # Custom console settings completely override the platform's.
    if [ -z "$consoles" ]; then
      platform_delete_kargs=$metal_kargs
      platform_append_kargs=$(platform_field "$platform" kernel_arguments)
    fi
  fi
  if [ -n "$consoles" ]; then
    say "Configuring console settings"
    console_delete_kargs=$metal_kargs
  fi
  if [ -n "$append_kargs$delete_kargs" ]; then
    say "Modifying kernel arguments"
    maybe_note_console_kargs
  fi
  found_entry=0
  for entry in "$mountpoint"/loader/entries/*.conf; do
    [ -f "$entry" ] || continue
    found_entry=1
    edit_entry "$entry"
  done
  [ "$found_entry" = 1 ] || die "found no BLS entries in $mountpoint/loader/entries"
  if [ -n "$consoles" ]; then
    set_grub_console_commands "$console_grub_commands"
  elif [ -n "$platform" ]; then
    platform_grub=$(platform_field "$platform" grub_commands)
    # Only a platform whose commands differ from metal's changes grub.cfg, as upstream.
    [ "$platform_grub" = "$(platform_field metal grub_commands)" ] || set_grub_console_commands "$platform_grub"
  fi
  if [ -x "$GRUB_CONFIG" ]; then
    "$GRUB_CONFIG" "$mountpoint" 2>"$work/grub.err" || die "regenerating grub.cfg: $(tail -n 1 "$work/grub.err")"
  fi
}

# Everything after the image is written: the boot partition's Ignition config and kernel arguments.
post_process() {
  [ -n "$ignition_config$append_kargs$delete_kargs$platform$consoles" ] || return 0
  mount_boot_partition
  [ -z "$ignition_config" ] || write_ignition
  configure_boot
  sync
  umount -d "$mountpoint" 2>"$work/umount.err" || umount "$mountpoint" 2>>"$work/umount.err" ||
    die "unmounting the boot partition: $(tail -n 1 "$work/umount.err")"
  mountpoint=''
}

# `coreos-installer install`.
install() {
  parse_install_arguments "$@"
  [ "$from_kargs" = 0 ] || apply_kernel_arguments
  apply_config_files
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
  # As coreos-installer-service: a machine booting the live system again must not reinstall.
  [ "$from_kargs" = 0 ] || rm -rf "$INSTALLER_CONFIG_DIRECTORY"
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
