#!/bin/sh
# Bazel's entry to layering_test.py (Debian's python3).
exec /usr/bin/python3 tools/layering_test.py "$@"
