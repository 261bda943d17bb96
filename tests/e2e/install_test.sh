#!/usr/bin/env bash
# tools/install_tree.sh's tree works with no checkout and no Bazel: install the
# built ak into a temporary PREFIX, then, from / with a bare environment (no
# runfiles, no AK_ROOT, no Bazel on PATH), run a command in a microVM through
# the installed stack and bring the whole stack (gateway included) up and down.
# Also: a second install over the first replaces the files in place, and a
# tree with a binary missing is refused before anything is copied.
set -uo pipefail

rf=${TEST_SRCDIR:-}/${TEST_WORKSPACE:-ak}
install_tree=$rf/tools/install_tree.sh
[ -x "$rf/cli/ak" ] || { echo "no ak at $rf/cli/ak"; exit 1; }

# Short paths: Unix sockets and the executor's state dir live under AK_HOME.
tmp=$(mktemp -d /tmp/aki.XXXXXX)
prefix=$tmp/p
home=$tmp/h
cleanup() {
        [ -x "$prefix/bin/ak" ] && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$tmp" AK_HOME="$home" \
                "$prefix/bin/ak" down >/dev/null 2>&1
        rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
fail() {
        echo "FAIL: $*"
        failures=$((failures + 1))
}
# The installed ak, as a user's shell would run it: from /, nothing of the
# checkout or of Bazel in its environment.
iak() {
        (cd / && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$tmp" AK_HOME="$home" "$prefix/bin/ak" "$@")
}

# 1. A tree missing a binary is refused, and nothing is installed.
mkdir -p "$tmp/partial/cli" && cp -L "$rf/cli/ak" "$tmp/partial/cli/ak"
"$install_tree" "$tmp/partial" "$tmp/nothing" 2>"$tmp/err" && fail "a partial tree installed"
grep -q 'services/scheduler/ak-scheduler is missing' "$tmp/err" || fail "partial tree said: $(cat "$tmp/err")"
[ ! -e "$tmp/nothing" ] || fail "a refused install left $tmp/nothing behind"

# 2. The layout.
"$install_tree" "$rf" "$prefix" 2>"$tmp/err" || { fail "install: $(cat "$tmp/err")"; exit 1; }
[ "$(readlink "$prefix/bin/ak")" = ../lib/ak/cli/ak ] || fail "bin/ak -> $(readlink "$prefix/bin/ak")"
for f in cli/ak services/scheduler/ak-scheduler services/executor/ak-executor services/signer/ak-signer \
        services/auditor/ak-auditor services/gateway/ak-gateway vmm/ak-vmm guest/ak-guest; do
        [ -f "$prefix/lib/ak/$f" ] && [ ! -L "$prefix/lib/ak/$f" ] || fail "$f is not a regular file in the tree"
        [ "$(stat -c %a "$prefix/lib/ak/$f")" = 755 ] || fail "$f has mode $(stat -c %a "$prefix/lib/ak/$f")"
done
[ -f "$prefix/share/man/man1/ak.1" ] && [ -f "$prefix/share/man/man1/ak-run.1" ] ||
        fail "no man pages in $prefix/share/man/man1: $(ls "$prefix/share/man/man1" 2>&1)"
MANPATH=$prefix/share/man man -w ak-run >/dev/null 2>&1 || fail "man does not find ak-run in $prefix/share/man"
[ -z "$(find "$prefix" -name '*.new.*')" ] || fail "temporary files left: $(find "$prefix" -name '*.new.*')"

# 3. Installing again replaces in place (a running ak keeps its inode).
before=$(stat -c %i "$prefix/lib/ak/cli/ak")
"$install_tree" "$rf" "$prefix" 2>"$tmp/err" || fail "second install: $(cat "$tmp/err")"
[ "$(stat -c %i "$prefix/lib/ak/cli/ak")" != "$before" ] || fail "the second install wrote into the old file"

# 4. Runs with no checkout: version, then a command in a microVM through the
# stack the installed ak starts from the installed services.
iak version >"$tmp/out" 2>&1 || fail "ak version: $(cat "$tmp/out")"
grep -q '^ak ' "$tmp/out" || fail "ak version printed: $(cat "$tmp/out")"
iak run -- uname -s >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || { fail "installed ak run exited $rc: $(cat "$tmp/err")"; tail -n 20 "$home"/logs/*.log; }
[ "$(cat "$tmp/out")" = Linux ] || fail "uname -s printed: $(cat "$tmp/out")"
# Every service of the stack came from the installed tree.
for s in scheduler executor signer auditor; do
        pgrep -f "^$prefix/lib/ak/services/$s/ak-$s" >/dev/null || fail "no ak-$s running from $prefix"
done
iak down >/dev/null 2>&1 || fail "ak down"

# 5. ak up starts the gateway from the tree too.
iak up --warm 0 --gateway-listen 127.0.0.1:0 >"$tmp/out" 2>&1 || fail "ak up: $(cat "$tmp/out")"
pgrep -f "^$prefix/lib/ak/services/gateway/ak-gateway" >/dev/null || fail "no ak-gateway running from $prefix"
iak status --json >"$tmp/st" 2>&1 || fail "ak status: $(cat "$tmp/st")"
grep -q '"healthy":true' "$tmp/st" || fail "status: $(cat "$tmp/st")"
iak down >/dev/null 2>&1 || fail "ak down after up"

# 6. The same tree as a .deb: files under /usr, a root the system's / can
# take (0755), Depends read off the binaries (gRPC, QEMU), the version ak says.
"$rf/tools/deb_pack.sh" "$rf" "$tmp/ak.deb" 2>"$tmp/err" || fail "deb_pack: $(cat "$tmp/err")"
dpkg-deb -f "$tmp/ak.deb" Package Version >"$tmp/f" 2>&1 || fail "dpkg-deb -f: $(cat "$tmp/f")"
grep -q '^Package: ak$' "$tmp/f" || fail "deb fields: $(cat "$tmp/f")"
grep -q "^Version: $(iak version --json | sed -n 's/.*"version":"\([^"]*\)".*/\1/p')\$" "$tmp/f" ||
        fail "deb version $(cat "$tmp/f") is not ak's"
deps=$(dpkg-deb -f "$tmp/ak.deb" Depends)
for p in libgrpc29 qemu-system-x86 busybox-static nftables android-libboringssl; do
        case ", $deps," in *", $p,"*) ;; *) fail "Depends lacks $p: $deps" ;; esac
done
dpkg-deb -c "$tmp/ak.deb" >"$tmp/c"
grep -q '^drwxr-xr-x .* \./$' "$tmp/c" || fail "deb root: $(head -n 1 "$tmp/c")"
grep -q ' \./usr/bin/ak -> \.\./lib/ak/cli/ak$' "$tmp/c" || fail "no usr/bin/ak link in the deb"
grep -q ' \./usr/lib/ak/services/executor/ak-executor$' "$tmp/c" || fail "no ak-executor in the deb"
grep -q ' \./usr/share/man/man1/ak-run\.1$' "$tmp/c" || fail "no ak-run.1 in the deb"

if [ $failures -ne 0 ]; then
        echo "$failures failure(s)"
        exit 1
fi
echo "PASS"
