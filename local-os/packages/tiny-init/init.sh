#!/usr/bin/sh
# PID 1 of the local tiny OS (/usr/lib/tiny-init/init, linked from /usr/sbin/init). It reports on
# the console in a line protocol that tests read from the serial log, runs the tests Ignition wrote,
# and powers the machine off. Every line of the protocol starts with `FCOS-CDK: `:
#
#   FCOS-CDK: booted deployment=<stateroot>/<checksum>.<serial> platform=<ignition.platform.id>
#   FCOS-CDK: kernel <release>
#   FCOS-CDK: os id=<ID> variant=<VARIANT_ID> version_id=<VERSION_ID> ostree_version=<OSTREE_VERSION>
#   FCOS-CDK: usr-readonly yes|no
#   FCOS-CDK: ignition result=present|absent          (/etc/.ignition-result.json)
#   FCOS-CDK: user <name> uid=<uid> home=<home>       (each /etc/passwd user with uid >= 1000 but nobody)
#   FCOS-CDK: test <name> pass
#   FCOS-CDK: test <name> fail <reason>
#   FCOS-CDK: tests total=<n> failed=<n>
#   FCOS-CDK: done
#
# With the update packages installed (greenboot, update-agent, ostree, ostree-grub2), each boot also:
#   - mounts the partition labelled `boot` on /boot and, when there is a NIC, configures it by DHCP;
#   - runs greenboot's checks before anything else (`greenboot check`: a fallback boot makes the
#     rollback permanent; an unhealthy trial boot of a new deployment reboots at once);
#   - runs the update agent (`update-agent run`), then the tests;
#   - at the end, when the agent staged a deployment and allowed the reboot: finalizes it (the /etc
#     merge happens now, so edits made after staging are kept), regenerates grub.cfg, arms
#     greenboot's boot counter and reboots; a staged deployment whose reboot is not allowed is left
#     unfinalized (ostree's /run/ostree/staged-deployment-locked), as rpm-ostree's --lock-finalization.
#   FCOS-CDK: network <interface> address=<address>|none
#   FCOS-CDK: finalize staged version=<version>
#   FCOS-CDK: reboot reason=update|health-check
# (greenboot and the agent print their own lines: local-os/packages/README.md.)
#
# A live system (booted from the live ISO or PXE: the initramfs left /run/ostree-live, holding the
# deployment's ostree= path) has no boot partition of its own: it mounts none and runs neither
# greenboot nor the update agent, as Fedora CoreOS's live system runs no Zincati. With the kernel
# argument coreos.inst.install_dev= it installs to that disk after the tests (coreos-installer
# install --from-kargs, as coreos-installer.service), then reboots into it unless
# coreos.inst.skip_reboot is given:
#   FCOS-CDK: install complete device=<device>
#   FCOS-CDK: install failed <reason>
#
# Tests: every /etc/fcos-cdk/tests/<name>/test (an executable Ignition can write, mode 0755) runs
# in its own directory with a time limit of 120 s (or the seconds in /etc/fcos-cdk/tests/<name>/timeout);
# exit code 0 is a pass. Its output is shown indented as `  <name>| <line>` and kept in
# /run/fcos-cdk/tests/<name>.log.

export PATH=/usr/sbin:/usr/bin
TESTS_DIR=/etc/fcos-cdk/tests
DEFAULT_TEST_TIMEOUT=120
GREENBOOT=/usr/libexec/greenboot/greenboot
UPDATE_AGENT=/usr/bin/update-agent
GRUB_CONFIG=/usr/libexec/ostree-grub2/grub-config
INSTALLER=/usr/bin/coreos-installer
# The live initramfs's marker (Fedora CoreOS's name), holding the deployment's ostree= path.
LIVE_MARKER=/run/ostree-live

# Prints one protocol line.
report() {
  echo "FCOS-CDK: $*"
}

# Whether a file system is mounted on $1.
is_mounted() {
  grep -q "^[^ ]* $1 " /proc/mounts 2>/dev/null
}

# Mounts the API file systems the initramfs did not hand over.
mount_api_filesystems() {
  [ -e /proc/self ] || mount -t proc -o nosuid,nodev,noexec proc /proc
  is_mounted /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
  is_mounted /dev || mount -t devtmpfs -o mode=0755,nosuid devtmpfs /dev
  is_mounted /run || mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
  is_mounted /tmp || mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
}

# Value of kernel argument $1 (`name=value`), empty if absent.
kernel_argument() {
  set -f
  set -- "$1" $(cat /proc/cmdline)
  set +f
  name=$1
  shift
  for argument in "$@"; do
    case $argument in
      "$name="*) echo "${argument#"$name"=}" ;;
    esac
  done
}

# `<stateroot>/<checksum>.<serial>` of the booted deployment, from the ostree= argument.
booted_deployment() {
  ostree_path=$(kernel_argument ostree)
  [ -n "$ostree_path" ] || ostree_path=$(cat "$LIVE_MARKER" 2>/dev/null)
  [ -n "$ostree_path" ] || { echo none; return; }
  resolved=$(readlink -f "/sysroot$ostree_path" 2>/dev/null)
  case $resolved in
    /sysroot/ostree/deploy/*/deploy/*)
      stateroot=${resolved#/sysroot/ostree/deploy/}
      echo "${stateroot%%/*}/${resolved##*/}"
      ;;
    *) echo "unresolved:$ostree_path" ;;
  esac
}

# Value of key $1 in /etc/os-release, without quotes; $2 if it is absent or empty.
os_release_value() {
  value=$(sed -n "s/^$1=//p" /etc/os-release 2>/dev/null | head -n 1 | tr -d "\"'" | tr ' ' '_')
  echo "${value:-$2}"
}

# yes if /usr cannot be written to, no otherwise.
usr_readonly() {
  probe=/usr/.fcos-cdk-write-probe
  if touch "$probe" 2>/dev/null; then
    rm -f "$probe"
    echo no
  else
    echo yes
  fi
}

# Runs one test directory $1, reporting pass or fail; returns 1 on failure.
run_test() {
  name=$(basename "$1")
  executable=$1/test
  log=/run/fcos-cdk/tests/$name.log
  if [ ! -x "$executable" ]; then
    report "test $name fail $executable is not executable"
    return 1
  fi
  limit=$DEFAULT_TEST_TIMEOUT
  if [ -f "$1/timeout" ]; then limit=$(cat "$1/timeout"); fi
  (cd "$1" && timeout "$limit" "$executable") >"$log" 2>&1 </dev/null
  status=$?
  sed "s/^/  $name| /" "$log"
  if [ "$status" -eq 0 ]; then
    report "test $name pass"
    return 0
  fi
  if [ "$status" -eq 143 ] || [ "$status" -eq 137 ]; then
    report "test $name fail timed out after $limit s"
  else
    last_line=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
    report "test $name fail exit $status${last_line:+: $last_line}"
  fi
  return 1
}

# Runs every test under $TESTS_DIR in name order and reports the totals.
run_tests() {
  mkdir -p /run/fcos-cdk/tests
  total=0
  failed=0
  for directory in "$TESTS_DIR"/*; do
    [ -d "$directory" ] || continue
    total=$((total + 1))
    run_test "$directory" || failed=$((failed + 1))
  done
  report "tests total=$total failed=$failed"
}

# Reports the regular users of /etc/passwd (uid 1000 and up, not nobody's 65534), in file order.
report_users() {
  [ -f /etc/passwd ] || return 0
  awk -F: '$3 ~ /^[0-9]+$/ && $3 >= 1000 && $3 != 65534 { print "FCOS-CDK: user " $1 " uid=" $3 " home=" $6 }' \
    /etc/passwd
}

# Mounts the partition labelled `boot` on /boot (read-write: ostree writes its BLS entries there);
# a live system has none of its own (a `boot` partition would be a disk it may install to).
mount_boot() {
  [ -e "$LIVE_MARKER" ] && return 0
  device=$(findfs LABEL=boot 2>/dev/null) || return 0
  is_mounted /boot && return 0
  [ -d /boot ] || mkdir -p /boot 2>/dev/null || return 0
  mount -o rw "$device" /boot || report "boot partition $device not mounted on /boot"
}

# Configures the first Ethernet interface by DHCP (QEMU's user network: the host is 10.0.2.2).
bring_up_network() {
  modprobe virtio_net 2>/dev/null
  modprobe af_packet 2>/dev/null
  ip link set lo up 2>/dev/null
  interface=''
  for candidate in /sys/class/net/*; do
    name=${candidate##*/}
    [ "$name" = lo ] && continue
    interface=$name
    break
  done
  [ -n "$interface" ] || return 0
  ip link set "$interface" up
  if udhcpc -i "$interface" -n -q -t 10 -T 1 -s /usr/lib/tiny-init/udhcpc-script >/run/udhcpc.log 2>&1; then
    address=$(ip -4 -o addr show dev "$interface" | awk '{ print $4 }' | head -n 1)
    report "network $interface address=${address:-none}"
  else
    report "network $interface address=none (no DHCP answer)"
  fi
}

# Installs to the disk named by coreos.inst.install_dev= (coreos-installer's automated install from
# kernel arguments); returns 1 when there is nothing to install, reboots or powers off otherwise.
install_from_kernel_arguments() {
  device=$(kernel_argument coreos.inst.install_dev)
  # coreos-installer's config files may name the device instead (upstream's service runs for either).
  [ -n "$device" ] || ls /etc/coreos/installer.d/* >/dev/null 2>&1 || return 1
  case $device in
    '' | /dev/*) ;;
    *) device=/dev/$device ;;
  esac
  if [ ! -x "$INSTALLER" ]; then
    report "install failed $INSTALLER is not installed"
    power_off
  fi
  "$INSTALLER" install --from-kargs >/run/coreos-installer.log 2>&1 </dev/null
  status=$?
  sed 's/^/  coreos-installer| /' /run/coreos-installer.log
  if [ "$status" -ne 0 ]; then
    report "install failed exit $status: $(grep -v '^[[:space:]]*$' /run/coreos-installer.log | tail -n 1)"
    power_off
  fi
  report "install complete device=${device:-from /etc/coreos/installer.d}"
  grep -qw coreos.inst.skip_reboot /proc/cmdline && power_off
  reboot_now install
}

# Flushes the disks and leaves /boot and the physical root read-only before the power goes.
settle_disks() {
  sync
  umount /boot 2>/dev/null || mount -o remount,ro /boot 2>/dev/null
  mount -o remount,ro /sysroot 2>/dev/null
  sync
}

# Flushes the disks and powers off, whatever happens.
power_off() {
  settle_disks
  poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 10
}

# Flushes the disks and reboots (QEMU's -no-reboot turns it into an exit), whatever happens.
reboot_now() {
  report "reboot reason=$1"
  settle_disks
  reboot -f
  echo b >/proc/sysrq-trigger
  sleep 10
}

# Finalizes the staged deployment if the agent allowed the reboot; 0 when the machine should reboot.
finalize_staged() {
  [ -e /run/ostree/staged-deployment ] || return 1
  if [ ! -e /run/update-agent/reboot-allowed ]; then
    : >/run/ostree/staged-deployment-locked
    report "update staged, not finalized (reboot not allowed)"
    return 1
  fi
  version=$(cat /run/update-agent/staged-version 2>/dev/null)
  if ! ostree admin finalize-staged >/run/finalize-staged.log 2>&1; then
    report "finalize failed: $(grep -v '^[[:space:]]*$' /run/finalize-staged.log | tail -n 1)"
    return 1
  fi
  "$GRUB_CONFIG" /boot >>/run/finalize-staged.log 2>&1 || {
    report "finalize failed: grub.cfg not regenerated: $(tail -n 1 /run/finalize-staged.log)"
    return 1
  }
  [ -x "$GREENBOOT" ] && "$GREENBOOT" trial
  report "finalize staged version=${version:-unknown}"
  return 0
}

mount_api_filesystems
mount_boot
report "booted deployment=$(booted_deployment) platform=$(kernel_argument ignition.platform.id)"
report "kernel $(uname -r)"
report "os id=$(os_release_value ID none) variant=$(os_release_value VARIANT_ID none)" \
  "version_id=$(os_release_value VERSION_ID none) ostree_version=$(os_release_value OSTREE_VERSION none)"
report "usr-readonly $(usr_readonly)"
if [ -e /etc/.ignition-result.json ]; then
  report "ignition result=present"
else
  report "ignition result=absent"
fi
report_users
bring_up_network
if [ ! -e "$LIVE_MARKER" ] && [ -x "$GREENBOOT" ]; then
  "$GREENBOOT" check
  [ $? -eq 2 ] && reboot_now health-check
fi
[ -e "$LIVE_MARKER" ] || { [ -x "$UPDATE_AGENT" ] && "$UPDATE_AGENT" run; }
run_tests
[ -e "$LIVE_MARKER" ] && install_from_kernel_arguments
finalize_staged && reboot_now update
report done
power_off
