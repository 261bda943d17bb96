#!/usr/bin/env bash
# The CLI's I/O end to end through the local stack (ak -> ak-scheduler ->
# ak-executor -> a real microVM's guest agent). ak run -i / ak exec -i: 50 MiB
# of stdin byte for byte, an empty stdin, a command that never reads it,
# stdin closed early by the command, exec -i into a kept sandbox. ak receipt
# replay: a match (run and exec), a mismatch, a tampered output hash.
set -uo pipefail

. "$(dirname "$0")/lib.sh" || exit 1
e2e_init aki akit

"$ak" sandbox create sin >"$tmp/out" 2>"$tmp/err" || {
        echo "sandbox create: $(cat "$tmp/err")"
        logs
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

# 7. Replay: the same output and exit code match, for run and exec.
"$ak" run --receipt "$tmp/r.json" -- sh -c 'echo out; echo err >&2; exit 3' >/dev/null 2>"$tmp/err"
[ $? -eq 3 ] || fail "run for a receipt: $(cat "$tmp/err")"
"$ak" receipt replay "$tmp/r.json" >"$tmp/rp" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "replay of a deterministic run exited $rc: $(cat "$tmp/rp" "$tmp/err")"
grep -q '^exit code   3 (recorded 3): match$' "$tmp/rp" || fail "replay exit line: $(cat "$tmp/rp")"
grep -q '^replay matches$' "$tmp/rp" || fail "replay verdict: $(cat "$tmp/rp")"
grep -q 're-running: agentkernel run' "$tmp/err" || fail "replay did not say what it runs: $(cat "$tmp/err")"
"$ak" exec sin --receipt "$tmp/x.json" -w /tmp -e K=v -- sh -c 'echo $K; pwd' >/dev/null 2>&1 || fail "exec for a receipt"
"$ak" receipt replay "$tmp/x.json" >"$tmp/rp" 2>"$tmp/err" || fail "replay of exec: $(cat "$tmp/rp" "$tmp/err")"
grep -q '^replay matches$' "$tmp/rp" || fail "exec replay verdict: $(cat "$tmp/rp")"

# 8. Output that changes: a mismatch, exit 1, the hashes shown.
"$ak" run --receipt "$tmp/n.json" -- sh -c 'head -c 16 /dev/urandom | od -x' >/dev/null 2>&1 || fail "run random"
"$ak" receipt replay "$tmp/n.json" >"$tmp/rp" 2>"$tmp/err"
[ $? -eq 1 ] || fail "replay of random output did not exit 1: $(cat "$tmp/rp" "$tmp/err")"
grep -q '^output .*: MISMATCH$' "$tmp/rp" || fail "mismatch line: $(cat "$tmp/rp")"
grep -q '^exit code   0 (recorded 0): match$' "$tmp/rp" || fail "exit line of the mismatch: $(cat "$tmp/rp")"
grep -q '^replay DIFFERS$' "$tmp/rp" || fail "mismatch verdict: $(cat "$tmp/rp")"

# 9. A tampered output hash: the signature no longer verifies (exit 1, not
# run); re-sealed as an unsigned receipt, it runs and differs.
sed 's/"output_sha256": "[0-9a-f]*"/"output_sha256": "'"$(printf '0%.0s' $(seq 64))"'"/' "$tmp/r.json" >"$tmp/t.json"
"$ak" receipt replay "$tmp/t.json" >"$tmp/rp" 2>"$tmp/err"
[ $? -eq 1 ] || fail "replay of a tampered receipt did not exit 1"
grep -q 'Receipt hash mismatch' "$tmp/err" || fail "tampered: $(cat "$tmp/err")"
python3 - "$tmp/t.json" "$tmp/u.json" <<'PY'
import hashlib, json, sys
r = json.load(open(sys.argv[1]))
payload = {k: r[k] for k in ("version", "receipt_id", "recorded_at", "invocation", "outcome")}
data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
r["payload_hash_sha256"] = hashlib.sha256(data).hexdigest()
r.pop("signature", None)
json.dump(r, open(sys.argv[2], "w"), indent=2)
PY
"$ak" receipt replay --allow-unsigned "$tmp/u.json" >"$tmp/rp" 2>"$tmp/err"
[ $? -eq 1 ] || fail "replay of a re-sealed tampered receipt did not exit 1: $(cat "$tmp/rp" "$tmp/err")"
grep -q '^output .*(recorded sha256 0000000000000000000000000000000000000000000000000000000000000000, .*: MISMATCH$' "$tmp/rp" ||
        fail "tampered hash line: $(cat "$tmp/rp" "$tmp/err")"
grep -q '^exit code   3 (recorded 3): match$' "$tmp/rp" || fail "tampered exit line: $(cat "$tmp/rp")"

"$ak" sandbox remove sin >/dev/null 2>&1 || fail "sandbox remove"
[ $failures -eq 0 ] && echo PASS
exit $failures
