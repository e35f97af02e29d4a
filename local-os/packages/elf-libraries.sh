#!/bin/sh
# elf-libraries: the shared libraries and the dynamic loader that ELF executables of a root need,
# found without running them (ldd runs the binary's loader, which cannot run a foreign arch):
#
#   elf-libraries.sh ROOT TRIPLET FILE...
#
# FILEs are paths inside ROOT (/usr/bin/curl). Their PT_INTERP (`readelf -l`) is taken as it is
# (/lib64/ld-linux-x86-64.so.2, /lib/ld-linux-aarch64.so.1); each DT_NEEDED name (`readelf -d`) is
# looked for, as Debian's loader does without a cache, in /lib/TRIPLET, /usr/lib/TRIPLET, /lib and
# /usr/lib of ROOT, and the libraries found are read in turn until nothing new is needed. RUNPATH
# is not followed (Debian's packaged binaries have none).
# Prints one line per library, sorted: its path inside ROOT as the loader names it (what ldd
# prints: /lib/x86_64-linux-gnu/libc.so.6), a space, and the regular file it leads to inside ROOT
# (symbolic links followed inside ROOT, even absolute ones). A name found nowhere is an error:
# `elf-libraries: not found: NAME (needed by FILE)` on stderr for each, and exit status 1.
# Used by the specs (the runner passes its path as %{elf_libraries}) and, as a copy in the
# tiny-dracut package, by tiny-dracut. Host tools: readelf (binutils, any arch), sed, sort.
set -eu

# Prints an error and exits.
die() {
  echo "elf-libraries: $*" >&2
  exit 2
}

[ $# -ge 3 ] || die 'usage: elf-libraries.sh ROOT TRIPLET FILE...'
root=${1%/}
triplet=$2
shift 2

# The regular file path $1 (inside the root) leads to, following links inside the root.
resolve_in_root() {
  resolved=$1
  hops=0
  while [ -L "$root$resolved" ]; do
    link=$(readlink "$root$resolved")
    case $link in
      /*) resolved=$link ;;
      *) resolved=${resolved%/*}/$link ;;
    esac
    hops=$((hops + 1))
    [ "$hops" -le 40 ] || die "too many levels of links at $1 in $root"
  done
  [ -f "$root$resolved" ] || return 1
  printf '%s\n' "$resolved"
}

# The path inside the root of shared library $1, by the loader's default directories.
find_library() {
  for directory in "/lib/$triplet" "/usr/lib/$triplet" /lib /usr/lib; do
    if [ -e "$root$directory/$1" ]; then
      printf '%s\n' "$directory/$1"
      return 0
    fi
  done
  return 1
}

# The DT_NEEDED names of ELF file $1 (a host path).
needed_names() {
  readelf -d -W "$1" 2>/dev/null | sed -n 's/.*(NEEDED)[^[]*\[\(.*\)\]$/\1/p'
}

# The PT_INTERP of ELF file $1 (a host path), if it has one.
interpreter() {
  readelf -l -W "$1" 2>/dev/null | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]$/\1/p'
}

found=''    # "NAME PATH FILE" lines, one per library found
missing=0
queue=''
for file in "$@"; do
  real=$(resolve_in_root "$file") || die "$file is not a file in $root"
  queue="$queue $real"
  loader=$(interpreter "$root$real")
  if [ -n "$loader" ]; then
    loader_file=$(resolve_in_root "$loader") || {
      echo "elf-libraries: not found: $loader (needed by $file)" >&2
      missing=1
      continue
    }
    found="$found
${loader##*/} $loader $loader_file"
  fi
done
seen=" "
while [ -n "${queue# }" ]; do
  current=${queue# }
  current=${current%% *}
  queue=${queue# }
  queue=${queue#"$current"}
  case $seen in *" $current "*) continue ;; esac
  seen="$seen$current "
  for name in $(needed_names "$root$current"); do
    case $found in *"
$name "*) continue ;; esac
    if library=$(find_library "$name") && library_file=$(resolve_in_root "$library"); then
      found="$found
$name $library $library_file"
      queue="$queue $library_file"
    else
      echo "elf-libraries: not found: $name (needed by $current)" >&2
      missing=1
    fi
  done
done
[ "$missing" -eq 0 ] || exit 1
printf '%s\n' "$found" | sed -n 's/^[^ ]* //p' | LC_ALL=C sort -u
