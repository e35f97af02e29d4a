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
# Tests: every /etc/fcos-cdk/tests/<name>/test (an executable Ignition can write, mode 0755) runs
# in its own directory with a time limit of 120 s (or the seconds in /etc/fcos-cdk/tests/<name>/timeout);
# exit code 0 is a pass. Its output is shown indented as `  <name>| <line>` and kept in
# /run/fcos-cdk/tests/<name>.log.

export PATH=/usr/sbin:/usr/bin
TESTS_DIR=/etc/fcos-cdk/tests
DEFAULT_TEST_TIMEOUT=120

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

# Flushes the disks and powers off, whatever happens.
power_off() {
  sync
  mount -o remount,ro /sysroot 2>/dev/null
  sync
  poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 10
}

mount_api_filesystems
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
run_tests
report done
power_off
