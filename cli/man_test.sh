#!/usr/bin/env bash
# The man pages //cli:man generates from ak's --help texts: one per command
# `ak --help` lists (but help), each renders with man -l and with groff
# treating every warning as an error, and carries its NAME line, synopsis,
# options and examples as the help text says them.
set -uo pipefail
rf=${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-ak}
ak=$rf/cli/ak
man=$rf/cli/man
failures=0
fail() {
        echo "FAIL: $*"
        failures=$((failures + 1))
}
command -v groff >/dev/null || { echo "SKIP: groff is not installed"; exit 0; }
command -v man >/dev/null || { echo "SKIP: man is not installed"; exit 0; }
tmp=$(mktemp -d /tmp/akman.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Every command has its page.
verbs=$("$ak" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 && $1 != "help" {print $1}')
[ -n "$verbs" ] || fail "no commands in ak --help"
[ -f "$man/ak.1" ] || fail "no ak.1"
for v in $verbs; do
        [ -f "$man/ak-$v.1" ] || fail "no page for ak $v"
done
[ "$(ls "$man" | wc -l)" -eq $(($(echo "$verbs" | wc -l) + 1)) ] || fail "pages for no command: $(ls "$man")"

for page in "$man"/*.1; do
        name=$(basename "$page" .1)
        # groff: any warning (bad request, bad escape, ...) fails.
        groff -man -Tutf8 -ww -z "$page" 2>"$tmp/warn" || fail "$name: groff failed: $(cat "$tmp/warn")"
        [ ! -s "$tmp/warn" ] || fail "$name: groff warns: $(cat "$tmp/warn")"
        MANWIDTH=120 man -l "$page" >"$tmp/$name.txt" 2>"$tmp/err" || fail "$name: man -l: $(cat "$tmp/err")"
        for section in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
                grep -q "^$section\$" "$tmp/$name.txt" || fail "$name: no $section section"
        done
        grep -q "^       $name - " "$tmp/$name.txt" || fail "$name: NAME line: $(sed -n 3p "$tmp/$name.txt")"
done

# ak(1): the command table, each command pointing at its page.
for v in $verbs; do
        grep -q "ak-$v(1)" "$tmp/ak.txt" || fail "ak(1) does not point at ak-$v(1)"
done
# ak-run(1): the synopsis, each option as an item, the examples verbatim.
grep -q '^       ak run \[-k\] \[-w DIR\]' "$tmp/ak-run.txt" || fail "ak-run synopsis"
grep -q '^       -k, --keep$' "$tmp/ak-run.txt" || fail "ak-run: no -k, --keep item"
grep -q '^       --no-network$' "$tmp/ak-run.txt" || fail "ak-run: no --no-network item"
grep -q '^EXAMPLES$' "$tmp/ak-run.txt" || fail "ak-run: no EXAMPLES"
grep -qF "ak run --no-network -e GREETING=hi -- sh -c 'echo \$GREETING; exit 3'; echo \$?" "$tmp/ak-run.txt" ||
        fail "ak-run: an example did not survive: $(sed -n '/^EXAMPLES/,$p' "$tmp/ak-run.txt")"
# Hyphens are \- (copy-pasteable ASCII), not typographic ones.
grep -q -- '--profile' "$tmp/ak-sandbox.txt" || fail "ak-sandbox: --profile is not ASCII"
# A page's text is its help text: every option line of `ak VERB --help`
# appears in the page.
for v in $verbs; do
        "$ak" "$v" --help | grep -oE '^  --?[a-z][a-z-]*' | sed 's/^  //' | sort -u >"$tmp/opts"
        while read -r o; do
                grep -qe "$o" "$tmp/ak-$v.txt" || fail "ak-$v: option $o of the help is not in the page"
        done <"$tmp/opts"
done

[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo PASS
