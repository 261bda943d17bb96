#!/usr/bin/env python3
"""Image pull progress through the gateway and the MCP server, against the
stack stack_test.sh started: a create of a reference the executor lacks,
from a fake registry (vmm/image/oci/testdata/fake_registry.py --hang) that
sends half of the layer and then stalls, waits on the pull; meanwhile
GET /sandboxes/{name} and GET /sandboxes (within a heartbeat: the scheduler
lists a waiting create from its executor's status) show it with ak's
image_pull object
{image, state "pulling", bytes_done, bytes_total}, and the MCP server's
sandbox_list lists it under IMAGE PULLS after agentkernel's table. Env: GW
(host:port), KEY, AK_BIN, FAKE, MAKE (the registry and image scripts)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

GW, KEY, AK = os.environ["GW"], os.environ["KEY"], os.environ["AK_BIN"]
FAKE, MAKE = os.environ["FAKE"], os.environ["MAKE"]
NAME = "gwpull"
failures = []


def get(path):
    r = urllib.request.Request(f"http://{GW}{path}", headers={"Authorization": "Bearer " + KEY})
    with urllib.request.urlopen(r, timeout=30) as resp:
        return json.loads(resp.read())


def check(what, ok, detail):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}: {detail}")


def mcp_list():
    lines = [
        {"jsonrpc": "2.0", "id": 0, "method": "initialize",
         "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "sandbox_list", "arguments": {}}},
    ]
    out = subprocess.run([AK, "mcp-server"], input="".join(json.dumps(l) + "\n" for l in lines),
                         capture_output=True, text=True, timeout=60).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("id") == 1:
            return "".join(c.get("text", "") for c in msg["result"]["content"])
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="akgwp-")
    procs = []
    try:
        src = os.path.join(tmp, "src")
        subprocess.run(["python3", MAKE, src, "v1", "--layers", "1", "--layer-bytes", "3000000"], check=True,
                       capture_output=True)
        portfile = os.path.join(tmp, "port")
        reg = subprocess.Popen(["python3", FAKE, src, "--log", os.path.join(tmp, "log"), "--port-file", portfile,
                                "--hang"])
        procs.append(reg)
        end = time.time() + 20
        while not os.path.exists(portfile) and time.time() < end:
            time.sleep(0.05)
        with open(portfile) as f:
            ref = f"127.0.0.1:{int(f.read())}/gw/pp:v1"
        create = subprocess.Popen([AK, "sandbox", "create", NAME, "--image", ref, "-q"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        procs.append(create)
        one, end = {}, time.time() + 120
        while time.time() < end:
            try:
                one = get(f"/sandboxes/{NAME}")
            except urllib.error.HTTPError:
                one = {}
            pull = (one.get("data") or {}).get("image_pull") or {}
            if pull.get("bytes_done", 0) > 0:
                break
            time.sleep(0.3)
        pull = (one.get("data") or {}).get("image_pull")
        check("GET /sandboxes/{name} image_pull", pull is not None and pull["image"] == ref and
              pull["state"] == "pulling" and 0 < pull["bytes_done"] < pull["bytes_total"], one)
        # The scheduler lists a waiting create from its executor's
        # heartbeats (GetSandbox asks the executor): it shows up within one.
        listed, end = [], time.time() + 30
        while not listed and time.time() < end:
            listed = [s for s in get("/sandboxes").get("data", []) if s.get("name") == NAME]
            time.sleep(0.3)
        lp = listed[0].get("image_pull") if listed else None
        check("GET /sandboxes image_pull", lp is not None and lp["image"] == ref and lp["state"] == "pulling",
              listed)
        text = mcp_list()
        row = [l for l in text.splitlines() if l.startswith(NAME + "\t" + ref + "\tpulling\t")]
        check("MCP sandbox_list IMAGE PULLS", "IMAGE PULLS" in text and len(row) == 1, text)
        # The registry goes: the pull fails, the create ends with its words.
        reg.kill()
        reg.wait()
        try:
            _, err = create.communicate(timeout=180)
            check("create fails once the registry is gone", create.returncode != 0, err)
        except subprocess.TimeoutExpired:
            check("create ends once the registry is gone", False, "still waiting after 180 s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run([AK, "sandbox", "remove", NAME], capture_output=True, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        sys.exit(1)
    print("pull_progress_test: all passed")


if __name__ == "__main__":
    main()
