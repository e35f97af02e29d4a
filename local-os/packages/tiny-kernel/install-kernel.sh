#!/bin/sh
# Installs the host kernel and a minimal set of its modules into an RPM buildroot:
#   install-kernel.sh HOST_ROOT KERNEL_VERSION MODULE_LIST BUILDROOT
# HOST_ROOT/boot/vmlinuz-KVER (or HOST_ROOT/usr/lib/modules/KVER/vmlinuz) becomes
# /usr/lib/modules/KVER/vmlinuz; every module named in MODULE_LIST is copied with the modules it
# depends on (from the host's modules.dep), then depmod indexes them.
set -eu

host_root=$1
kver=$2
module_list=$3
buildroot=$4

source_dir=$host_root/usr/lib/modules/$kver
target_dir=$buildroot/usr/lib/modules/$kver

[ -f "$source_dir/modules.dep" ] || { echo "install-kernel: no $source_dir/modules.dep" >&2; exit 1; }
vmlinuz=$host_root/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || vmlinuz=$source_dir/vmlinuz
[ -f "$vmlinuz" ] || { echo "install-kernel: no vmlinuz for $kver under $host_root" >&2; exit 1; }

mkdir -p "$target_dir"
install -m 0755 "$vmlinuz" "$target_dir/vmlinuz"

# modules.dep path (kernel/...) of a module name, '-' and '_' being the same in names.
module_path() {
  awk -v want="$1" -F: '{
    file = $1; sub(/.*\//, "", file); sub(/\.ko(\.[a-z]+)?$/, "", file); gsub(/-/, "_", file)
    w = want; gsub(/-/, "_", w)
    if (file == w) { print $1; exit }
  }' "$source_dir/modules.dep"
}

: > "$target_dir/.wanted"
grep -v '^[[:space:]]*\(#\|$\)' "$module_list" | while read -r name; do
  path=$(module_path "$name")
  [ -n "$path" ] || { echo "install-kernel: module $name is not in $kver's modules.dep" >&2; exit 1; }
  # The module, then every module it depends on (modules.dep lists them transitively).
  grep "^$path:" "$source_dir/modules.dep" | tr -d ':' | tr ' ' '\n' | grep -v '^$' >> "$target_dir/.wanted"
done
LC_ALL=C sort -u "$target_dir/.wanted" | while read -r path; do
  install -D -m 0644 "$source_dir/$path" "$target_dir/$path"
done

# depmod wants modules.order, modules.builtin(.modinfo); order only what is shipped.
LC_ALL=C sort -u "$target_dir/.wanted" > "$target_dir/.shipped"
grep -Fx -f "$target_dir/.shipped" "$source_dir/modules.order" > "$target_dir/modules.order" || true
rm -f "$target_dir/.wanted" "$target_dir/.shipped"
for file in modules.builtin modules.builtin.modinfo; do
  install -m 0644 "$source_dir/$file" "$target_dir/$file"
done

# depmod looks in BASE/lib/modules: point a temporary /lib at usr/lib.
ln -s usr/lib "$buildroot/lib"
depmod -b "$buildroot" "$kver"
rm "$buildroot/lib"
