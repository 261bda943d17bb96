#!/bin/sh
# Checks a /metrics text file with two parsers that are not ours:
# Prometheus' own (promtool check metrics: syntax and naming lint) and the
# Python client's. Exit 0: both accept it; 1: one refused it (its words on
# stderr); 77: a parser is missing (the caller skips, naming it).
# Usage: check_exposition.sh FILE
set -u
f=$1
if ! command -v promtool >/dev/null 2>&1; then
        echo "promtool not installed (Debian package prometheus; tools/deps.sh)" >&2
        exit 77
fi
if ! /usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null; then
        echo "python3 prometheus_client not installed (python3-prometheus-client; tools/deps.sh)" >&2
        exit 77
fi
if ! out=$(promtool check metrics <"$f" 2>&1); then
        echo "promtool check metrics refused $f: $out" >&2
        exit 1
fi
if [ -n "$out" ]; then
        echo "promtool check metrics complained about $f: $out" >&2
        exit 1
fi
/usr/bin/python3 - "$f" <<'PY' || exit 1
import sys
from prometheus_client.parser import text_string_to_metric_families
n = 0
for fam in text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read()):
    n += len(fam.samples)
print("prometheus_client parsed", n, "samples")
PY
