#!/usr/bin/sh
## kola:
##   exclusive: false
##   tags: smoke
##   timeoutMin: 1
##   description: The user and group this test's config.ign asks Ignition for exist with their ids,
##     supplementary groups, passwd, shadow and group entries, home directory and SSH key.
#
# External kola test (was scripts/try-initramfs.sh's user check): Ignition created the group
# fcos-cdk (gid 1500) and the user tester (uid 1001, in wheel and fcos-cdk, with an SSH key) with
# shadow-utils. The user is not core so that this config merges into the shared VM's, which
# creates core. Debian's Ignition may write the key to ~/.ssh/authorized_keys.d/ignition (Fedora
# CoreOS's sshd reads that fragment directory) or to ~/.ssh/authorized_keys: either passes.
set -u
. "$KOLA_EXT_DATA/commonlib.sh"

id tester || fatal "no user tester"
[ "$(id -u tester)" = 1001 ] || fatal "tester has uid $(id -u tester), not 1001"
groups=" $(id -Gn tester) "
case $groups in *" wheel "*) ;; *) fatal "tester is not in wheel:$groups" ;; esac
case $groups in *" fcos-cdk "*) ;; *) fatal "tester is not in fcos-cdk:$groups" ;; esac
grep -q '^fcos-cdk:[^:]*:1500:' /etc/group || fatal "no group fcos-cdk with gid 1500: $(grep fcos-cdk /etc/group)"
grep -q '^wheel:[^:]*:10:.*tester' /etc/group || fatal "tester is not a member of wheel in /etc/group: $(grep '^wheel:' /etc/group)"
home=$(awk -F: '$1 == "tester" { print $6 }' /etc/passwd)
[ "$home" = /home/tester ] || fatal "tester's home is '$home', not /home/tester"
[ -d /home/tester ] || fatal "/home/tester does not exist"
echo "home $home -> $(readlink -f /home/tester), owner $(stat -c %u:%g /home/tester), mode $(stat -c %a /home/tester)"
[ "$(stat -c %u:%a /home/tester)" = 1001:700 ] || fatal "/home/tester is not tester's with mode 0700 (HOME_MODE)"
grep -q '^tester:x:1001:1001:' /etc/passwd || fatal "tester's passwd entry: $(grep '^tester:' /etc/passwd)"
grep -q '^tester:\*:' /etc/shadow || fatal "tester has no locked password in /etc/shadow: $(grep '^tester:' /etc/shadow)"
echo "shadow mode $(stat -c %a /etc/shadow): $(grep '^tester:' /etc/shadow)"
for keys in /home/tester/.ssh/authorized_keys.d/ignition /home/tester/.ssh/authorized_keys; do
  [ -f "$keys" ] || continue
  echo "ssh keys in $keys (owner $(stat -c %u:%g "$keys"), mode $(stat -c %a "$keys"))"
  grep -qxF "$TESTER_SSH_KEY" "$keys" || fatal "$keys does not hold the key"
  [ "$(stat -c %u "$keys")" = 1001 ] || fatal "$keys is not owned by tester"
  echo "user tester and group fcos-cdk as Ignition was asked"
  exit 0
done
fatal "no ~tester/.ssh/authorized_keys.d/ignition nor ~tester/.ssh/authorized_keys: $(ls -laR /home/tester 2>&1)"
