#!/usr/bin/env bash
# ak-gateway against a real stack: `ak up` (scheduler, executor with real
# microVMs, signer, auditor), then ak-gateway with the stack's token as its
# API key and scheduler credential, then agentkernel's own Node SDK
# (sdk_test.cjs) and raw hostile clients (hostile_test.py) through it.
set -uo pipefail
rf=${TEST_SRCDIR:-}/${TEST_WORKSPACE:-ak}
ak=$rf/cli/ak
gw=$rf/services/gateway/ak-gateway
npm_dir=${AK_NPM_DIR:-/usr/local/lib/ak-npm}
if [ ! -f "$npm_dir/node_modules/agentkernel/package.json" ] || ! command -v node >/dev/null; then
        echo "SKIPPED stack_test: needs node and npm agentkernel@0.18.1 in $npm_dir (run tools/deps.sh)"
        exit 1
fi
home=$(mktemp -d /tmp/akg.XXXXXX)
export AK_HOME=$home
unset AK_SCHEDULER AK_TOKEN
gwpid=
cleanup() {
        [ -n "$gwpid" ] && kill "$gwpid" 2>/dev/null && wait "$gwpid" 2>/dev/null
        "$ak" down >/dev/null 2>&1
        rm -rf "$home"
}
trap cleanup EXIT
"$ak" up >"$home/up.log" 2>&1 || { echo "ak up failed:"; cat "$home/up.log"; exit 1; }
tok=$home/run/token
"$gw" --scheduler "unix:$home/run/scheduler.sock" --scheduler-token-file "$tok" --keys-file "$tok" \
        --listen 127.0.0.1:0 --idle-timeout-s 3 >"$home/gw.out" 2>"$home/gw.err" &
gwpid=$!
for _ in $(seq 100); do
        addr=$(sed -n 's/^ak-gateway: listening on //p' "$home/gw.out")
        [ -n "$addr" ] && break
        sleep 0.1
done
[ -n "$addr" ] || { echo "ak-gateway did not start:"; cat "$home/gw.err"; exit 1; }
key=$(grep -v '^#' "$tok" | tail -1)
failures=0
AK_NPM_DIR=$npm_dir AGENTKERNEL_BASE_URL=http://$addr AGENTKERNEL_API_KEY=$key \
        timeout 600 node "$rf/services/gateway/sdk_test.cjs" || failures=$((failures + 1))
GW=$addr KEY=$key timeout 300 python3 "$rf/services/gateway/hostile_test.py" || failures=$((failures + 1))
kill -0 "$gwpid" 2>/dev/null || { echo "FAIL: ak-gateway died:"; cat "$home/gw.err"; failures=$((failures + 1)); }
[ $failures -eq 0 ] || { echo "--- ak-gateway stderr"; tail -n 30 "$home/gw.err"; exit 1; }
echo "stack_test: all passed"
