# Helpers sourced by the tests beside this data/ directory (as fedora-coreos-config's
# tests/kola/data/commonlib.sh is), reached through $KOLA_EXT_DATA.

# Prints its arguments and fails the test.
fatal() {
  echo "$@"
  exit 1
}

# The SSH key this test's config.ign gives the user tester.
TESTER_SSH_KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOdLANM4E8VV1zyGtOd9SAb4tJzBneClSk2OcOdKpWDR fcos-cdk-test'
