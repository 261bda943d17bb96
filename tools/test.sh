#!/usr/bin/env bash
# The whole test suite: every test, then every test again under
# AddressSanitizer + UndefinedBehaviorSanitizer. Lists the test cases that
# were skipped (by name and reason), then prints one closing line
#   N passed, N failed, N skipped
# where "passed" and "failed" count test targets, summed over both passes
# (failed includes timeouts and targets that did not build), and "skipped"
# counts test cases (GTEST_SKIP or DISABLED_, from each target's test.xml,
# tools/test_skips.py) over both passes: a target whose cases all skip is
# PASSED for Bazel but shows here. Exits non-zero on any failure; skips do not
# change the exit code.
# Between the passes, the -c opt build install.sh and bench/ use must succeed.
# Usage: tools/test.sh [--fast]   (--fast: skip the sanitizer pass)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/tools/deps.sh" || exit 1

passed=0
failed=0
skipped=0
skips=$(mktemp /tmp/ak-test-skips.XXXXXX)
rc=0
run() {
        local label=$1
        shift
        local log
        log=$(mktemp /tmp/ak-test.XXXXXX)
        echo "== $label: bazel test $*" >&2
        bazel test --noshow_progress --keep_going "$@" //... 2>&1 | tee "$log" | grep -E '^//|FAILED|ERROR' >&2
        local status=${PIPESTATUS[0]}
        local p f
        p=$(grep -cE '^//.*(PASSED|\(cached\) PASSED)' "$log")
        f=$(grep -cE '^//.*(FAILED|TIMEOUT|NO STATUS|INCOMPLETE)' "$log")
        passed=$((passed + p))
        failed=$((failed + f))
        # Skipped cases, from the XML of this configuration's test logs.
        local testlogs tag="${*:-default}"
        testlogs=$(bazel info --noshow_progress "$@" bazel-testlogs 2>/dev/null)
        grep -oE '^//[^ ]+ +(\(cached\) )?(PASSED|FAILED|TIMEOUT|FLAKY)' "$log" | awk '{print $1}' |
                python3 "$root/tools/test_skips.py" "$testlogs" | sed "s|^|  [$tag] |" >>"$skips"
        skipped=$(grep -c . "$skips")
        if [ "$status" -ne 0 ]; then
                rc=1
                [ "$f" -eq 0 ] && failed=$((failed + 1)) && tail -n 40 "$log" >&2
        fi
        rm -f "$log"
}

run "tests"
# tools/install.sh and bench/ build with -c opt, where gcc -O2 warns (and
# -Werror fails) on what fastbuild does not see: build what they ship.
echo "== optimised build: bazel build -c opt //cli:ak //cli:man //bench/..." >&2
optlog=$(mktemp /tmp/ak-test-opt.XXXXXX)
if ! bazel build --noshow_progress -c opt //cli:ak //cli:man //bench/... >"$optlog" 2>&1; then
        grep -E 'error|ERROR' "$optlog" | head -n 40 >&2
        failed=$((failed + 1))
        rc=1
fi
rm -f "$optlog"
if [ "${1:-}" != "--fast" ]; then
        run "tests under ASan+UBSan" --config=asan
fi
if [ "$skipped" -gt 0 ]; then
        echo "skipped test cases:"
        cat "$skips"
fi
rm -f "$skips"
echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
