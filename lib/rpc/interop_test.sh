#!/bin/sh
# Runs interop_test.py with Debian's Python (which has python3-grpcio).
set -eu
cd "$(dirname "$0")"
exec /usr/bin/python3 interop_test.py -v
