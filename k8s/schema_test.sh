#!/bin/sh
# Bazel's entry to schema_test.py (python3-yaml; node with npm kubernetes-models).
exec /usr/bin/python3 k8s/schema_test.py "$@"
