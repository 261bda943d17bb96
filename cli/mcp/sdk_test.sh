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
"$ak" up >"$home/up.log" 2>&1 || { echo "ak up failed:"; cat "$home/up.log"; exit 1; }
AK_NPM_DIR=$npm_dir AK_BIN=$ak timeout 900 node "$rf/cli/mcp/sdk_test.cjs" || exit 1
echo "sdk_test: all passed"
