#!/usr/bin/env bash
# ak-gateway against a real stack: `ak up` (scheduler, executor with real
# microVMs, signer, auditor, and ak-gateway with the stack's token as its API
# key and scheduler credential), then agentkernel's own Node SDK
# (sdk_test.cjs) and raw hostile clients (hostile_test.py) through it, and
# image pull progress in the gateway's and the MCP server's answers
# (pull_progress_test.py, a stalling fake registry on loopback).
set -uo pipefail
rf=${TEST_SRCDIR:-}/${TEST_WORKSPACE:-ak}
ak=$rf/cli/ak
npm_dir=${AK_NPM_DIR:-/usr/local/lib/ak-npm}
if [ ! -f "$npm_dir/node_modules/agentkernel/package.json" ] || ! command -v node >/dev/null; then
        echo "SKIPPED stack_test: needs node and npm agentkernel@0.18.1 in $npm_dir (run tools/deps.sh)"
        exit 1
fi
home=$(mktemp -d /tmp/akg.XXXXXX)
export AK_HOME=$home
unset AK_SCHEDULER AK_TOKEN
cleanup() {
        "$ak" down >/dev/null 2>&1
        rm -rf "$home"
}
trap cleanup EXIT
# A root disk image for the SDK's snapshot methods: `ak image build` from a
# seeded debootstrap stage (vmm/testing/tiny_stage.h, no mirror), as
# tests/e2e/snapshot_test.sh does.
export AK_DEBIAN_MIRROR=http://127.0.0.1:9/ak-gateway-stack-test-$$
cache=${AK_TEST_IMAGES:-/var/tmp/ak-test-images}
mkdir -p "$home/images"
if [ -e "$cache/kernel/current" ]; then
        cp -al "$cache/kernel" "$home/images/" 2>/dev/null || cp -a "$cache/kernel" "$home/images/"
fi
"$rf/vmm/seed_tiny_stage" "$home/images" "made-by-gateway-stack-test-$$" || { echo "seeding the stage failed"; exit 1; }
"$ak" image build tiny >"$home/build.log" 2>&1 || { echo "ak image build tiny failed:"; cat "$home/build.log"; exit 1; }
# ak up starts the gateway itself (the fifth service); port 0 so parallel
# stacks do not collide on 18888.
AK_GATEWAY_LISTEN=127.0.0.1:0 "$ak" up >"$home/up.log" 2>&1 || { echo "ak up failed:"; cat "$home/up.log"; exit 1; }
tok=$home/run/token
addr=$(python3 -c 'import json,sys; g=json.load(sys.stdin)["gateway"]; print(g["address"] if g and g["healthy"] else "")' \
        < <("$ak" status --json))
[ -n "$addr" ] || { echo "FAIL: ak up started no healthy gateway:"; cat "$home/up.log"; "$ak" status; exit 1; }
grep -q "AGENTKERNEL_BASE_URL=http://$addr" "$home/up.log" || { echo "FAIL: ak up did not print the SDK line:"; cat "$home/up.log"; exit 1; }
gwpid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["gateway"]["pid"])' < <("$ak" status --json))
key=$(grep -v '^#' "$tok" | tail -1)
failures=0
AK_SNAP_IMAGE=tiny AK_NPM_DIR=$npm_dir AGENTKERNEL_BASE_URL=http://$addr AGENTKERNEL_API_KEY=$key AK_BIN=$ak \
        timeout 600 node "$rf/services/gateway/sdk_test.cjs" || failures=$((failures + 1))
GW=$addr KEY=$key timeout 300 python3 "$rf/services/gateway/hostile_test.py" || failures=$((failures + 1))
GW=$addr KEY=$key AK_BIN=$ak FAKE=$rf/vmm/image/oci/testdata/fake_registry.py \
        MAKE=$rf/vmm/image/oci/testdata/make_image.py timeout 600 python3 "$rf/services/gateway/pull_progress_test.py" ||
        failures=$((failures + 1))
kill -0 "$gwpid" 2>/dev/null || { echo "FAIL: ak-gateway died:"; cat "$home/logs/gateway.log"; failures=$((failures + 1)); }
# ak down stops the gateway too.
"$ak" down >"$home/down.log" 2>&1
for _ in $(seq 50); do kill -0 "$gwpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$gwpid" 2>/dev/null && { echo "FAIL: ak down left ak-gateway (pid $gwpid) running"; kill "$gwpid"; failures=$((failures + 1)); }
grep -q "stopped 5 services" "$home/down.log" || { echo "FAIL: ak down said: $(cat "$home/down.log")"; failures=$((failures + 1)); }
[ $failures -eq 0 ] || { echo "--- ak-gateway log"; tail -n 30 "$home/logs/gateway.log"; exit 1; }
echo "stack_test: all passed"
