// The official MCP TypeScript SDK's client (npm @modelcontextprotocol/sdk)
// spawns `ak mcp-server` over stdio against a live stack and drives every
// tool: the negotiated protocol version, tools/list, sandbox_run, a
// sandbox's whole life, files, failures as isError results, and
// agentkernel's head-and-tail truncation of long output.
// Env: AK_NPM_DIR (where tools/deps.sh installed the SDK), AK_BIN (ak),
// AK_HOME (the stack `ak up` started).
const path = require("path");
const assert = require("assert/strict");
const paths = [path.join(process.env.AK_NPM_DIR, "node_modules")];
const sdk = (m) => require(require.resolve("@modelcontextprotocol/sdk/" + m, { paths }));
const { Client } = sdk("client/index.js");
const { StdioClientTransport, getDefaultEnvironment } = sdk("client/stdio.js");
const { LATEST_PROTOCOL_VERSION } = sdk("types.js");

// agentkernel 0.18's tools (src/mcp.rs) that ak serves (not its browser_*
// and sandbox_fork).
const AGENTKERNEL_TOOLS = [
  "sandbox_create", "sandbox_exec", "sandbox_exec_detach", "sandbox_exec_kill", "sandbox_exec_list",
  "sandbox_exec_logs", "sandbox_exec_status", "sandbox_extend_ttl", "sandbox_file_read", "sandbox_file_write",
  "sandbox_list", "sandbox_remove", "sandbox_run", "sandbox_start", "sandbox_stop", "sandbox_write_files",
  "snapshot_delete", "snapshot_get", "snapshot_list", "snapshot_restore", "snapshot_take",
];
const LONG = { timeout: 600000, maxTotalTimeout: 600000 }; // microVMs under TCG boot slowly

function transport() {
  // The SDK passes only HOME, PATH, ... by default; the stack is AK_HOME's.
  return new StdioClientTransport({
    command: process.env.AK_BIN,
    args: ["mcp-server"],
    env: { ...getDefaultEnvironment(), AK_HOME: process.env.AK_HOME },
    stderr: "inherit",
  });
}

// Closes the client (the SDK ends the server's stdin) and checks the server
// left by itself with status 0 (under ASan: no error, no leak), not by the
// SDK's SIGTERM 2 s later.
async function closeAndCheck(closer, tr) {
  const child = tr._process;
  await closer.close();
  assert.equal(child.signalCode, null, "ak mcp-server did not exit at EOF; the SDK had to kill it");
  assert.equal(child.exitCode, 0, "ak mcp-server's exit status");
}

function text(res) {
  assert.ok(Array.isArray(res.content) && res.content.length === 1, JSON.stringify(res));
  assert.equal(res.content[0].type, "text");
  return res.content[0].text;
}

async function call(client, name, args, wantError = false) {
  const res = await client.callTool({ name, arguments: args }, undefined, LONG);
  const t = text(res);
  assert.equal(!!res.isError, wantError, `${name} ${JSON.stringify(args)}: isError=${res.isError}: ${t.slice(0, 2000)}`);
  return t;
}

// An older client: the SDK's transport, initialize with 2024-11-05 by hand.
async function oldClientVersion() {
  const tr = transport();
  const reply = new Promise((resolve, reject) => {
    tr.onmessage = (m) => (m.id === 1 ? resolve(m) : null);
    tr.onerror = reject;
  });
  await tr.start();
  await tr.send({
    jsonrpc: "2.0", id: 1, method: "initialize",
    params: { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "old", version: "0" } },
  });
  const m = await reply;
  await closeAndCheck(tr, tr);
  return m.result.protocolVersion;
}

// Detached commands as agentkernel shows them (its DetachedCommand JSON,
// addressed by id alone), and the snapshot tools on a base-image sandbox
// (no root disk: take is refused) and on names that do not exist.
async function detachedAndSnapshots(client, name) {
  const detach = async (command) => JSON.parse(await call(client, "sandbox_exec_detach", { name, command }));
  const status = async (id) => JSON.parse(await call(client, "sandbox_exec_status", { id }));
  let last; // what the last poll saw, for the failure message
  const until = async (what, f) => {
    for (let i = 0; i < 120; i++) {
      const v = await f();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.fail(`waited 60 s for ${what}; last saw ${JSON.stringify(last)}`);
  };
  const d = await detach(["sh", "-c", "echo out; echo err >&2; exec sleep 1000"]);
  assert.deepEqual(Object.keys(d), ["id", "sandbox", "command", "pid", "status", "exit_code", "started_at"]);
  assert.equal(d.sandbox, name);
  assert.deepEqual(d.command, ["sh", "-c", "echo out; echo err >&2; exec sleep 1000"]);
  assert.ok(d.pid > 0, JSON.stringify(d));
  assert.equal(d.status, "running");
  assert.equal(d.exit_code, null);
  assert.ok(Math.abs(Date.parse(d.started_at) - Date.now()) < 600e3, d.started_at);
  // The logs grow while the command runs (services/executor/detached_scripts.h).
  await until("out on stdout while it runs", async () => (last = await call(client, "sandbox_exec_logs", { id: d.id })) === "out\n");
  assert.equal(await call(client, "sandbox_exec_logs", { id: d.id, stream: "stderr" }), "err\n");
  assert.equal((await status(d.id)).status, "running");
  const listed = JSON.parse(await call(client, "sandbox_exec_list", { name }));
  assert.deepEqual(listed.map((c) => c.id), [d.id]);
  assert.deepEqual(JSON.parse(await call(client, "sandbox_exec_list", {})).map((c) => c.id), [d.id]);
  assert.equal(await call(client, "sandbox_exec_kill", { id: d.id }), `Command ${d.id} killed.`);
  const killed = await until("the kill", async () => { const s = last = await status(d.id); return s.status !== "running" && s; });
  assert.equal(killed.status, "failed", JSON.stringify(killed));
  await until("out on stdout", async () => (last = await call(client, "sandbox_exec_logs", { id: d.id })) === "out\n");
  assert.equal(await call(client, "sandbox_exec_logs", { id: d.id, stream: "stderr" }), "err\n");
  assert.match(await call(client, "sandbox_exec_logs", { id: d.id, stream: "both" }, true), /stream both/);
  const e = await detach(["sh", "-c", "exit 4"]);
  const done = await until("exit 4", async () => { const s = last = await status(e.id); return s.status !== "running" && s; });
  assert.deepEqual([done.status, done.exit_code], ["completed", 4]);
  assert.deepEqual(JSON.parse(await call(client, "sandbox_exec_list", { name })).map((c) => c.id), [d.id, e.id]);
  assert.match(await call(client, "sandbox_exec_status", { id: "no-such-id" }, true), /^Error: Detached command 'no-such-id' not found/);
  assert.match(await call(client, "sandbox_exec_kill", { id: "no-such-id" }, true), /no-such-id/);
  assert.match(await call(client, "sandbox_exec_detach", { name: "no-such-sandbox", command: ["true"] }, true), /no-such-sandbox/);
  console.log(`detached: ${d.id} ran, logged, was listed and killed; ${e.id} completed with exit code 4`);

  assert.equal(await call(client, "snapshot_list", {}), "[]");
  const take = await call(client, "snapshot_take", { sandbox: name, name: "snap-" + process.pid }, true);
  assert.match(take, /^Error: /, take);
  console.log(`snapshot_take of a base-image sandbox: ${take}`);
  assert.equal(await call(client, "snapshot_list", {}), "[]");
  assert.equal(await call(client, "snapshot_get", { name: "no-such-snap" }, true), "Error: Snapshot 'no-such-snap' not found");
  assert.equal(await call(client, "snapshot_restore", { name: "no-such-snap" }, true), "Error: Snapshot 'no-such-snap' not found");
  assert.match(await call(client, "snapshot_delete", { name: "no-such-snap" }, true), /^Error: .*no-such-snap/);
  assert.match(await call(client, "snapshot_take", { sandbox: "no-such-sandbox", name: "x" }, true), /no-such-sandbox/);

  // The success path on a root-disk sandbox (AK_SNAP_IMAGE, built by
  // sdk_test.sh): take, list, get, restore as a new sandbox that has the
  // file, delete.
  const disk = name + "-d";
  await call(client, "sandbox_create", { name: disk, image: process.env.AK_SNAP_IMAGE });
  await call(client, "sandbox_exec", { name: disk, command: ["sh", "-c", "echo kept > /mcp-snap.txt"], sudo: true });
  const snapName = "snap-" + process.pid;
  const taken = JSON.parse(await call(client, "snapshot_take", { sandbox: disk, name: snapName }));
  assert.deepEqual([taken.name, taken.sandbox, taken.base_image], [snapName, disk, process.env.AK_SNAP_IMAGE]);
  assert.deepEqual(JSON.parse(await call(client, "snapshot_list", {})).map((x) => x.name), [snapName]);
  assert.equal(JSON.parse(await call(client, "snapshot_get", { name: snapName })).sandbox, disk);
  const restoredAs = disk + "-r";
  assert.equal(await call(client, "snapshot_restore", { name: snapName, as_name: restoredAs }),
               `Restored snapshot '${snapName}' as sandbox '${restoredAs}'.`);
  assert.match(await call(client, "sandbox_exec", { name: restoredAs, command: ["cat", "/mcp-snap.txt"] }), /^kept\n?$/);
  await call(client, "sandbox_remove", { name: restoredAs });
  await call(client, "sandbox_remove", { name: disk });
  assert.equal(await call(client, "snapshot_delete", { name: snapName }), `Snapshot '${snapName}' deleted.`);
  assert.equal(await call(client, "snapshot_list", {}), "[]");
  assert.equal(await call(client, "snapshot_get", { name: snapName }, true), `Error: Snapshot '${snapName}' not found`);
  console.log(`snapshots: ${snapName} taken from ${disk}, listed, restored as ${restoredAs} with its file, deleted`);
}

async function main() {
  assert.equal(await oldClientVersion(), "2024-11-05");

  const tr = transport();
  let negotiated = null;
  tr.setProtocolVersion = (v) => { negotiated = v; }; // the client reports the server's choice here
  const client = new Client({ name: "ak-sdk-test", version: "1.0.0" });
  await client.connect(tr, LONG);
  assert.equal(negotiated, LATEST_PROTOCOL_VERSION);
  assert.equal(client.getServerVersion().name, "ak");
  assert.ok(client.getServerCapabilities().tools, JSON.stringify(client.getServerCapabilities()));

  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), AGENTKERNEL_TOOLS);
  for (const t of tools) assert.equal(t.inputSchema.type, "object", t.name);
  await client.ping();

  // sandbox_run: a fresh microVM per call.
  assert.equal(await call(client, "sandbox_run", { command: ["echo", "hi"] }), "hi\n");
  assert.equal(await call(client, "sandbox_run", { command: ["pwd"], cwd: "/tmp" }), "/tmp\n");
  const runFail = await call(client, "sandbox_run", { command: ["sh", "-c", "echo out; exit 7"] }, true);
  assert.match(runFail, /exit(ed)? (with )?code 7/, runFail);
  assert.match(runFail, /out/, runFail);

  // A sandbox's life.
  const name = "mcp-" + process.pid;
  assert.match(await call(client, "sandbox_create", { name }), new RegExp(`Sandbox '${name}' created and started`));
  await call(client, "sandbox_create", { name }, true); // the name is taken
  assert.equal(
    await call(client, "sandbox_exec", { name, command: ["sh", "-c", 'echo "$FOO"; pwd'], env: ["FOO=bar"], workdir: "/tmp" }),
    "bar\n/tmp\n");
  assert.equal((await call(client, "sandbox_exec", { name, command: ["id", "-u"], sudo: true })).trim(), "0");
  const execFail = await call(client, "sandbox_exec", { name, command: ["sh", "-c", "echo gone >&2; exit 3"] }, true);
  assert.match(execFail, /exit(ed)? (with )?code 3/, execFail);
  assert.match(execFail, /gone/, execFail);

  assert.match(await call(client, "sandbox_file_write", { name, path: "/tmp/a.txt", content: "héllo\n" }),
    /Wrote 7 bytes to '\/tmp\/a.txt'/);
  assert.equal(await call(client, "sandbox_file_read", { name, path: "/tmp/a.txt" }), "héllo\n");
  assert.match(await call(client, "sandbox_write_files", { name, files: { "/srv/w/b.txt": "bee", "/srv/w/c.txt": "sea" } }),
    /Wrote 2 file\(s\)/);
  assert.equal(await call(client, "sandbox_exec", { name, command: ["cat", "/srv/w/b.txt", "/srv/w/c.txt"] }), "beesea");
  const missing = await call(client, "sandbox_file_read", { name, path: "/tmp/nope" }, true);
  assert.match(missing, /^Error: /, missing);

  const row = (list) => list.split("\n").find((l) => l.startsWith(name + "\t"));
  // The scheduler's list is as of the executor's last status: one taken
  // while the create ran (state creating) may arrive after it returned, and
  // the next one (every 2 s) says running. Wait for that, not longer.
  let list = await call(client, "sandbox_list", {});
  for (let i = 0; i < 50 && row(list).split("\t")[1] === "creating"; i++) {
    await new Promise((r) => setTimeout(r, 200));
    list = await call(client, "sandbox_list", {});
  }
  assert.match(list, /^NAME\tSTATUS\tBACKEND\tIP\tPORTS\n/, list);
  assert.equal(row(list).split("\t")[1], "running", list);
  assert.equal(await call(client, "sandbox_stop", { name }), `Sandbox '${name}' stopped.`);
  assert.equal(row(await call(client, "sandbox_list", {})).split("\t")[1], "stopped");
  assert.equal(await call(client, "sandbox_stop", { name }), `Sandbox '${name}' is already stopped.`);
  assert.equal(await call(client, "sandbox_start", { name }), `Sandbox '${name}' started.`);
  assert.equal(await call(client, "sandbox_start", { name }), `Sandbox '${name}' is already running.`);
  // Serving again (the base image is an initramfs: its files do not outlive a stop).
  assert.equal(await call(client, "sandbox_exec", { name, command: ["echo", "back"] }), "back\n");

  // agentkernel's truncation: 108,894 bytes of output shown as its first and
  // last 8,000 bytes around "... [92894 bytes truncated] ...".
  const full = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join("");
  assert.equal(full.length, 108894);
  const want = full.slice(0, 8000) + `\n\n... [${full.length - 16000} bytes truncated] ...\n\n` + full.slice(-8000);
  assert.equal(await call(client, "sandbox_exec", { name, command: ["seq", "1", "20000"] }), want);
  assert.equal(await call(client, "sandbox_run", { command: ["seq", "1", "20000"] }), want);

  // A cut through a two-byte character at both ends: valid JSON, U+FFFD there.
  const cut = await call(client, "sandbox_exec", { name, command: ["sh", "-c", "printf x; yes é | head -n 33334 | tr -d '\\n'; printf y"] });
  assert.match(cut, /^x(é){3999}\uFFFD\n\n\.\.\. \[50670 bytes truncated\] \.\.\.\n\n\uFFFD(é){3999}y$/u,
    JSON.stringify([cut.length, cut.slice(3995, 4045), cut.slice(-4010, -3990)]));
  // Files too: a 100 KB file read back as agentkernel shows it; a binary one as base64.
  await call(client, "sandbox_file_write", { name, path: "/srv/big.txt", content: full });
  assert.equal(await call(client, "sandbox_file_read", { name, path: "/srv/big.txt" }), want);
  await call(client, "sandbox_exec", { name, command: ["sh", "-c", "printf '\\377\\000\\001' > /tmp/bin"] });
  assert.equal(await call(client, "sandbox_file_read", { name, path: "/tmp/bin" }), "[binary file, 3 bytes, base64 encoded]\n/wAB");

  // Two calls in flight at once and a ping between them: each gets its own answer.
  const [a, b, p] = await Promise.all([
    call(client, "sandbox_exec", { name, command: ["sh", "-c", "sleep 1; echo a"] }),
    call(client, "sandbox_exec", { name, command: ["echo", "b"] }),
    client.ping(LONG),
  ]);
  assert.deepEqual([a, b, p], ["a\n", "b\n", {}]);

  // Errors name what failed.
  assert.match(await call(client, "sandbox_exec", { name: "no-such-sandbox", command: ["true"] }, true), /no-such-sandbox/);
  assert.match(await call(client, "sandbox_exec", { name, command: [] }, true), /command is required/);
  assert.match(await call(client, "sandbox_run", { command: ["true"], image: "no-such-image" }, true), /no-such-image/);
  // An unknown tool is a protocol error, as the MCP spec has it (agentkernel answers isError).
  await assert.rejects(client.callTool({ name: "sandbox_nope", arguments: {} }), (e) => e.code === -32602 && /sandbox_nope/.test(e.message));
  const t0 = Date.now();
  const slow = await call(client, "sandbox_run", { command: ["sleep", "60"], timeout_ms: 3000 }, true);
  assert.match(slow, /timed out/, slow);
  assert.ok(Date.now() - t0 < 50000, `a 3 s timeout took ${Date.now() - t0} ms`);
  console.log(`sandbox_run of sleep 60 with timeout_ms 3000: isError after ${Date.now() - t0} ms`);
  assert.equal(await call(client, "sandbox_run", { command: ["sh", "-c", 'echo "$A"'], env: { A: "b c" }, network: false }), "b c\n");

  await detachedAndSnapshots(client, name);

  // sandbox_extend_ttl: a sandbox without a TTL gets one, "by" past now; then later by 30 min.
  const expiry = (t) => {
    const m = t.match(new RegExp(`^Extended TTL for sandbox '${name}'\\. New expiry: (\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ)$`));
    assert.ok(m, t);
    return Date.parse(m[1]);
  };
  const e1 = expiry(await call(client, "sandbox_extend_ttl", { name, by: "2h" }));
  assert.ok(Math.abs(e1 - (Date.now() + 7200e3)) < 120e3, `2h from now: ${new Date(e1).toISOString()}`);
  const e2 = expiry(await call(client, "sandbox_extend_ttl", { name, by: "30m" }));
  assert.ok(Math.abs(e2 - e1 - 1800e3) <= 1000, `30 min later: ${e1} -> ${e2}`);
  const e3 = expiry(await call(client, "sandbox_extend_ttl", { name }));
  assert.ok(Math.abs(e3 - e2 - 3600e3) <= 1000, `default 1h later: ${e2} -> ${e3}`);
  assert.match(await call(client, "sandbox_extend_ttl", { name, by: "forever" }, true), /by forever: want a duration/);
  assert.match(await call(client, "sandbox_extend_ttl", { name, by: "31d" }, true), /by 31d/);
  assert.match(await call(client, "sandbox_extend_ttl", { name: "no-such-sandbox" }, true), /no-such-sandbox/);

  assert.equal(await call(client, "sandbox_remove", { name }), `Sandbox '${name}' removed.`);
  list = await call(client, "sandbox_list", {});
  assert.equal(row(list), undefined, list);
  await call(client, "sandbox_exec", { name, command: ["true"] }, true);
  await closeAndCheck(client, tr);
}

main().then(
  () => console.log("sdk_test.cjs: all passed"),
  (e) => {
    console.error("FAIL:", e.stack || e);
    process.exit(1);
  });
