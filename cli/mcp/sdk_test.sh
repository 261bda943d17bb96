#!/usr/bin/env bash
# `ak mcp-server` on a real stack (`ak up`: scheduler, executor with real
# microVMs), driven by the official MCP TypeScript SDK's client (npm
# @modelcontextprotocol/sdk, installed by tools/deps.sh), which spawns the
# server itself over stdio (sdk_test.cjs). One stack for the whole test.
set -uo pipefail
rf=${TEST_SRCDIR:-}/${TEST_WORKSPACE:-ak}
ak=$rf/cli/ak
npm_dir=${AK_NPM_DIR:-/usr/local/lib/ak-npm}
if [ ! -f "$npm_dir/node_modules/@modelcontextprotocol/sdk/package.json" ] || ! command -v node >/dev/null; then
        echo "FAIL sdk_test: needs node and npm @modelcontextprotocol/sdk in $npm_dir (run tools/deps.sh)"
        exit 1
fi
home=$(mktemp -d /tmp/akm.XXXXXX)
export AK_HOME=$home
unset AK_SCHEDULER AK_TOKEN
cleanup() {
        "$ak" down >/dev/null 2>&1
        rm -rf "$home"
}
trap cleanup EXIT
# A root disk image for the snapshot tools: `ak image build` from a seeded
# debootstrap stage (vmm/testing/tiny_stage.h, no mirror), as
# services/gateway:stack_test does.
export AK_DEBIAN_MIRROR=http://127.0.0.1:9/ak-mcp-sdk-test-$$
cache=${AK_TEST_IMAGES:-/var/tmp/ak-test-images}
mkdir -p "$home/images"
if [ -e "$cache/kernel/current" ]; then
        cp -al "$cache/kernel" "$home/images/" 2>/dev/null || cp -a "$cache/kernel" "$home/images/"
fi
"$rf/vmm/seed_tiny_stage" "$home/images" "made-by-mcp-sdk-test-$$" || { echo "seeding the stage failed"; exit 1; }
"$ak" image build tiny >"$home/build.log" 2>&1 || { echo "ak image build tiny failed:"; cat "$home/build.log"; exit 1; }
"$ak" up >"$home/up.log" 2>&1 || { echo "ak up failed:"; cat "$home/up.log"; exit 1; }
AK_SNAP_IMAGE=tiny AK_NPM_DIR=$npm_dir AK_BIN=$ak timeout 900 node "$rf/cli/mcp/sdk_test.cjs" || exit 1
echo "sdk_test: all passed"
