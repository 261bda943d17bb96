#!/usr/bin/env bash
# ak sandbox cp end to end through the local stack (ak -> ak-scheduler ->
# ak-executor -> a real microVM's guest agent), one sandbox for all:
# a 100 MiB file both ways byte for byte; a directory tree (modes, an empty
# directory, a symlink inside it and one pointing out of it) both ways; a
# missing source and a non-directory target fail naming the path.
set -uo pipefail

ak=${AK_BIN:-}
. "$(dirname "$0")/lib.sh" || exit 1
e2e_init akcp akcpt
now() { date +%s.%N; }

"$ak" sandbox create cpt >"$tmp/out" 2>"$tmp/err" || {
        echo "sandbox create: $(cat "$tmp/err")"
        logs
        exit 1
}

# 1. 100 MiB in and back out, byte for byte; the mode kept.
head -c 100M /dev/urandom >"$tmp/big"
chmod 640 "$tmp/big"
want=$(sha256sum <"$tmp/big" | cut -d' ' -f1)
t0=$(now)
"$ak" sandbox cp "$tmp/big" cpt:/root/big 2>"$tmp/err" || fail "cp in of 100 MiB: $(tail -3 "$tmp/err")"
t1=$(now)
got=$("$ak" exec cpt --sudo -- sh -c 'sha256sum /root/big; stat -c %a /root/big' 2>"$tmp/err")
[ "$(echo "$got" | head -1 | cut -d' ' -f1)" = "$want" ] || fail "100 MiB in the sandbox differs: $got"
[ "$(echo "$got" | tail -1)" = 640 ] || fail "mode in the sandbox: $got"
ls -a /tmp 2>/dev/null >/dev/null
left=$("$ak" exec cpt --sudo -- sh -c 'ls -a /tmp /root | grep ak-cp' 2>/dev/null)
[ -z "$left" ] || fail "staging left in the sandbox: $left"
t2=$(now)
"$ak" sandbox cp cpt:/root/big "$tmp/back" 2>"$tmp/err" || fail "cp out of 100 MiB: $(tail -3 "$tmp/err")"
t3=$(now)
cmp -s "$tmp/big" "$tmp/back" || fail "100 MiB copied out differs"
[ "$(stat -c %a "$tmp/back")" = 640 ] || fail "mode copied out: $(stat -c %a "$tmp/back")"
ls -a "$tmp" | grep -q ak-cp && fail "temp file left beside the copy: $(ls -a "$tmp")"
echo "100 MiB in: $(echo "$t1 - $t0" | bc) s, out: $(echo "$t3 - $t2" | bc) s"
rm -f "$tmp/back"
"$ak" exec cpt --sudo -- rm -f /root/big >/dev/null 2>&1

# 2. A directory tree both ways.
src=$tmp/tree
mkdir -p "$src/sub/deeper" "$src/empty"
echo hello >"$src/a.txt"
printf 'x%.0s' $(seq 5000) >"$src/sub/b.bin"
printf '#!/bin/sh\necho run\n' >"$src/sub/deeper/run.sh"
chmod 755 "$src/sub/deeper/run.sh"
chmod 600 "$src/a.txt"
chmod 711 "$src/sub"
ln -s a.txt "$src/inside"
ln -s /etc/hostname "$src/outside"
ln -s ../../.. "$src/sub/up"
"$ak" sandbox cp "$src" cpt:/root/t 2>"$tmp/err" || fail "cp in of a tree: $(tail -3 "$tmp/err")"
got=$("$ak" exec cpt --sudo -- sh -c 'cd /root/t && stat -c "%n %a %F" a.txt sub sub/deeper/run.sh empty && readlink inside && readlink outside && readlink sub/up && cat a.txt' 2>"$tmp/err")
wantt='a.txt 600 regular file
sub 711 directory
sub/deeper/run.sh 755 regular file
empty 755 directory
a.txt
/etc/hostname
../../..
hello'
[ "$got" = "$wantt" ] || fail "tree in the sandbox: got
$got
want
$wantt
$(cat "$tmp/err")"
# Into an existing directory: lands as DIR/NAME.
"$ak" exec cpt --sudo -- mkdir -p /root/into >/dev/null 2>&1
"$ak" sandbox cp "$src" cpt:/root/into 2>"$tmp/err" || fail "cp in to a directory: $(tail -3 "$tmp/err")"
"$ak" exec cpt --sudo -- test -f /root/into/tree/a.txt >/dev/null 2>&1 || fail "cp in to a directory did not make into/tree"
# And back out; the symlink pointing out is copied as a symlink, not followed.
"$ak" sandbox cp cpt:/root/t "$tmp/out_tree" 2>"$tmp/err" || fail "cp out of a tree: $(tail -3 "$tmp/err")"
diff -r --no-dereference "$src" "$tmp/out_tree" >"$tmp/diff" 2>&1 || fail "tree copied out differs: $(head "$tmp/diff")"
for f in a.txt sub sub/deeper/run.sh empty sub/b.bin; do
        [ "$(stat -c %a "$src/$f")" = "$(stat -c %a "$tmp/out_tree/$f")" ] || fail "mode of $f copied out"
done
[ "$(readlink "$tmp/out_tree/outside")" = /etc/hostname ] || fail "outside symlink copied out: $(ls -l "$tmp/out_tree/outside")"
[ -L "$tmp/out_tree/sub/up" ] || fail "sub/up is no longer a symlink"
mkdir "$tmp/existing"
"$ak" sandbox cp cpt:/root/t "$tmp/existing" 2>"$tmp/err" || fail "cp out into a directory: $(tail -3 "$tmp/err")"
[ -f "$tmp/existing/t/sub/deeper/run.sh" ] || fail "cp out into a directory did not make existing/t"

# 3. Errors name the path.
"$ak" sandbox cp "$tmp/nope" cpt:/root/x 2>"$tmp/err" && fail "cp in of a missing file succeeded"
grep -q "$tmp/nope: No such file or directory" "$tmp/err" || fail "missing local source: $(cat "$tmp/err")"
"$ak" sandbox cp cpt:/root/nope "$tmp/x" 2>"$tmp/err" && fail "cp out of a missing file succeeded"
grep -q "cpt:/root/nope: /root/nope: no such file or directory" "$tmp/err" || fail "missing guest source: $(cat "$tmp/err")"
"$ak" sandbox cp "$src" cpt:/root/t/a.txt 2>"$tmp/err" && fail "cp in of a tree onto a file succeeded"
grep -q "/root/t/a.txt is not a directory in the sandbox" "$tmp/err" || fail "tree onto a guest file: $(cat "$tmp/err")"
"$ak" sandbox cp "$src/a.txt" cpt:/root/t/a.txt/x 2>"$tmp/err" && fail "cp in under a file succeeded"
grep -q "/root/t/a.txt is not a directory in the sandbox" "$tmp/err" || fail "file under a guest file: $(cat "$tmp/err")"
"$ak" sandbox cp cpt:/root/t "$src/a.txt" 2>"$tmp/err" && fail "cp out of a tree onto a file succeeded"
grep -q "is a directory, but $src/a.txt is not a directory" "$tmp/err" || fail "tree onto a local file: $(cat "$tmp/err")"
[ "$(cat "$src/a.txt")" = hello ] || fail "the local file was changed by a failed copy"

# 4. SIGINT a second into a 100 MiB copy-in: ak says so, exits 130, and
# leaves no staging folder, part file or target in the sandbox.
head -c 100M /dev/urandom >"$tmp/big2"
"$ak" sandbox cp "$tmp/big2" cpt:/root/big2 2>"$tmp/err" &
cp_pid=$!
sleep 1
kill -INT $cp_pid
wait $cp_pid
rc=$?
[ $rc = 130 ] || fail "interrupted cp exited $rc, want 130: $(tail -3 "$tmp/err")"
grep -q "interrupted by SIGINT; the partial copy was removed" "$tmp/err" || fail "interrupted cp said: $(tail -3 "$tmp/err")"
left=$("$ak" exec cpt --sudo -- sh -c 'ls -a /tmp /root | grep -e ak-cp -e big2' 2>/dev/null)
[ -z "$left" ] || fail "an interrupted copy left in the sandbox: $left"

"$ak" sandbox remove cpt >/dev/null 2>&1 || fail "sandbox remove"
[ $failures -eq 0 ] && echo PASS
exit $failures
