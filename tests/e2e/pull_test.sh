#!/bin/sh
# Runs pull_test.py from the runfiles root, where cli/ak is.
set -eu
cd "${TEST_SRCDIR:-$(dirname "$0")/../..}/${TEST_WORKSPACE:-ak}" 2>/dev/null || cd "$(dirname "$0")/../.."
exec /usr/bin/python3 tests/e2e/pull_test.py "$@"
