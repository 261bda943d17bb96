#!/usr/bin/env bash
# ak run -i / ak exec -i end to end through the local stack (ak -> ak-scheduler
# -> ak-executor -> a real microVM's guest agent): 50 MiB of stdin byte for
# byte, an empty stdin, a command that never reads it, stdin closed early by
# the command, and exec -i into a kept sandbox.
set -uo pipefail

rf=${TEST_SRCDIR:-}/${TEST_WORKSPACE:-ak}
ak=$rf/cli/ak
[ -x "$ak" ] || { echo "no ak at $ak"; exit 1; }
home=$(mktemp -d /tmp/aki.XXXXXX)
tmp=$(mktemp -d /tmp/akit.XXXXXX)
export AK_HOME=$home
unset AK_SCHEDULER AK_TOKEN
cleanup() {
        "$ak" down >/dev/null 2>&1
        rm -rf "$home" "$tmp"
}
trap cleanup EXIT
failures=0
fail() {
        echo "FAIL: $*"
        failures=$((failures + 1))
}

"$ak" sandbox create sin >"$tmp/out" 2>"$tmp/err" || {
        echo "sandbox create: $(cat "$tmp/err")"
        for f in "$home"/logs/*.log; do echo "--- $f"; tail -n 20 "$f"; done
        exit 1
}

# 1. 50 MiB through run -i, byte for byte.
head -c 50M /dev/urandom >"$tmp/big"
want=$(sha256sum <"$tmp/big" | cut -d' ' -f1)
t0=$(date +%s.%N)
got=$("$ak" run -i -- sha256sum <"$tmp/big" 2>"$tmp/err" | cut -d' ' -f1)
t1=$(date +%s.%N)
[ "$got" = "$want" ] || fail "run -i sha256sum of 50 MiB: got '$got', want '$want': $(tail -5 "$tmp/err")"
echo "50 MiB through run -i in $(echo "$t1 - $t0" | bc) s"

# 2. Empty stdin: EOF at once.
got=$("$ak" run -i -- wc -c </dev/null 2>"$tmp/err")
[ "$got" = 0 ] || fail "run -i wc -c of nothing: '$got': $(cat "$tmp/err")"

# 3. A command that never reads stdin ends normally, whatever we send.
got=$(head -c 8M /dev/zero | timeout 120 "$ak" run -i -- sh -c 'echo ran; exit 4' 2>"$tmp/err")
rc=$?
[ $rc -eq 4 ] || fail "run -i of a non-reader exited $rc: $(cat "$tmp/err")"
[ "$got" = ran ] || fail "run -i of a non-reader printed '$got'"
grep -q 'sending stdin' "$tmp/err" && fail "a non-reader made ak complain: $(cat "$tmp/err")"

# 4. The command closes its stdin early (head): no error, its output.
got=$(head -c 4M /dev/zero | tr '\0' a | timeout 120 "$ak" run -i -- head -c 5 2>"$tmp/err")
[ "$got" = aaaaa ] || fail "run -i head -c 5: '$got': $(cat "$tmp/err")"

# 5. Without -i the command's stdin is empty even when ours is not.
got=$(echo hello | "$ak" run -- wc -c 2>"$tmp/err")
[ "$got" = 0 ] || fail "run without -i read our stdin: '$got'"

# 6. exec -i into a kept sandbox, as its user; line by line.
got=$(printf 'one\ntwo\n' | "$ak" exec sin -i -- sh -c 'while read l; do echo "<$l>"; done; id -u' 2>"$tmp/err")
[ "$got" = "$(printf '<one>\n<two>\n1000')" ] || fail "exec -i: '$got': $(cat "$tmp/err")"
"$ak" exec -d -i sin -- cat >"$tmp/e" 2>&1
[ $? -eq 2 ] || fail "exec -d -i was not a usage error: $(cat "$tmp/e")"

"$ak" sandbox remove sin >/dev/null 2>&1 || fail "sandbox remove"
[ $failures -eq 0 ] && echo PASS
exit $failures
