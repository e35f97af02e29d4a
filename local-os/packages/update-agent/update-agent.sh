#!/usr/bin/sh
# /usr/bin/update-agent: the tiny OS's update agent, Zincati's behaviour and configuration shape in a
# busybox shell with curl and jq. tiny-init runs `update-agent run` once per boot, after greenboot's
# checks and before the tests; it never reboots by itself: it leaves /run/update-agent/reboot-allowed
# for tiny-init, which finalizes the staged deployment and reboots at the end of the boot.
#
#   update-agent run     1. reads the configuration (TOML fragments, /usr/lib/update-agent/config.d
#                           then /etc/update-agent/config.d, name order, later wins);
#                        2. finds the booted deployment (checksum; version and stream from its commit's
#                           `version` and `fedora-coreos.stream` metadata);
#                        3. releases its FleetLock slot once a new deployment booted healthy;
#                        4. queries the Cincinnati graph (basearch, stream, os_version, os_checksum,
#                           group, node_uuid, platform, rollout_wariness when configured), finds the
#                           booted node by checksum, and takes the newest target (age_index) among
#                           its edges that is not a downgrade, not of an unknown payload scheme and
#                           not a version greenboot rolled back from (/var/lib/greenboot/rollbacks);
#                           a dead-end booted node gets a login message;
#                        5. pulls the target from the booted origin's remote (GPG-verified as that
#                           remote says) and stages it (`ostree admin deploy --stage`: finalized at
#                           shutdown, so /etc edits made after staging are kept);
#                        6. allows the reboot as the strategy says: immediate; fleet_lock (a slot taken
#                           with POST /v1/pre-reboot, retried; without one the update stays staged and
#                           is not finalized); periodic (inside a maintenance window, UTC).
#   update-agent check --checksum C --version V --stream S [--basearch A] [--platform P] [--node-uuid U]
#                        steps 1 and 4 only, for the given booted identity: prints the decision, and
#                        exits 1 when there was no usable graph. It runs on any host with curl and jq
#                        (the tests run it against fcos-serve).
#   update-agent window  prints `inside` (exit 0) or `outside` (exit 1): whether now is inside one
#                        of the periodic strategy's maintenance windows.
#
# Console lines (`FCOS-CDK: ` protocol, local-os/packages/README.md): agent booted ..., agent
# fleet-lock released|acquired|busy|gave-up ..., agent update none|available|skipped ..., agent
# staged ..., agent dead-end ..., agent error ... (never fatal: the boot carries on).
# Environment (tests): UPDATE_AGENT_CONFIG_DIRS, UPDATE_AGENT_LIBRARY, UPDATE_AGENT_STATE,
# GREENBOOT_ROLLBACKS, UPDATE_AGENT_CLOCK (Unix seconds instead of the clock, for `window`).

set -u
export PATH=/usr/sbin:/usr/bin:/bin

LIBRARY=${UPDATE_AGENT_LIBRARY:-/usr/lib/update-agent}
CONFIG_DIRS=${UPDATE_AGENT_CONFIG_DIRS:-/usr/lib/update-agent/config.d /etc/update-agent/config.d}
STATE=${UPDATE_AGENT_STATE:-/var/lib/update-agent}
ROLLBACKS=${GREENBOOT_ROLLBACKS:-/var/lib/greenboot/rollbacks}
RUNTIME=/run/update-agent
# Seconds any one HTTP request may take.
HTTP_TIMEOUT=30

# Prints one protocol line.
report() {
  echo "FCOS-CDK: agent $*"
}

# Reads the configuration into $CONFIG (`dotted.key=value` lines).
load_config() {
  files=''
  for directory in $CONFIG_DIRS; do
    for file in "$directory"/*.toml; do
      [ -f "$file" ] && files="$files $file"
    done
  done
  # shellcheck disable=SC2086
  CONFIG=$(if [ -n "$files" ]; then awk -f "$LIBRARY/config.awk" $files; fi)
}

# The configured value of dotted key $1, or $2.
setting() {
  value=$(printf '%s\n' "$CONFIG" | sed -n "s/^$(echo "$1" | sed 's/\./\\./g')=//p" | tail -n 1)
  echo "${value:-${2:-}}"
}

# Versions greenboot rolled back from, as a JSON array.
denylist_json() {
  if [ -f "$ROLLBACKS" ]; then
    awk '{ print $3 }' "$ROLLBACKS" | jq -R . | jq -s -c .
  else
    echo '[]'
  fi
}

# Fetches the graph for the booted identity ($booted_*, $basearch, $platform, $node_uuid) into file $1.
fetch_graph() {
  base_url=$(setting cincinnati.base_url)
  [ -n "$base_url" ] || { echo "no cincinnati.base_url configured"; return 1; }
  wariness=$(setting identity.rollout_wariness)
  set -- "$1" --data-urlencode "basearch=$basearch" --data-urlencode "stream=$booted_stream" \
    --data-urlencode "os_version=$booted_version" --data-urlencode "os_checksum=$booted_checksum" \
    --data-urlencode "group=$(setting identity.group default)" --data-urlencode "node_uuid=$node_uuid" \
    --data-urlencode "platform=$platform"
  [ -n "$wariness" ] && set -- "$@" --data-urlencode "rollout_wariness=$wariness"
  output=$1
  shift
  curl --silent --show-error --fail --get --max-time "$HTTP_TIMEOUT" --header 'Accept: application/json' \
    "$@" --output "$output" "${base_url%/}/v1/graph" 2>&1
}

# The decision for graph file $1: lines `deadend REASON`, `skipped VERSION REASON`, then one of
# `target VERSION CHECKSUM`, `none`, `not-in-graph`; or `invalid` for a document that is not a graph.
decide() {
  jq -r --arg booted "$booted_checksum" --argjson denylist "$(denylist_json)" '
    def key($name): "org.fedoraproject.coreos." + $name;
    def age($node): ($node.metadata[key("releases.age_index")] // "-1" | tonumber? // -1);
    if (.nodes | type) != "array" or (.edges | type) != "array" then "invalid"
    else
      .nodes as $nodes
      | ([range(0; $nodes | length) | select($nodes[.].payload == $booted)] | first) as $index
      | if $index == null then "not-in-graph"
        else
          $nodes[$index] as $current
          | (if $current.metadata[key("updates.deadend")] == "true"
             then "deadend \($current.metadata[key("updates.deadend_reason")] // "generic")" else empty end),
            ([.edges[] | select(.[0] == $index) | .[1] | $nodes[.]]
             | map(
                 if (.metadata[key("scheme")] // "") != "checksum" or ((.payload // "") | test("^[0-9a-f]{64}$") | not)
                 then . + {skip: "unknown-payload"}
                 elif age(.) <= age($current) then . + {skip: "downgrade"}
                 elif (.version as $version | $denylist | index($version)) != null then . + {skip: "denylisted"}
                 else . end)
             | (.[] | select(.skip) | "skipped \(.version) \(.skip)"),
               ([.[] | select(.skip | not)] | sort_by(age(.), .version) | last
                | if . == null then "none" else "target \(.version) \(.payload)" end))
        end
    end' "$1"
}

# Queries the graph and reports the decision; sets $target_version and $target_checksum. Returns 1
# when there is no usable graph (reported as an error line).
query_updates() {
  target_version=''
  target_checksum=''
  graph=$(mktemp)
  if ! message=$(fetch_graph "$graph"); then
    report "error graph: $(echo "$message" | tail -n 1)"
    rm -f "$graph"
    return 1
  fi
  decision=$(decide "$graph" 2>&1) || decision=invalid
  rm -f "$graph"
  usable=0
  while read -r verdict first second; do
    case $verdict in
      invalid)
        report "error graph: not a Cincinnati graph"
        usable=1
        ;;
      not-in-graph) report "update none (booted $booted_checksum is not in the graph)" ;;
      none) report "update none" ;;
      skipped) report "update skipped version=$first reason=$second" ;;
      deadend)
        reason="$first${second:+ $second}"
        report "dead-end $reason"
        if [ -w /run ]; then
          mkdir -p /run/motd.d
          echo "This release ($booted_version) is a dead-end and will not auto-update: $reason" \
            >/run/motd.d/85-update-agent-deadend.motd
        fi
        ;;
      target)
        target_version=$first
        target_checksum=$second
        report "update available version=$target_version checksum=$target_checksum"
        ;;
    esac
  done <<DECISION
$decision
DECISION
  return "$usable"
}

# The booted deployment: sets $stateroot, $booted_checksum, $booted_serial, $booted_version, $booted_stream.
find_booted() {
  line=$(ostree admin status 2>/dev/null | sed -n 's/^\* \([^ ]*\) \([0-9a-f]\{64\}\)\.\([0-9]*\).*/\1 \2 \3/p' | head -n 1)
  [ -n "$line" ] || return 1
  set -- $line
  stateroot=$1
  booted_checksum=$2
  booted_serial=$3
  booted_version=$(commit_metadata "$booted_checksum" version)
  booted_stream=$(commit_metadata "$booted_checksum" fedora-coreos.stream)
}

# String metadata $2 of commit $1 in the system repository (empty if absent).
commit_metadata() {
  ostree show --repo=/ostree/repo --print-metadata-key="$2" "$1" 2>/dev/null | sed "s/^'\(.*\)'$/\1/"
}

# Node id sent to the graph and FleetLock: 32 hex digits, made once and kept in /var.
load_node_uuid() {
  if [ ! -s "$STATE/node-uuid" ]; then
    mkdir -p "$STATE"
    tr -d '-' </proc/sys/kernel/random/uuid >"$STATE/node-uuid"
  fi
  node_uuid=$(cat "$STATE/node-uuid")
}

# POSTs a FleetLock request to path $1 (pre-reboot or steady-state) for group $2; 0 when granted.
fleet_lock() {
  base_url=$(setting updates.fleet_lock.base_url)
  [ -n "$base_url" ] || { echo "no updates.fleet_lock.base_url configured"; return 1; }
  body=$(jq -n -c --arg id "$node_uuid" --arg group "$2" '{client_params: {id: $id, group: $group}}')
  curl --silent --show-error --fail --max-time "$HTTP_TIMEOUT" --request POST \
    --header 'fleet-lock-protocol: true' --header 'Content-Type: application/json' \
    --data "$body" --output /dev/null "${base_url%/}/v1/$1" 2>&1
}

# Releases the slot taken before rebooting into this deployment, once it booted healthy.
release_fleet_lock() {
  [ -f "$STATE/fleet-lock-held" ] || return 0
  [ "$(cat /run/greenboot/status 2>/dev/null)" = healthy ] || return 0
  group=$(cat "$STATE/fleet-lock-held")
  if message=$(fleet_lock steady-state "$group"); then
    rm -f "$STATE/fleet-lock-held"
    report "fleet-lock released group=$group"
  else
    report "error fleet-lock steady-state: $(echo "$message" | tail -n 1)"
  fi
}

# Takes a reboot slot, retrying; 0 when held.
acquire_fleet_lock() {
  group=$(setting identity.group default)
  attempts=$(setting updates.fleet_lock.attempts 6)
  pause=$(setting updates.fleet_lock.retry_seconds 10)
  attempt=1
  while :; do
    if message=$(fleet_lock pre-reboot "$group"); then
      echo "$group" >"$STATE/fleet-lock-held"
      sync
      report "fleet-lock acquired group=$group"
      return 0
    fi
    report "fleet-lock busy group=$group attempt=$attempt ($(echo "$message" | tail -n 1))"
    [ "$attempt" -ge "$attempts" ] && break
    attempt=$((attempt + 1))
    sleep "$pause"
  done
  report "fleet-lock gave-up group=$group"
  return 1
}

# 0 when now (UTC) is inside a configured maintenance window (updates.periodic.window.N.*).
in_maintenance_window() {
  now=${UPDATE_AGENT_CLOCK:-$(date -u +%s)}
  today=$(date -u -d "@$now" +%a)
  now_minutes=$(( $(date -u -d "@$now" +%H | sed 's/^0//') * 60 + $(date -u -d "@$now" +%M | sed 's/^0//') ))
  index=0
  while [ -n "$(setting "updates.periodic.window.$index.start_time")" ]; do
    days=$(setting "updates.periodic.window.$index.days")
    start=$(setting "updates.periodic.window.$index.start_time")
    length=$(setting "updates.periodic.window.$index.length_minutes" 60)
    start_minutes=$(( $(echo "${start%%:*}" | sed 's/^0//') * 60 + $(echo "${start##*:}" | sed 's/^0//') ))
    case ",$days," in
      *",$today,"*)
        if [ "$now_minutes" -ge "$start_minutes" ] && [ "$now_minutes" -lt $((start_minutes + length)) ]; then
          return 0
        fi
        ;;
    esac
    index=$((index + 1))
  done
  return 1
}

# Pulls and stages the target; 0 when staged.
stage_target() {
  origin=/ostree/deploy/$stateroot/deploy/$booted_checksum.$booted_serial.origin
  refspec=$(sed -n 's/^refspec=//p' "$origin" 2>/dev/null | head -n 1)
  [ -n "$refspec" ] || { report "error no refspec in $origin"; return 1; }
  case $refspec in
    *:*) remote=${refspec%%:*} ref=${refspec#*:} ;;
    *) remote=fedora ref=$refspec ;;
  esac
  mkdir -p "$RUNTIME"
  if ! ostree pull --repo=/ostree/repo "$remote" "$ref@$target_checksum" >"$RUNTIME/pull.log" 2>&1; then
    report "error pull $remote:$ref@$target_checksum: $(grep -v '^[[:space:]]*$' "$RUNTIME/pull.log" | tail -n 1)"
    return 1
  fi
  pulled_version=$(commit_metadata "$target_checksum" version)
  if [ "$pulled_version" != "$target_version" ]; then
    report "error pulled commit $target_checksum is version '$pulled_version', the graph said $target_version"
    return 1
  fi
  if ! ostree admin deploy --stage --os="$stateroot" "$remote:$ref" >"$RUNTIME/deploy.log" 2>&1; then
    report "error stage: $(grep -v '^[[:space:]]*$' "$RUNTIME/deploy.log" | tail -n 1)"
    return 1
  fi
  echo "$target_version" >"$RUNTIME/staged-version"
  report "staged version=$target_version checksum=$target_checksum"
}

# Allows the reboot into the staged deployment if the strategy does.
allow_reboot() {
  strategy=$(setting updates.strategy immediate)
  case $strategy in
    immediate) ;;
    fleet_lock) acquire_fleet_lock || return 0 ;;
    periodic)
      if ! in_maintenance_window; then
        report "reboot waiting for a maintenance window"
        return 0
      fi
      ;;
    *)
      report "error unknown updates.strategy '$strategy'"
      return 0
      ;;
  esac
  : >"$RUNTIME/reboot-allowed"
}

# `update-agent run`: see the header.
run() {
  load_config
  if [ "$(setting updates.enabled true)" != true ]; then
    report "disabled"
    return 0
  fi
  find_booted || { report "error cannot find the booted deployment (ostree admin status)"; return 0; }
  [ -n "$booted_stream" ] || { report "error the booted commit has no fedora-coreos.stream"; return 0; }
  report "booted version=$booted_version checksum=$booted_checksum stream=$booted_stream"
  load_node_uuid
  basearch=$(uname -m)
  platform=$(sed -n 's/.*ignition\.platform\.id=\([^ ]*\).*/\1/p' /proc/cmdline)
  release_fleet_lock
  query_updates || return 0
  [ -n "$target_checksum" ] || return 0
  stage_target || return 0
  allow_reboot
}

# `update-agent check`: see the header.
check() {
  booted_checksum='' booted_version='' booted_stream='' basearch=$(uname -m) platform=qemu node_uuid=''
  while [ $# -gt 0 ]; do
    case $1 in
      --checksum) booted_checksum=$2 ;;
      --version) booted_version=$2 ;;
      --stream) booted_stream=$2 ;;
      --basearch) basearch=$2 ;;
      --platform) platform=$2 ;;
      --node-uuid) node_uuid=$2 ;;
      *) echo "update-agent: unknown option $1" >&2; exit 1 ;;
    esac
    shift 2
  done
  [ -n "$booted_checksum" ] && [ -n "$booted_stream" ] || { echo "update-agent check needs --checksum and --stream" >&2; exit 1; }
  [ -n "$node_uuid" ] || node_uuid=00000000000000000000000000000000
  load_config
  query_updates
}

# `update-agent window`: see the header.
window() {
  load_config
  if in_maintenance_window; then
    echo inside
  else
    echo outside
    return 1
  fi
}

case ${1:-} in
  run) run ;;
  check) shift; check "$@" ;;
  window) window ;;
  *)
    echo "usage: update-agent run | check --checksum C --version V --stream S | window" >&2
    exit 1
    ;;
esac
