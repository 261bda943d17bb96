#!/usr/bin/env bash
# bazel run //bench/cli:start -- [--iterations N]
# What `ak version` costs three ways, interleaved in each round so machine
# noise hits all alike: the binary installed by tools/install_tree.sh (the
# floor), ./ak when nothing changed (its fast path: a find over the checkout
# against its build stamp, no Bazel), and ./ak asking Bazel (AK_REBUILD=1: an
# up-to-date `bazel build //cli:ak`, what every ./ak call cost before).
set -euo pipefail
n=20
while [ $# -gt 0 ]; do
        case $1 in
        --iterations) n=$2; shift 2 ;;
        *) echo "usage: start [--iterations N]" >&2; exit 2 ;;
        esac
done
ws=${BUILD_WORKSPACE_DIRECTORY:?run me with bazel run}
tmp=$(mktemp -d /tmp/akbench-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$ws/tools/install_tree.sh" "$ws/bazel-bin" "$tmp/p" 2>/dev/null
# Make sure the fast path has a stamp to find.
"$ws/ak" version >/dev/null

ms() { # ms CMD...: wall milliseconds of one run
        local s e
        s=$(date +%s%N)
        "$@" >/dev/null 2>&1
        e=$(date +%s%N)
        echo $(((e - s) / 1000000))
}
: >"$tmp/inst" ; : >"$tmp/fast" ; : >"$tmp/bazel"
for ((i = 0; i < n; i++)); do
        ms "$tmp/p/bin/ak" version >>"$tmp/inst"
        ms "$ws/ak" version >>"$tmp/fast"
        ms env AK_REBUILD=1 "$ws/ak" version >>"$tmp/bazel"
done
stat() { sort -n "$1" | awk '{a[NR]=$1; s+=$1} END {printf "p50 %5d ms  p90 %5d ms  mean %7.1f ms  (n=%d)\n", a[int((NR+1)/2)], a[int(NR*0.9+0.5)], s/NR, NR}'; }
echo "ak version, $n rounds (interleaved):"
printf '  installed binary (baseline)  '; stat "$tmp/inst"
printf '  ./ak, nothing changed        '; stat "$tmp/fast"
printf '  ./ak asking Bazel            '; stat "$tmp/bazel"
