# The e2e tests' common start, sourced by tests/e2e/*_test.sh (a data dep of
# each in BUILD) right after `set -uo pipefail`:
#
#   . "$(dirname "$0")/lib.sh" || exit 1
#   e2e_init HOME_PREFIX TMP_PREFIX
#
# e2e_init sets rf (the runfiles root), ak (the built CLI, or what $ak was
# already set to), home and tmp (fresh short directories under /tmp: Unix
# sockets and the executor's state dir live in $home) and failures=0;
# exports AK_HOME=$home and unsets AK_SCHEDULER and AK_TOKEN, so the test's
# `ak` starts a stack of its own; and on exit stops that stack (`ak down`),
# runs the test's e2e_cleanup_more when it defines one, and removes both
# directories. fail counts a failure and says it; logs prints the tail of
# each service log of the stack.

rf=${TEST_SRCDIR:-}/${TEST_WORKSPACE:-ak}

e2e_init() {
        ak=${ak:-$rf/cli/ak}
        [ -x "$ak" ] || { echo "no ak at $ak"; exit 1; }
        home=$(mktemp -d "/tmp/$1.XXXXXX") || exit 1
        tmp=$(mktemp -d "/tmp/$2.XXXXXX") || exit 1
        export AK_HOME=$home
        unset AK_SCHEDULER AK_TOKEN
        failures=0
        trap e2e_cleanup EXIT
}

e2e_cleanup() {
        "$ak" down >/dev/null 2>&1
        if declare -F e2e_cleanup_more >/dev/null; then e2e_cleanup_more; fi
        rm -rf "$home" "$tmp"
}

fail() {
        echo "FAIL: $*"
        failures=$((failures + 1))
}

logs() {
        for f in "$home"/logs/*.log; do
                echo "--- $f"
                tail -n 20 "$f"
        done
}
