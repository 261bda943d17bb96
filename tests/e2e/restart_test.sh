#!/usr/bin/env bash
# An executor restarted in place (issues 16 and 17): `ak up` starts the
# executor with --vm-supervisors; when its executor dies (SIGTERM, and
# again SIGKILL) `ak up` starts it alone again (the scheduler, signer and
# auditor keep their pids), the kept sandbox answers `ak exec` with the
# state written before, and a detached command that wrote output across
# the restart shows it all in exec-logs and completes with its exit code.
# `ak down` leaves no ak-vmm or QEMU. One VM boot.
set -uo pipefail

. "$(dirname "$0")/lib.sh" || exit 1
e2e_init akr akrt
# The pid stack.json records for service $1.
pid_of() {
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pids"][sys.argv[2]])' \
                "$home/run/stack.json" "$1"
}
# Alive: /proc/$1/stat reads and its state is not Z or X. One read, so a
# process reaped between two looks counts as gone (CI once saw the old
# test-then-grep say alive for a pid whose stat had just vanished).
alive() {
        local st
        st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        st=${st##*) }
        case ${st%% *} in Z | X | '') return 1 ;; esac
        return 0
}

"$ak" up --warm 0 --no-gateway -q >"$tmp/out" 2>"$tmp/err" || {
        echo "ak up: $(cat "$tmp/err")"
        logs
        exit 1
}
exe=$(pid_of executor)
tr '\0' ' ' <"/proc/$exe/cmdline" | grep -q -- '--vm-supervisors' || fail "the executor runs without --vm-supervisors"
sched=$(pid_of scheduler)
"$ak" sandbox create keep >"$tmp/out" 2>"$tmp/err" || {
        echo "sandbox create: $(cat "$tmp/err")"
        logs
        exit 1
}
"$ak" exec keep -- sh -c 'echo kept-state > state.txt' || fail "ak exec before the restart"

# $1: the signal. A detached command writing for ~10 s across the restart.
restart_with() {
        local sig=$1 id exe new
        id=$("$ak" exec -d keep -- sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do echo line$i; sleep 1; done; exit 7' \
                2>"$tmp/err")
        echo "$id" | grep -Eq '^[0-9a-f-]{36}$' || { fail "$sig: ak exec -d printed '$id': $(cat "$tmp/err")"; return; }
        sleep 2
        exe=$(pid_of executor)
        kill "-$sig" "$exe"
        # 60 s: with 20 s it failed 2 of 6 runs on a loaded machine, cause
        # unknown; a failure now says the process state, wchan and its log.
        local gone=0
        for _ in $(seq 1 600); do alive "$exe" || { gone=1; break; }; sleep 0.1; done
        if [ $gone -eq 0 ]; then
                fail "$sig: the executor (pid $exe) did not exit in 60 s: $(grep -E '^(State|Threads)' \
                        "/proc/$exe/status" | tr '\n' ' ')wchan $(cat "/proc/$exe/wchan" 2>/dev/null); its log: $(tail -n 15 \
                        "$home/logs/executor.log" 2>/dev/null)"
                return
        fi
        "$ak" up --warm 0 --no-gateway -q >"$tmp/up" 2>&1 || fail "$sig: ak up again: $(cat "$tmp/up")"
        new=$(pid_of executor)
        [ "$new" != "$exe" ] && alive "$new" || fail "$sig: no new executor ($exe -> $new)"
        [ "$(pid_of scheduler)" = "$sched" ] || fail "$sig: ak up restarted the running scheduler"
        "$ak" exec keep -- cat state.txt >"$tmp/state" 2>"$tmp/err"
        [ "$(cat "$tmp/state")" = kept-state ] ||
                fail "$sig: the kept sandbox lost its state: $(cat "$tmp/state" "$tmp/err")"
        timeout 60 "$ak" sandbox exec-logs keep "$id" --follow >"$tmp/logs" 2>"$tmp/err" ||
                fail "$sig: exec-logs --follow: $(cat "$tmp/err")"
        [ "$(cat "$tmp/logs")" = "$(printf 'line%s\n' 1 2 3 4 5 6 7 8 9 10 | head -c -1)" ] ||
                fail "$sig: exec-logs printed: $(cat "$tmp/logs")"
        "$ak" sandbox exec-list keep >"$tmp/list" 2>&1
        grep -Eq "^$id  completed +7 " "$tmp/list" || fail "$sig: exec-list after the end: $(cat "$tmp/list")"
}
restart_with TERM
restart_with KILL

# Down: every ak-vmm and QEMU of the stack is gone.
vms=$(cat "$home"/executor/v/*/vm.json 2>/dev/null | python3 -c '
import json,sys
d = json.JSONDecoder(); s = sys.stdin.read().strip(); i = 0
while i < len(s):
    o, i = d.raw_decode(s, i); print(o["pid"], o["vmm_pid"])
    while i < len(s) and s[i].isspace(): i += 1')
[ -n "$vms" ] || fail "no supervised VM recorded under $home/executor/v"
"$ak" down >/dev/null 2>&1 || fail "ak down"
for p in $vms; do
        for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
        alive "$p" && fail "pid $p (ak-vmm or QEMU) outlived ak down"
done
[ $failures -eq 0 ] && echo PASS
exit $failures
