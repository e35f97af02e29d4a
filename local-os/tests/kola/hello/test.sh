#!/usr/bin/sh
# External kola test: the OS runs from an ostree deployment with /etc writable and /usr read-only.
set -e
test -L /ostree || { echo "/ostree is not the sysroot link"; exit 1; }
echo "hello from $(uname -n)" > /etc/fcos-cdk-hello
grep -q hello /etc/fcos-cdk-hello
if touch /usr/lib/.probe 2>/dev/null; then echo "/usr/lib is writable"; exit 1; fi
echo "ostree layout as expected"
