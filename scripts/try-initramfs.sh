#!/usr/bin/env bash
# Exploratory check of the tiny OS's packages without the rest of the pipeline: builds the RPMs
# from packages/ with the LocalPackageRepo runner, installs them with dnf into a root, runs
# tiny-dracut from it, lays out a fake ostree sysroot (deployment, stateroot var, the boot.N link
# chain) in an ext4 image labelled `root`, and boots the host kernel with that initramfs under QEMU
# (TCG; KVM hangs on this host) with an Ignition config in fw_cfg. Prints the serial console and
# exits 0 if the tiny init reported `FCOS-CDK: done` with every test passing.
#
#   scripts/try-initramfs.sh [WORK_DIR]       (default: a new temporary directory, kept)
#   DISK_INTERFACE=ahci scripts/try-initramfs.sh   (the disk on a SATA controller instead of virtio)
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD
work=${1:-$(mktemp -d /tmp/try-initramfs.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
epoch=1700000000
kver=$(ls /usr/lib/modules | sort -V | tail -n 1)
os=fedora-coreos
checksum=$(printf 'tiny-os' | sha256sum | cut -d' ' -f1)
bootcsum=$(printf 'tiny-boot' | sha256sum | cut -d' ' -f1)
echo "work directory: $work (kernel $kver)"

# Prints the seconds since $1 (a `date +%s.%N` value).
elapsed() {
  echo "$(date +%s.%N) - $1" | bc | cut -c1-5
}

# 1-3. RPMs and repository (the LocalPackageRepo runner itself), the tiny OS root installed offline
# with dnf, and its initramfs from tiny-dracut: the same code the pipeline runs.
rm -rf "$work/build" "$work/dnf" "$work/root"
mkdir -p "$work/build"
WORK=$work KVER=$kver EPOCH=$epoch npx tsx --input-type=module -e "
  const { runTool } = await import('$project/lib/exec.ts');
  const { localPackageRepoRunner } = await import('$project/stages/local-package-repo.ts');
  const { installPackages } = await import('$project/lib/tools/dnf.ts');
  const { buildInitramfs } = await import('$project/lib/tools/tiny-dracut.ts');
  const { WORK, KVER } = process.env;
  const epoch = Number(process.env.EPOCH);
  const exec = (file, args, options) => runTool(file, args, { ...options });
  const seconds = (start) => ((performance.now() - start) / 1000).toFixed(2);
  let start = performance.now();
  const props = { specs: 'packages', name: 'local', sourceDateEpoch: epoch, arch: 'x86_64' };
  const outputs = await localPackageRepoRunner.run({
    nodePath: 'Packages', props, inputs: {}, declaredOutputs: {}, projectDir: '$project',
    signal: new AbortController().signal, workDir: WORK + '/build', ostreeRepo: '', log: () => {}, exec,
  });
  console.log('LocalPackageRepo (rpmbuild + createrepo_c): ' + seconds(start) + ' s');
  start = performance.now();
  await installPackages(exec, {
    installRoot: WORK + '/root', stateDir: WORK + '/dnf', releaseVersion: '41', sourceDateEpoch: epoch,
    repositories: [{ name: 'local', directory: outputs.repo.path }],
    packages: ['tiny-release', 'tiny-kernel', 'tiny-init', 'busybox', 'ignition', 'tiny-dracut'],
  });
  console.log('dnf install: ' + seconds(start) + ' s');
  start = performance.now();
  await buildInitramfs(exec, { root: WORK + '/root', kernelVersion: KVER, output: WORK + '/initramfs.img', sourceDateEpoch: epoch });
  console.log('tiny-dracut: ' + seconds(start) + ' s');
"
root=$work/root

# 4. A fake ostree sysroot: /ostree/deploy/OS/{deploy/CHECKSUM.0,var} and the boot.1 link chain.
start=$(date +%s.%N)
sysroot=$work/sysroot
rm -rf "$sysroot"
deployment=$sysroot/ostree/deploy/$os/deploy/$checksum.0
mkdir -p "$deployment" "$sysroot/ostree/deploy/$os/var" "$sysroot/ostree/boot.1.1/$os/$bootcsum" "$sysroot/boot"
cp -a "$root/." "$deployment/"
rm -rf "$deployment/var/"*  # the stateroot var is mounted there
ln -s sysroot/ostree "$deployment/ostree"
ln -s boot.1.1 "$sysroot/ostree/boot.1"
ln -s "../../../deploy/$os/deploy/$checksum.0" "$sysroot/ostree/boot.1.1/$os/$bootcsum/0"
rm -f "$work/root.img"
mkfs.ext4 -q -L root -E root_owner=0:0 -d "$sysroot" "$work/root.img" 256M
echo "root image: $(elapsed "$start") s"

# 5. An Ignition config writing a file in /etc, one in /var, and two tests for the tiny init.
base64_data() { printf '%s' "$1" | base64 -w0; }
hello_test=$'#!/usr/bin/sh\ngrep -qx "hello from ignition" /etc/hello && echo "found /etc/hello"\n'
var_test=$'#!/usr/bin/sh\ntest -f /var/lib/fcos-cdk-hello && ! touch /usr/.probe 2>/dev/null && echo "var written, usr read-only"\n'
cat >"$work/config.ign" <<EOF
{
  "ignition": { "version": "3.3.0" },
  "storage": {
    "files": [
      { "path": "/etc/hello", "mode": 420, "contents": { "source": "data:,hello%20from%20ignition%0A" } },
      { "path": "/var/lib/fcos-cdk-hello", "mode": 420, "contents": { "source": "data:,x" } },
      { "path": "/etc/fcos-cdk/tests/hello/test", "mode": 493,
        "contents": { "source": "data:;base64,$(base64_data "$hello_test")" } },
      { "path": "/etc/fcos-cdk/tests/var/test", "mode": 493,
        "contents": { "source": "data:;base64,$(base64_data "$var_test")" } }
    ]
  }
}
EOF
ignition-validate "$work/config.ign"

# 6. Boot.
case ${DISK_INTERFACE:-virtio} in
  virtio) disk=(-drive "if=virtio,file=$work/root.img,format=raw") ;;
  ahci) disk=(-drive "if=none,id=root,file=$work/root.img,format=raw" -device ahci,id=sata -device ide-hd,drive=root,bus=sata.0) ;;
  *) echo "DISK_INTERFACE: virtio or ahci" >&2; exit 2 ;;
esac
start=$(date +%s.%N)
kernel_arguments="console=ttyS0 root=LABEL=root rw ostree=/ostree/boot.1/$os/$bootcsum/0 ignition.firstboot ignition.platform.id=qemu"
timeout 120 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -machine q35 -nographic -no-reboot \
  -kernel "/boot/vmlinuz-$kver" -initrd "$work/initramfs.img" -append "$kernel_arguments" \
  "${disk[@]}" -fw_cfg "name=opt/com.coreos/config,file=$work/config.ign" </dev/null | tee "$work/console.log" || true
echo "boot: $(elapsed "$start") s"
grep -q '^FCOS-CDK: done' "$work/console.log" && grep -q '^FCOS-CDK: tests total=2 failed=0' "$work/console.log"
