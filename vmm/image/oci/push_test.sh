#!/bin/sh
# Runs push_test.py from the runfiles root, where cli/ak is.
set -eu
cd "${TEST_SRCDIR:-$(dirname "$0")/../../..}/${TEST_WORKSPACE:-ak}" 2>/dev/null || cd "$(dirname "$0")/../../.."
exec /usr/bin/python3 vmm/image/oci/push_test.py -v
