#!/bin/sh
# Bazel's entry to manifests_test.py (Debian's python3 with python3-yaml).
exec /usr/bin/python3 k8s/manifests_test.py "$@"
