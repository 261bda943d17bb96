#!/usr/bin/env bash
# Detached commands end to end: ak exec -d through the local stack (ak ->
# ak-scheduler -> ak-executor -> a real microVM), then ak sandbox exec-list,
# exec-logs (an offset loop, --stderr, --follow until the end) and exec-kill;
# the command runs on after the ak that started it has exited. One VM boot.
set -uo pipefail

. "$(dirname "$0")/lib.sh" || exit 1
e2e_init akd akdt

"$ak" sandbox create det >"$tmp/out" 2>"$tmp/err" || {
        echo "sandbox create: $(cat "$tmp/err")"
        logs
        exit 1
}

# 1. Started, printed its id, and runs on after ak exited.
id=$("$ak" exec -d det -- sh -c 'echo a; echo e1 >&2; sleep 2; echo b; exit 3' 2>"$tmp/err")
[ $? -eq 0 ] || fail "ak exec -d: $(cat "$tmp/err")"
echo "$id" | grep -Eq '^[0-9a-f-]{36}$' || fail "ak exec -d printed '$id'"
grep -q 'started pid [0-9]' "$tmp/err" || fail "ak exec -d said: $(cat "$tmp/err")"
"$ak" sandbox exec-list det >"$tmp/list" 2>&1 || fail "exec-list: $(cat "$tmp/list")"
grep -q "^$id  running " "$tmp/list" || fail "exec-list while running: $(cat "$tmp/list")"

# 2. --follow prints everything and returns once it ended.
timeout 60 "$ak" sandbox exec-logs det "$id" --follow >"$tmp/logs" 2>"$tmp/err" || fail "exec-logs --follow: $(cat "$tmp/err")"
[ "$(cat "$tmp/logs")" = "$(printf 'a\nb')" ] || fail "exec-logs --follow printed: $(cat "$tmp/logs")"
[ "$("$ak" sandbox exec-logs det "$id" --stderr)" = e1 ] || fail "exec-logs --stderr"
"$ak" sandbox exec-list det >"$tmp/list" 2>&1
grep -Eq "^$id  completed +3 " "$tmp/list" || fail "exec-list after the end: $(cat "$tmp/list")"

# 3. Kill.
id2=$("$ak" exec -d det -- sleep 100)
"$ak" sandbox exec-kill det "$id2" >"$tmp/kill" 2>&1 || fail "exec-kill: $(cat "$tmp/kill")"
grep -Eq "^$id2  failed +137 " "$tmp/kill" || fail "exec-kill printed: $(cat "$tmp/kill")"

# 4. Errors say what failed.
"$ak" sandbox exec-kill det 0123 >"$tmp/e" 2>&1 && fail "kill of an unknown id succeeded"
grep -q 'no detached command 0123' "$tmp/e" || fail "unknown id: $(cat "$tmp/e")"
"$ak" sandbox exec-logs nosuch "$id" >"$tmp/e" 2>&1 && fail "logs of an unknown sandbox succeeded"
grep -qi 'nosuch' "$tmp/e" || fail "unknown sandbox: $(cat "$tmp/e")"
"$ak" sandbox exec-logs det >"$tmp/e" 2>&1
[ $? -eq 2 ] || fail "exec-logs without ID did not exit 2"

"$ak" sandbox remove det >/dev/null 2>&1 || fail "sandbox remove"
[ $failures -eq 0 ] && echo PASS
exit $failures
