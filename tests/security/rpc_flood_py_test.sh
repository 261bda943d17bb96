#!/bin/sh
# Runs rpc_flood_py_test.py with Debian's Python (which has python3-grpcio)
# from the runfiles root, where services/signer/ak-signer is.
set -eu
cd "${TEST_SRCDIR:-$(dirname "$0")/../..}/${TEST_WORKSPACE:-ak}" 2>/dev/null || cd "$(dirname "$0")/../.."
exec /usr/bin/python3 tests/security/rpc_flood_py_test.py -v
