#!/bin/sh
# Runs interop_test.py with Debian's Python (python3-grpcio, python3-cryptography).
set -eu
cd "$(dirname "$0")"
exec /usr/bin/python3 interop_test.py -v
