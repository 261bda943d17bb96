// agentkernel's own Node SDK (npm agentkernel@0.18.1), unchanged, against
// ak-gateway: run, run streaming, sandboxes, exec, files, TTL, snapshots, errors.
// Env: AK_NPM_DIR (where tools/deps.sh installed it), AGENTKERNEL_BASE_URL,
// AGENTKERNEL_API_KEY, AK_BIN (the ak CLI, for `ak sandbox extend`).
const path = require("path");
const { execFileSync } = require("child_process");
const assert = require("assert/strict");
const sdk = require(path.join(process.env.AK_NPM_DIR, "node_modules", "agentkernel"));
const { AgentKernel, AuthError, NotFoundError, ValidationError, ServerError } = sdk;

const client = new AgentKernel({ timeout: 120000 });
const name = "sdk-" + process.pid;

async function expectError(cls, p, what) {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof cls, `${what}: got ${e.name}: ${e.message}`);
    return e;
  }
  assert.fail(`${what}: no error`);
}

async function main() {
  assert.equal(await client.health(), "ok");

  const out = await client.run(["sh", "-c", "echo hello; echo err >&2"]);
  assert.match(out.output, /hello/);
  assert.match(out.output, /err/);
  // A failing command: 409, which the SDK reports as a ServerError with our message.
  const e409 = await expectError(ServerError, client.run(["sh", "-c", "exit 3"]), "run exit 3");
  assert.match(e409.message, /exited with code 3/);
  await expectError(ValidationError, client.run([]), "run of []");

  // Streaming: events in order, output as it comes, done with the exit code.
  const events = [];
  for await (const ev of client.runStream(["sh", "-c", "echo one; sleep 1; echo two >&2; exit 4"])) events.push(ev);
  const types = events.map((e) => e.type);
  assert.equal(types[0], "started", types.join(","));
  assert.ok(types.includes("progress"), types.join(","));
  const outs = events.filter((e) => e.type === "output");
  assert.ok(outs.some((e) => e.data.stream === "stdout" && String(e.data.data).includes("one")), JSON.stringify(outs));
  assert.ok(outs.some((e) => e.data.stream === "stderr" && String(e.data.data).includes("two")), JSON.stringify(outs));
  const done = events[events.length - 1];
  assert.equal(done.type, "done");
  assert.equal(done.data.exit_code, 4);
  assert.equal(done.data.success, false);

  // Sandboxes.
  const created = await client.createSandbox(name);
  assert.equal(created.name, name);
  assert.equal(created.status, "running");
  const list = await client.listSandboxes();
  assert.ok(list.some((s) => s.name === name), JSON.stringify(list));
  const info = await client.getSandbox(name);
  assert.equal(info.name, name);
  // A UUIDv7 per sandbox, as agentkernel gives; by-uuid finds the same one.
  assert.match(created.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, JSON.stringify(created));
  assert.equal(info.uuid, created.uuid);
  const byUuid = await client.getSandboxByUuid(created.uuid);
  assert.equal(byUuid.name, name);
  await expectError(NotFoundError, client.getSandboxByUuid("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"), "unknown uuid");
  const ex = await client.execInSandbox(name, ["sh", "-c", 'echo "$FOO" && pwd'], { env: { FOO: "bar" }, workdir: "/tmp" });
  assert.equal(ex.output, "bar\n/tmp\n");
  const root = await client.execInSandbox(name, ["id", "-u"], { sudo: true });
  assert.equal(root.output.trim(), "0");

  // Files: utf8, base64 (binary back as base64), batch, delete.
  await client.writeFile(name, "tmp/sdk/hello.txt", "héllo\n");
  let f = await client.readFile(name, "tmp/sdk/hello.txt");
  assert.deepEqual(f, { content: "héllo\n", encoding: "utf8", size: 7 });
  const bin = Buffer.from([0, 1, 2, 255, 254]);
  await client.writeFile(name, "tmp/sdk/bin", bin.toString("base64"), { encoding: "base64" });
  f = await client.readFile(name, "tmp/sdk/bin");
  assert.equal(f.encoding, "base64");
  assert.equal(f.size, 5);
  assert.deepEqual(Buffer.from(f.content, "base64"), bin);
  const w = await client.writeFiles(name, { "/tmp/sdk/a.txt": "A", "tmp/sdk/d/b.txt": "B" });
  assert.equal(w.written, 2);
  const cat = await client.execInSandbox(name, ["cat", "/tmp/sdk/a.txt", "/tmp/sdk/d/b.txt"]);
  assert.equal(cat.output, "AB");
  await client.deleteFile(name, "tmp/sdk/a.txt");
  await expectError(NotFoundError, client.readFile(name, "tmp/sdk/a.txt"), "read of a deleted file");

  // TTL: a sandbox without one gets "1h" from now; the next extension counts
  // from that expiry; the CLI's `ak sandbox extend` moves the same expiry.
  const t0 = Date.now();
  const e1 = await client.extendTtl(name, { by: "1h" });
  const x1 = Date.parse(e1.expires_at);
  assert.ok(x1 >= t0 - 1000 + 3600e3 && x1 <= Date.now() + 3600e3, JSON.stringify(e1));
  const e2 = await client.extendTtl(name, { by: "30m" });
  assert.equal(Date.parse(e2.expires_at) - x1, 1800e3, JSON.stringify([e1, e2]));
  assert.equal((await client.getSandbox(name)).expires_at, e2.expires_at);
  await expectError(ValidationError, client.extendTtl(name, { by: "forever" }), "extend by forever");
  const far = await expectError(ValidationError, client.extendTtl(name, { by: "30d" }), "extend past 30 days");
  assert.match(far.message, /at most 30 days/);
  await expectError(NotFoundError, client.extendTtl("no-such-" + process.pid, { by: "1h" }), "extend unknown");
  const cli = execFileSync(process.env.AK_BIN, ["sandbox", "extend", name, "--ttl", "60"], { encoding: "utf8" });
  assert.match(cli, new RegExp(`sandbox ${name} expires at \\d{4}-`), cli);
  const x3 = Date.parse((await client.getSandbox(name)).expires_at);
  assert.equal(x3 - Date.parse(e2.expires_at), 60e3);

  // Audit: the sandbox's events (its own only), and GET /audit (the tenant's),
  // from the auditor's file destination, which the auditor fills shortly after.
  let logs = [];
  for (let i = 0; i < 100 && !logs.some((e) => e.type_name === "sandbox_created"); i++) {
    logs = await client.getSandboxLogs(name);
    if (!logs.some((e) => e.type_name === "sandbox_created")) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(logs.some((e) => e.type_name === "sandbox_created"), JSON.stringify(logs).slice(0, 2000));
  assert.ok(logs.every((e) => e.resource && e.resource.resource_id === name), JSON.stringify(logs).slice(0, 2000));
  await expectError(NotFoundError, client.getSandboxLogs("no-such-" + process.pid), "logs of unknown");
  const ar = await fetch(process.env.AGENTKERNEL_BASE_URL + "/audit", {
    headers: { Authorization: "Bearer " + process.env.AGENTKERNEL_API_KEY },
  });
  assert.equal(ar.status, 200);
  const all = (await ar.json()).data;
  assert.ok(Array.isArray(all) && all.length >= logs.length, JSON.stringify(all).slice(0, 500));
  assert.ok(all.some((e) => e.uid === logs[0].uid));

  // Detached commands: start, running then completed with its exit code,
  // logs of both streams, list, kill (a killed command is "failed").
  const det = await client.execDetached(name, ["sh", "-c", "echo a; echo e >&2; sleep 2; echo b; exit 3"]);
  assert.equal(det.sandbox, name);
  assert.deepEqual(det.command, ["sh", "-c", "echo a; echo e >&2; sleep 2; echo b; exit 3"]);
  assert.equal(det.status, "running");
  assert.equal(det.exit_code, null);
  assert.ok(det.pid > 1, JSON.stringify(det));
  assert.ok(!Number.isNaN(Date.parse(det.started_at)), det.started_at);
  let st = det;
  for (let i = 0; i < 300 && st.status === "running"; i++) {
    await new Promise((r) => setTimeout(r, 200));
    st = await client.detachedStatus(name, det.id);
  }
  assert.equal(st.status, "completed", JSON.stringify(st));
  assert.equal(st.exit_code, 3);
  assert.deepEqual(await client.detachedLogs(name, det.id), { stdout: "a\nb\n" });
  assert.deepEqual(await client.detachedLogs(name, det.id, "stderr"), { stderr: "e\n" });
  // A running command's logs show its output so far.
  const live = await client.execDetached(name, ["sh", "-c", "echo early; echo warn >&2; sleep 100"]);
  let lo = {};
  for (let i = 0; i < 100 && lo.stdout !== "early\n"; i++) {
    await new Promise((r) => setTimeout(r, 200));
    lo = await client.detachedLogs(name, live.id);
  }
  assert.deepEqual(lo, { stdout: "early\n" });
  assert.deepEqual(await client.detachedLogs(name, live.id, "stderr"), { stderr: "warn\n" });
  assert.equal((await client.detachedStatus(name, live.id)).status, "running");
  assert.equal(await client.detachedKill(name, live.id), "Command killed");
  const sleeper = await client.execDetached(name, ["sleep", "100"]);
  const dl = await client.detachedList(name);
  assert.deepEqual(dl.map((d) => d.id).slice(-3), [det.id, live.id, sleeper.id]);
  assert.equal(await client.detachedKill(name, sleeper.id), "Command killed");
  const killed = await client.detachedStatus(name, sleeper.id);
  assert.equal(killed.status, "failed", JSON.stringify(killed));
  await expectError(NotFoundError, client.detachedStatus(name, "0123abcd"), "status of an unknown id");
  await expectError(ValidationError, client.detachedStatus(name, "../../etc"), "a bad id");

  // Session API.
  const sb = await client.sandbox(name + "-s");
  assert.equal((await sb.run(["echo", "s"])).output, "s\n");
  assert.equal((await sb.info()).name, name + "-s");
  await sb.remove();

  // Errors.
  await expectError(NotFoundError, client.getSandbox("no-such-" + process.pid), "get unknown");
  await expectError(NotFoundError, client.execInSandbox("no-such-" + process.pid, ["true"]), "exec unknown");
  const bad = new AgentKernel({ apiKey: "not-a-key-not-a-key", timeout: 10000 });
  await expectError(AuthError, bad.listSandboxes(), "bad key");

  // Snapshots of a root-disk sandbox (AK_SNAP_IMAGE, built by stack_test.sh):
  // take (named, and named by the scheduler), list, get, restore as a sandbox
  // that has the file, delete. A base-image sandbox has no disk to save.
  const noDisk = await expectError(ServerError, client.takeSnapshot({ sandbox: name }), "snapshot of a base sandbox");
  assert.match(noDisk.message, /no root disk/);
  const disk = name + "-d";
  await client.createSandbox(disk, { image: process.env.AK_SNAP_IMAGE });
  await client.execInSandbox(disk, ["sh", "-c", "echo kept > /sdk-snap.txt"], { sudo: true });
  const snapName = name + "-snap";
  const snap = await client.takeSnapshot({ sandbox: disk, name: snapName });
  assert.equal(snap.name, snapName, JSON.stringify(snap));
  assert.equal(snap.sandbox, disk);
  assert.equal(snap.base_image, process.env.AK_SNAP_IMAGE);
  assert.ok(snap.image_tag && snap.backend && Date.parse(snap.created_at) > 0, JSON.stringify(snap));
  const auto = await client.takeSnapshot({ sandbox: disk });
  assert.ok(auto.name.startsWith(disk + "-"), JSON.stringify(auto));
  const snaps = await client.listSnapshots();
  assert.ok(snaps.some((s) => s.name === snapName) && snaps.some((s) => s.name === auto.name), JSON.stringify(snaps));
  assert.equal((await client.getSnapshot(snapName)).sandbox, disk);
  await expectError(NotFoundError, client.getSnapshot("no-such-" + process.pid), "get unknown snapshot");
  await expectError(NotFoundError, client.takeSnapshot({ sandbox: "no-such-" + process.pid }), "snapshot of unknown");
  const restored = await client.restoreSnapshot(snapName);
  assert.equal(restored.name, snapName, JSON.stringify(restored));
  assert.equal((await client.execInSandbox(snapName, ["cat", "/sdk-snap.txt"])).output, "kept\n");
  await client.removeSandbox(snapName);
  await client.removeSandbox(disk);
  await client.deleteSnapshot(snapName);
  await client.deleteSnapshot(auto.name);
  await expectError(NotFoundError, client.getSnapshot(snapName), "get deleted snapshot");
  await expectError(NotFoundError, client.deleteSnapshot(snapName), "delete deleted snapshot");

  await client.removeSandbox(name);
  await expectError(NotFoundError, client.getSandbox(name), "get removed");
  console.log("sdk_test: all passed");
}

main().catch((e) => {
  console.error("sdk_test FAILED:", e);
  process.exit(1);
});
