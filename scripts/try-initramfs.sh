#!/usr/bin/env bash
# Exploratory check of the tiny OS's packages without the rest of the pipeline: builds the RPMs
# from packages/ with the LocalPackageRepo runner, installs manifests/local.yaml's packages with dnf
# into a root, runs tiny-dracut from it, turns a copy of the root into the compose's ostree layout
# (lib/rootfs.ts: /etc in /usr/etc, /var as tmpfiles.d entries, /home a link to var/home), lays out
# a fake ostree sysroot (that tree as the deployment with its /etc copied from /usr/etc as
# `ostree admin deploy` does, an empty stateroot var, the boot.N link chain) in an ext4 image
# labelled `root`, and boots the host kernel with that initramfs under QEMU (TCG; KVM hangs on this
# host) with an Ignition config in fw_cfg that writes files and creates a user and a group. Prints
# the serial console and exits 0 if the tiny init reported `FCOS-CDK: done` with every test passing.
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
# with dnf, its initramfs from tiny-dracut, and a copy of the root in the ostree layout: the same
# code the pipeline runs.
rm -rf "$work/build" "$work/dnf" "$work/root" "$work/tree"
mkdir -p "$work/build"
WORK=$work KVER=$kver EPOCH=$epoch npx tsx --input-type=module -e "
  const { readFile } = await import('node:fs/promises');
  const { parse } = await import('yaml');
  const { runTool } = await import('$project/lib/exec.ts');
  const { localPackageRepoRunner } = await import('$project/stages/local-package-repo.ts');
  const { installPackages } = await import('$project/lib/tools/dnf.ts');
  const { buildInitramfs } = await import('$project/lib/tools/tiny-dracut.ts');
  const { convertToOstreeLayout } = await import('$project/lib/rootfs.ts');
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
  const treefile = parse(await readFile('$project/manifests/local.yaml', 'utf8'));
  await installPackages(exec, {
    installRoot: WORK + '/root', stateDir: WORK + '/dnf', releaseVersion: String(treefile.releasever),
    sourceDateEpoch: epoch, repositories: [{ name: 'local', directory: outputs.repo.path }],
    packages: treefile.packages,
  });
  console.log('dnf install (' + treefile.packages.join(' ') + '): ' + seconds(start) + ' s');
  start = performance.now();
  await buildInitramfs(exec, { root: WORK + '/root', kernelVersion: KVER, output: WORK + '/initramfs.img', sourceDateEpoch: epoch });
  console.log('tiny-dracut: ' + seconds(start) + ' s');
  start = performance.now();
  await exec('cp', ['-a', WORK + '/root', WORK + '/tree']);
  await convertToOstreeLayout(WORK + '/tree', (line) => console.log('ostree layout: ' + line));
  console.log('ostree layout: ' + seconds(start) + ' s');
"

# 4. A fake ostree sysroot: /ostree/deploy/OS/{deploy/CHECKSUM.0,var} and the boot.1 link chain.
# The deployment is the ostree-layout tree with /etc copied from /usr/etc (what `ostree admin
# deploy` does on a first deployment); its /var is empty and the stateroot var is mounted there.
start=$(date +%s.%N)
sysroot=$work/sysroot
rm -rf "$sysroot"
deployment=$sysroot/ostree/deploy/$os/deploy/$checksum.0
mkdir -p "$(dirname "$deployment")" "$sysroot/ostree/deploy/$os/var" "$sysroot/ostree/boot.1.1/$os/$bootcsum" "$sysroot/boot"
mv "$work/tree" "$deployment"
mkdir -p "$deployment/etc"
cp -a "$deployment/usr/etc/." "$deployment/etc/"
ln -s boot.1.1 "$sysroot/ostree/boot.1"
ln -s "../../../deploy/$os/deploy/$checksum.0" "$sysroot/ostree/boot.1.1/$os/$bootcsum/0"
rm -f "$work/root.img"
mkfs.ext4 -q -L root -E root_owner=0:0 -d "$sysroot" "$work/root.img" 256M
echo "root image: $(elapsed "$start") s"

# 5. An Ignition config writing a file in /etc, one in /var, a user `core` (uid 1000, in wheel and
# in a new group fcos-cdk, with an SSH key) and three tests for the tiny init.
ssh_key='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOdLANM4E8VV1zyGtOd9SAb4tJzBneClSk2OcOdKpWDR fcos-cdk-test'
base64_data() { printf '%s' "$1" | base64 -w0; }
hello_test=$'#!/usr/bin/sh\ngrep -qx "hello from ignition" /etc/hello && echo "found /etc/hello"\n'
var_test=$'#!/usr/bin/sh\ntest -f /var/lib/fcos-cdk-hello && ! touch /usr/.probe 2>/dev/null && echo "var written, usr read-only"\n'
# Debian's Ignition may write the key to ~/.ssh/authorized_keys.d/ignition (Fedora CoreOS's
# sshd reads that fragment directory) or to ~/.ssh/authorized_keys: either passes, the test says which.
users_test=$(cat <<TEST
#!/usr/bin/sh
# Checks the user and group Ignition created: ids, groups, passwd and shadow entries, the home
# directory and the SSH key.
fail() { echo "\$*"; exit 1; }
id core || fail "no user core"
[ "\$(id -u core)" = 1000 ] || fail "core has uid \$(id -u core), not 1000"
groups=" \$(id -Gn core) "
case \$groups in *" wheel "*) ;; *) fail "core is not in wheel:\$groups" ;; esac
case \$groups in *" fcos-cdk "*) ;; *) fail "core is not in fcos-cdk:\$groups" ;; esac
grep -q '^fcos-cdk:[^:]*:1500:' /etc/group || fail "no group fcos-cdk with gid 1500: \$(grep fcos-cdk /etc/group)"
home=\$(awk -F: '\$1 == "core" { print \$6 }' /etc/passwd)
[ "\$home" = /home/core ] || fail "core's home is '\$home', not /home/core"
[ -d /home/core ] || fail "/home/core does not exist"
echo "home \$home -> \$(readlink -f /home/core), owner \$(stat -c %u:%g /home/core), mode \$(stat -c %a /home/core)"
[ "\$(stat -c %u:%a /home/core)" = 1000:700 ] || fail "/home/core is not core's with mode 0700 (HOME_MODE)"
grep -q '^core:x:1000:1000:' /etc/passwd || fail "core's passwd entry: \$(grep '^core:' /etc/passwd)"
grep -q '^core:\*:' /etc/shadow || fail "core has no locked password in /etc/shadow"
echo "shadow mode \$(stat -c %a /etc/shadow): \$(grep '^core:' /etc/shadow)"
for keys in /home/core/.ssh/authorized_keys.d/ignition /home/core/.ssh/authorized_keys; do
  [ -f "\$keys" ] || continue
  echo "ssh keys in \$keys (owner \$(stat -c %u:%g "\$keys"), mode \$(stat -c %a "\$keys"))"
  grep -qxF '$ssh_key' "\$keys" || fail "\$keys does not hold the key"
  [ "\$(stat -c %u "\$keys")" = 1000 ] || fail "\$keys is not owned by core"
  exit 0
done
fail "no ~core/.ssh/authorized_keys.d/ignition nor ~core/.ssh/authorized_keys: \$(ls -laR /home/core 2>&1)"
TEST
)
cat >"$work/config.ign" <<EOF
{
  "ignition": { "version": "3.3.0" },
  "passwd": {
    "users": [
      { "name": "core", "uid": 1000, "groups": ["wheel", "fcos-cdk"], "sshAuthorizedKeys": ["$ssh_key"] }
    ],
    "groups": [{ "name": "fcos-cdk", "gid": 1500 }]
  },
  "storage": {
    "files": [
      { "path": "/etc/hello", "mode": 420, "contents": { "source": "data:,hello%20from%20ignition%0A" } },
      { "path": "/var/lib/fcos-cdk-hello", "mode": 420, "contents": { "source": "data:,x" } },
      { "path": "/etc/fcos-cdk/tests/hello/test", "mode": 493,
        "contents": { "source": "data:;base64,$(base64_data "$hello_test")" } },
      { "path": "/etc/fcos-cdk/tests/users/test", "mode": 493,
        "contents": { "source": "data:;base64,$(base64_data "$users_test")" } },
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
grep -q '^FCOS-CDK: done' "$work/console.log" && grep -q '^FCOS-CDK: tests total=3 failed=0' "$work/console.log"
