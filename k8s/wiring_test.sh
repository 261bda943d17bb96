#!/bin/sh
# Bazel's entry to wiring_test.py (Debian's python3 with python3-yaml).
exec /usr/bin/python3 k8s/wiring_test.py "$@"
