#!/usr/bin/env bash
# The whole test suite: every test, then every test again under
# AddressSanitizer + UndefinedBehaviorSanitizer. Prints one closing line
# "N passed, N failed" and exits non-zero on any failure.
# Usage: tools/test.sh [--fast]   (--fast: skip the sanitizer pass)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/tools/deps.sh" || exit 1

passed=0
failed=0
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
        if [ "$status" -ne 0 ]; then
                rc=1
                [ "$f" -eq 0 ] && failed=$((failed + 1)) && tail -n 40 "$log" >&2
        fi
        rm -f "$log"
}

run "tests"
if [ "${1:-}" != "--fast" ]; then
        run "tests under ASan+UBSan" --config=asan
fi
echo "$passed passed, $failed failed"
exit $rc
