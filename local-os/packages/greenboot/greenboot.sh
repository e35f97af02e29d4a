#!/usr/bin/sh
# /usr/libexec/greenboot/greenboot: health checks and automatic rollback, greenboot's model on the
# tiny OS (no systemd: tiny-init calls it).
#
#   greenboot check   at boot, with the boot partition mounted on /boot. In order:
#     1. booted into the previous deployment with the boot counter spent (GRUB fell back): the
#        rollback is made permanent (the failed deployment is undeployed, grub.cfg regenerated), and
#        recorded with its reason in /var/lib/greenboot/rollbacks, on the console and in the motd;
#     2. a trial boot of a new deployment (boot_counter set): reports the attempt;
#     3. runs the checks: every executable of /usr/lib/greenboot/check/required.d and
#        /etc/greenboot/check/required.d must pass, those of wanted.d may fail;
#     4. healthy: the counter is cleared and boot_success=1; unhealthy on a trial boot: exit 2 (the
#        caller reboots, GRUB spends another attempt or falls back); unhealthy otherwise: reported.
#   greenboot trial   before rebooting into a newly finalized deployment: boot_counter is set to
#                     GREENBOOT_MAX_BOOT_ATTEMPTS (/etc/greenboot/greenboot.conf, default 3) and
#                     boot_success=0 in grub2/grubenv, which the generated grub.cfg counts down.
#
# Console lines (`FCOS-CDK: ` protocol, local-os/packages/README.md):
#   boot-attempt K of MAX | health check NAME pass|fail required|wanted | health result=healthy|unhealthy
#   rollback from=VERSION checksum=CHECKSUM reason=TEXT
# Exit codes of `check`: 0 carry on, 2 reboot (unhealthy trial boot), 1 greenboot itself failed.

set -u
export PATH=/usr/sbin:/usr/bin

BOOT=/boot
GRUBENV=$BOOT/grub2/grubenv
STATE=/var/lib/greenboot
RUNTIME=/run/greenboot
CHECK_DIRECTORIES='/usr/lib/greenboot/check /etc/greenboot/check'
# Seconds one check may run.
CHECK_TIMEOUT=120
# Highest counter grub.cfg can count down (lib/disk/grub-config.ts MAX_BOOT_COUNTER).
MAX_BOOT_COUNTER=9
GRUB_CONFIG=/usr/libexec/ostree-grub2/grub-config

# Prints one protocol line.
report() {
  echo "FCOS-CDK: $*"
}

# The configured number of boot attempts of a new deployment, within 1..MAX_BOOT_COUNTER.
max_boot_attempts() {
  attempts=3
  if [ -f /etc/greenboot/greenboot.conf ]; then
    configured=$(sed -n 's/^[[:space:]]*GREENBOOT_MAX_BOOT_ATTEMPTS=["]*\([0-9][0-9]*\)["]*[[:space:]]*$/\1/p' \
      /etc/greenboot/greenboot.conf | tail -n 1)
    [ -n "$configured" ] && attempts=$configured
  fi
  [ "$attempts" -lt 1 ] && attempts=1
  [ "$attempts" -gt "$MAX_BOOT_COUNTER" ] && attempts=$MAX_BOOT_COUNTER
  echo "$attempts"
}

# Value of variable $1 in grubenv (empty if unset or no grubenv).
env_get() {
  [ -f "$GRUBENV" ] || return 0
  sed -n "s/^$1=//p" "$GRUBENV" | head -n 1
}

# Rewrites grubenv with the variables of lines `NAME=VALUE` on stdin: GRUB's 1024-byte environment
# block, padded with '#', as grub-editenv writes it (GRUB's save_env rewrites it in place).
env_write() {
  body="# GRUB Environment Block
$(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' || true)"
  length=$(printf '%s\n' "$body" | wc -c)
  [ "$length" -le 1024 ] || { echo "greenboot: grubenv would exceed 1024 bytes" >&2; return 1; }
  {
    printf '%s\n' "$body"
    head -c $((1024 - length)) /dev/zero | tr '\0' '#'
  } >"$GRUBENV.new" && mv "$GRUBENV.new" "$GRUBENV" && sync
}

# Sets grubenv variables from `NAME=VALUE` arguments and unsets `-NAME` ones, keeping the rest.
env_set() {
  current=''
  [ -f "$GRUBENV" ] && current=$(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$GRUBENV")
  for change in "$@"; do
    name=${change#-}
    name=${name%%=*}
    current=$(printf '%s\n' "$current" | grep -v "^$name=")
    case $change in
      -*) ;;
      *) current="$current
$change" ;;
    esac
  done
  printf '%s\n' "$current" | env_write
}

# The deployments in boot order, one `INDEX BOOTED CHECKSUM VERSION` line each (BOOTED is * or -;
# a staged deployment is left out: it is not in the boot loader yet).
deployments() {
  ostree admin status 2>/dev/null | awk '
    function flush() { if (checksum != "") print index_ " " booted " " checksum " " (version == "" ? "unknown" : version); checksum = "" }
    /^[* ] [^ ]+ [0-9a-f]+\.[0-9]+/ {
      flush()
      if ($0 ~ /\(staged\)/) next
      booted = (substr($0, 1, 1) == "*") ? "*" : "-"
      split(substr($0, 3), field, " ")
      checksum = field[2]; sub(/\.[0-9]+$/, "", checksum)
      version = ""; index_ = count++
      next
    }
    checksum != "" && $1 == "Version:" { version = $2 }
    END { flush() }'
}

# Runs the checks of kind $1 (required or wanted); prints the names of those that failed.
run_checks() {
  mkdir -p "$RUNTIME/logs"
  for directory in $CHECK_DIRECTORIES; do
    for check in "$directory/$1.d"/*; do
      [ -f "$check" ] && [ -x "$check" ] || continue
      name=${check##*/}
      log=$RUNTIME/logs/$1-$name.log
      timeout "$CHECK_TIMEOUT" "$check" >"$log" 2>&1 </dev/null
      status=$?
      sed "s/^/  greenboot $name| /" "$log" >&2
      if [ "$status" -eq 0 ]; then
        report "health check $name pass $1" >&2
      else
        report "health check $name fail $1" >&2
        last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
        echo "$name (exit $status${last:+: $last})"
      fi
    done
  done
}

# Makes a fallback boot permanent: undeploys the failed default deployment, regenerates grub.cfg,
# clears the counter and records the rollback.
make_rollback_permanent() {
  failed=$(deployments | awk '$1 == 0')
  failed_checksum=$(echo "$failed" | cut -d' ' -f3)
  failed_version=$(echo "$failed" | cut -d' ' -f4)
  reason="boot attempts exhausted"
  [ -s "$STATE/trial-failure" ] && reason="required health check failed: $(tr '\n' ';' <"$STATE/trial-failure" | sed 's/;$//; s/;/; /g')"
  ostree admin undeploy 0 >"$RUNTIME/undeploy.log" 2>&1 || {
    report "health rollback failed: ostree admin undeploy 0: $(tail -n 1 "$RUNTIME/undeploy.log")"
    return 1
  }
  "$GRUB_CONFIG" "$BOOT" || { report "health rollback failed: grub.cfg not regenerated"; return 1; }
  env_set -boot_counter boot_success=1
  mkdir -p "$STATE"
  printf '%s %s %s %s\n' "$(date +%s)" "$failed_checksum" "$failed_version" "$reason" >>"$STATE/rollbacks"
  rm -f "$STATE/trial-failure"
  mkdir -p /run/motd.d
  echo "greenboot: rolled back from $failed_version ($failed_checksum): $reason" >/run/motd.d/40-greenboot-rollback.motd
  report "rollback from=$failed_version checksum=$failed_checksum reason=$reason"
}

# `greenboot check`: see the header.
check() {
  mkdir -p "$RUNTIME" "$STATE"
  counter=$(env_get boot_counter)
  trial=no
  if [ -n "$counter" ]; then
    booted_index=$(deployments | awk '$2 == "*" { print $1 }')
    if [ "${booted_index:-0}" != 0 ]; then
      make_rollback_permanent
    else
      trial=yes
      max=$(max_boot_attempts)
      report "boot-attempt $((max - counter)) of $max"
    fi
  fi
  failed_required=$(run_checks required)
  run_checks wanted >/dev/null
  if [ -z "$failed_required" ]; then
    report "health result=healthy"
    echo healthy >"$RUNTIME/status"
    [ -n "$(env_get boot_counter)" ] && env_set -boot_counter boot_success=1
    rm -f "$STATE/trial-failure"
    return 0
  fi
  report "health result=unhealthy"
  echo unhealthy >"$RUNTIME/status"
  mkdir -p /run/motd.d
  echo "greenboot: this boot is unhealthy: $failed_required" >/run/motd.d/40-greenboot-status.motd
  if [ "$trial" = yes ]; then
    echo "$failed_required" >"$STATE/trial-failure"
    sync
    return 2
  fi
  return 0
}

# `greenboot trial`: see the header.
trial() {
  mkdir -p "$BOOT/grub2"
  env_set "boot_counter=$(max_boot_attempts)" boot_success=0
}

case ${1:-} in
  check) check ;;
  trial) trial ;;
  *)
    echo "usage: greenboot check|trial" >&2
    exit 1
    ;;
esac
