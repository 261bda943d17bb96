// agentkernel's own Node SDK (npm agentkernel@0.18.1), unchanged, against
// ak-gateway: run, run streaming, sandboxes, exec, files, errors.
// Env: AK_NPM_DIR (where tools/deps.sh installed it), AGENTKERNEL_BASE_URL,
// AGENTKERNEL_API_KEY.
const path = require("path");
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

  await client.removeSandbox(name);
  await expectError(NotFoundError, client.getSandbox(name), "get removed");
  console.log("sdk_test: all passed");
}

main().catch((e) => {
  console.error("sdk_test FAILED:", e);
  process.exit(1);
});
