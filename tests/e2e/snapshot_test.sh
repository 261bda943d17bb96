#!/usr/bin/env bash
# Disk snapshots as a user meets them, through `ak`, the scheduler and the
# executor: a file written in a sandbox of a root disk image (never synced
# by the test) is in a sandbox restored from `ak snapshot take` and in `ak
# run --image SNAPSHOT`; the source runs on; `ak snapshot list` (text and
# --json) shows where it came from; `ak snapshot rm` removes it and a second
# rm says what to do; a base-image sandbox and usage mistakes are refused
# with what to do. Prints how long the guest was held and the copy took.
#
# The image is built by `ak image build` from a seeded debootstrap stage
# (vmm/testing/tiny_stage.h), as tests/e2e/image_test.sh does: no mirror.
set -uo pipefail

. "$(dirname "$0")/lib.sh" || exit 1
e2e_init aks akt
seed=$rf/vmm/seed_tiny_stage
[ -x "$seed" ] || { echo "no seed_tiny_stage at $seed"; exit 1; }
export AK_DEBIAN_MIRROR=http://127.0.0.1:9/ak-e2e-snapshot-test-$$
json() {  # json EXPR < JSON: a Python expression of the parsed input `j`
        /usr/bin/python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"
}

# Usage mistakes need no stack.
"$ak" snapshot take >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q 'take: which sandbox' "$tmp/err" || fail "take without SANDBOX: rc $rc $(cat "$tmp/err")"
"$ak" snapshot list --bogus >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q 'unknown option --bogus' "$tmp/err" || fail "list --bogus: rc $rc $(cat "$tmp/err")"
"$ak" snapshot --help | grep -q 'ak snapshot restore NAME \[--name SANDBOX\]' || fail "snapshot --help"
[ -e "$home/run/stack.json" ] && fail "a usage mistake started the stack"

cache=${AK_TEST_IMAGES:-/var/tmp/ak-test-images}
mkdir -p "$home/images"
if [ -e "$cache/kernel/current" ]; then
        cp -al "$cache/kernel" "$home/images/" 2>/dev/null || cp -a "$cache/kernel" "$home/images/"
fi
marker=made-by-snapshot-test-$$
"$seed" "$home/images" "$marker" || { echo "seeding the stage failed"; exit 1; }
"$ak" image build tiny >"$tmp/build" 2>&1 || { cat "$tmp/build"; exit 1; }
"$ak" up --warm 0 >"$tmp/up" 2>&1 || { cat "$tmp/up"; logs; exit 1; }

"$ak" sandbox create src --image tiny >/dev/null 2>"$tmp/err" || { fail "create src: $(cat "$tmp/err")"; logs; exit 1; }
kept=kept-by-snapshot-test-$$
"$ak" exec src --sudo -- sh -c "echo $kept > /kept.txt" 2>"$tmp/err" || fail "write in src: $(cat "$tmp/err")"
"$ak" snapshot take src snap1 --json >"$tmp/take" 2>"$tmp/err" || { fail "take: $(cat "$tmp/err")"; logs; }
[ "$(json 'j["name"], j["sandbox"], j["image"], j["consistency"]' <"$tmp/take")" = "snap1 src tiny fsfreeze" ] ||
        fail "take --json: $(cat "$tmp/take")"
echo "take of the tiny image: $(json '"guest held %d ms, copy %d ms, %d bytes stored" % (j["pause_ms"], j["copy_ms"], j["size_bytes"])' <"$tmp/take")"
"$ak" snapshot take src snap1 >/dev/null 2>"$tmp/err" && fail "a second take named snap1 succeeded"
grep -q 'ALREADY_EXISTS.*ak snapshot rm snap1' "$tmp/err" || fail "taken name: $(cat "$tmp/err")"
"$ak" exec src --sudo -- sh -c 'echo later > /later.txt' 2>"$tmp/err" || fail "src not writable after take: $(cat "$tmp/err")"

# Listed, text and JSON.
"$ak" snapshot list >"$tmp/list" 2>"$tmp/err" || fail "list: $(cat "$tmp/err")"
grep -Eq '^snap1 +src +tiny ' "$tmp/list" || fail "list: $(cat "$tmp/list")"
"$ak" snapshot list --json >"$tmp/list.json" 2>"$tmp/err" || fail "list --json: $(cat "$tmp/err")"
[ "$(json '[(s["name"], s["sandbox"], s["image"]) for s in j]' <"$tmp/list.json")" = "[('snap1', 'src', 'tiny')]" ] ||
        fail "list --json: $(cat "$tmp/list.json")"

# Restored: the file written before the take, not the one after.
"$ak" snapshot restore snap1 --name dst >"$tmp/out" 2>"$tmp/err" || { fail "restore: $(cat "$tmp/err")"; logs; }
grep -q 'created sandbox dst from snapshot snap1' "$tmp/out" || fail "restore said: $(cat "$tmp/out")"
[ "$("$ak" exec dst -- cat /kept.txt 2>"$tmp/err")" = "$kept" ] || fail "dst /kept.txt: $(cat "$tmp/err")"
"$ak" exec dst -- cat /later.txt >/dev/null 2>&1 && fail "dst has /later.txt, written after the take"
[ "$("$ak" exec dst -- cat /etc/ak-image 2>"$tmp/err")" = "$marker" ] || fail "dst is not of the tiny image: $(cat "$tmp/err")"
# And as an image for ak run.
[ "$("$ak" run --image snap1 -- cat /kept.txt 2>"$tmp/err")" = "$kept" ] || fail "ak run --image snap1: $(cat "$tmp/err")"
"$ak" sandbox remove dst >/dev/null || fail "remove dst"
"$ak" sandbox remove src >/dev/null || fail "remove src"

# Removed; a second rm says what to do.
"$ak" snapshot rm snap1 >"$tmp/out" 2>"$tmp/err" || fail "rm: $(cat "$tmp/err")"
[ "$("$ak" snapshot list --json)" = "[]" ] || fail "list after rm: $("$ak" snapshot list --json)"
"$ak" snapshot rm snap1 >/dev/null 2>"$tmp/err" && fail "a second rm succeeded"
grep -q 'NOT_FOUND: no snapshot named snap1 .*ak snapshot list' "$tmp/err" || fail "second rm: $(cat "$tmp/err")"

# A base-image sandbox has no disk to save.
"$ak" sandbox create bb >/dev/null 2>"$tmp/err" || fail "create bb: $(cat "$tmp/err")"
"$ak" snapshot take bb >/dev/null 2>"$tmp/err" && fail "take of a base-image sandbox succeeded"
grep -q 'FAILED_PRECONDITION: sandbox bb runs image base.*no root disk' "$tmp/err" || fail "take bb: $(cat "$tmp/err")"
"$ak" snapshot take nosuch >/dev/null 2>"$tmp/err" && fail "take of a missing sandbox succeeded"
grep -q 'NOT_FOUND' "$tmp/err" || fail "take nosuch: $(cat "$tmp/err")"

"$ak" down >/dev/null || fail "ak down"
if [ $failures -ne 0 ]; then
        logs
        echo "$failures failure(s)"
        exit 1
fi
echo PASS
