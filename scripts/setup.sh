#!/usr/bin/env bash
# Installs everything fcos-cdk needs on a fresh Debian 12 machine: the host tools the stages call
# (ostree, rpm, dnf, createrepo_c, mkfs, sgdisk, mtools, grub, qemu for x86_64 and aarch64 with OVMF
# and AAVMF, binutils' readelf, ignition, a kernel for
# the local tiny OS, and the curl, jq, gpg and bwrap programs it repackages, and their arm64 builds
# unpacked into /var/lib/fcos-cdk/roots/aarch64 by scripts/foreign-root.sh; xorriso and
# squashfs-tools for the live ISO and PXE images; nginx, whose WebDAV
# module serves the remote-cache tests' HTTP cache) and the npm packages from the
# lockfile, then builds dist/ (the bins run the compiled code; incremental, so an updated checkout
# rebuilds only what changed). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

HOST_PACKAGES=(
  ostree rpm dnf createrepo-c
  qemu-system-x86 qemu-utils ovmf
  qemu-system-arm qemu-efi-aarch64
  grub-efi-amd64-bin grub-pc-bin
  dosfstools mtools e2fsprogs xfsprogs fdisk gdisk cpio busybox-static
  linux-image-amd64 ignition passwd login
  curl jq gpg gpgv gpgconf bubblewrap
  xz-utils zstd gzip tar
  xorriso squashfs-tools
  binutils procps time
  nginx
)

missing=()
for package in "${HOST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them with apt-get)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # nginx is only a test server: its package must not start a system service on port 80, so
  # service starts are denied (policy-rc.d, honoured by invoke-rc.d and deb-systemd-invoke)
  # for this install unless the machine has its own policy.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The aarch64 root: the arm64 Debian files the local tiny OS for aarch64 is made of, pinned by
# scripts/foreign-roots/aarch64.lock (fast when it is already made).
scripts/foreign-root.sh aarch64

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
node scripts/build.js
node scripts/link-bins.js
echo "setup: done"
