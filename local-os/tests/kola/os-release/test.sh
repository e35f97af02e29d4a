#!/usr/bin/sh
# External kola test: os-release says this is a CoreOS variant with the composed version.
set -e
. /usr/lib/os-release
test "$VARIANT_ID" = coreos || { echo "VARIANT_ID is '$VARIANT_ID'"; exit 1; }
test -n "$OSTREE_VERSION" || { echo "OSTREE_VERSION is not set"; exit 1; }
echo "os-release: $ID $VERSION_ID variant $VARIANT_ID, ostree version $OSTREE_VERSION"
