#!/usr/bin/env python3
"""A 200 MiB layer through the whole stack, from Debian's docker-registry on
loopback behind a throttling relay (so the pull takes seconds, not a blink):

- while `ak sandbox create` waits for the executor to pull the image,
  `ak sandbox info NAME` (GetSandbox through the scheduler) says the
  sandbox is creating and shows the pull: its reference, its state
  (pulling, then importing) and how many bytes are done; `ak sandbox list`
  (the scheduler's registry, from heartbeats) lists it so too;
- once created, the 200 MiB file's SHA-256 taken inside the VM is the one
  the test wrote (a pseudo-random but cheap pattern: one random MiB, each
  copy stamped with its index).

The kernel comes from the VM tests' cache ($AK_TEST_IMAGES) when it is
there."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pull_test import AK, MKLAYOUT, free_port, wait_port  # noqa: E402

NEED = ["docker-registry", "skopeo", "busybox"]
APPLETS = ["sh", "cat", "ls", "echo", "sha256sum", "stat", "true"]
BIG_MIB = 200
RELAY_BYTES_PER_S = 40 << 20


class Relay:
    """127.0.0.1:port → 127.0.0.1:target, the answers paced at `rate`
    bytes per second per connection."""

    def __init__(self, target, rate):
        self.target, self.rate = target, rate
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self.pipe, args=(c, u, 0), daemon=True).start()
            threading.Thread(target=self.pipe, args=(u, c, self.rate), daemon=True).start()

    @staticmethod
    def pipe(src, dst, rate):
        start, sent = time.monotonic(), 0
        try:
            while True:
                data = src.recv(256 << 10)
                if not data:
                    break
                dst.sendall(data)
                sent += len(data)
                if rate:
                    ahead = sent / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.sock.close()


@unittest.skipUnless(all(shutil.which(t) for t in NEED), "needs " + ", ".join(NEED) + " (tools/deps.sh)")
class BigLayer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="akbg-", dir="/tmp")
        cls.home = os.path.join(cls.tmp, "h")
        cls.procs = []
        os.makedirs(os.path.join(cls.home, "images"))
        cache = os.environ.get("AK_TEST_IMAGES", "/var/tmp/ak-test-images")
        if os.path.exists(os.path.join(cache, "kernel", "current")):
            subprocess.run(["cp", "-a", os.path.join(cache, "kernel"), os.path.join(cls.home, "images")], check=True)
        cls.env = dict(os.environ, AK_HOME=cls.home, HOME=cls.tmp)
        for k in ("AK_SCHEDULER", "AK_TOKEN", "DOCKER_CONFIG"):
            cls.env.pop(k, None)
        cls.port = cls.registry()
        cls.relay = Relay(cls.port, RELAY_BYTES_PER_S)
        cls.big_sha = cls.push_big()
        up = cls.ak("up", "--warm", "0", "--no-gateway", timeout=300)
        if up.returncode != 0:
            raise RuntimeError("ak up: " + up.stdout + up.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.ak("down", timeout=120)
        cls.relay.close()
        for p in cls.procs:
            p.kill()
            p.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def ak(cls, *args, timeout=600):
        return subprocess.run([AK, *args], capture_output=True, text=True, env=cls.env, timeout=timeout)

    @classmethod
    def registry(cls):
        port = free_port()
        cfg = os.path.join(cls.tmp, "registry.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\nlog:\n  level: warn\nstorage:\n"
                    f"  filesystem:\n    rootdirectory: {cls.tmp}/store\nhttp:\n  addr: 127.0.0.1:{port}\n")
        log = open(os.path.join(cls.tmp, "registry.log"), "w")
        cls.procs.append(subprocess.Popen(["docker-registry", "serve", cfg], stdout=log, stderr=log))
        wait_port(port)
        return port

    @classmethod
    def push_big(cls):
        """test/big:1 (busybox in one layer, the big file alone in an
        uncompressed second one) into the registry; the file's SHA-256."""
        big = os.path.join(cls.tmp, "big.bin")
        block = bytearray(os.urandom(1 << 20))
        h = hashlib.sha256()
        with open(big, "wb") as f:
            for i in range(BIG_MIB):
                block[:8] = i.to_bytes(8, "little")
                f.write(block)
                h.update(block)
        out = os.path.join(cls.tmp, "src-big")
        entries = [{"path": "bin/busybox", "src": shutil.which("busybox"), "mode": 0o755}]
        entries += [{"path": "bin/" + a, "type": "symlink", "link": "busybox"} for a in APPLETS]
        spec = {"out": out, "tag": "1", "config": {"Env": ["PATH=/bin"]},
                "layers": [{"compression": "gzip", "entries": entries},
                           {"compression": "none", "entries": [
                               {"path": "data", "type": "dir", "mode": 0o755},
                               {"path": "data/big.bin", "src": big, "mode": 0o644}]}]}
        sp = os.path.join(cls.tmp, "big.json")
        with open(sp, "w") as f:
            json.dump(spec, f)
        subprocess.run(["python3", MKLAYOUT, sp], check=True, capture_output=True)
        os.unlink(big)
        pol = os.path.join(cls.tmp, "policy.json")
        with open(pol, "w") as f:
            f.write('{"default":[{"type":"insecureAcceptAnything"}]}')
        subprocess.run(["skopeo", "--policy", pol, "copy", "--dest-tls-verify=false", f"oci:{out}:1",
                        f"docker://127.0.0.1:{cls.port}/test/big:1"], check=True, capture_output=True,
                       timeout=300)
        shutil.rmtree(out)
        return h.hexdigest()

    def test_big_layer_pull_progress_in_info_then_checksum_in_the_vm(self):
        ref = f"127.0.0.1:{self.relay.port}/test/big:1"
        res = {}

        def create():
            res["create"] = self.ak("sandbox", "create", "big", "--image", ref)

        t = threading.Thread(target=create)
        t.start()
        seen, texts, listed = [], [], []
        try:
            while t.is_alive():
                r = self.ak("sandbox", "info", "big", "--json", timeout=60)
                if r.returncode == 0:
                    info = json.loads(r.stdout)
                    if info["image_pull"]:
                        seen.append((info["state"], info["image_pull"]))
                        if len(texts) < 3:
                            texts.append(self.ak("sandbox", "info", "big", timeout=60).stdout)
                r = self.ak("sandbox", "list", "--json", timeout=60)
                if r.returncode == 0:
                    listed += [x for x in json.loads(r.stdout) if x["name"] == "big" and x["image_pull"]]
                time.sleep(0.2)
            t.join()
            c = res["create"]
            self.assertEqual(c.returncode, 0, c.stdout + c.stderr)
            # While the create waited: creating, with the pull and its progress.
            self.assertTrue(seen, "ak sandbox info never showed the pull the create waited on")
            states = [p["state"] for _, p in seen]
            self.assertTrue(all(s == "creating" for s, _ in seen), seen)
            self.assertTrue(all(p["image"] == ref for _, p in seen), seen)
            self.assertTrue(set(states) <= {"pulling", "importing"}, states)
            self.assertIn("pulling", states)
            pulling = [p for _, p in seen if p["state"] == "pulling"]
            done = [p["bytes_done"] for p in pulling]
            self.assertEqual(done, sorted(done), "bytes_done went backwards")
            self.assertTrue(any(0 < p["bytes_done"] < p["bytes_total"] for p in pulling),
                            f"no sample caught the pull part-way: {pulling}")
            self.assertGreaterEqual(max(p["bytes_total"] for _, p in seen), BIG_MIB << 20)
            self.assertTrue(any("waiting for the image pull " + ref + ": " in x for x in texts), texts)
            # The scheduler's list shows it too, from the executor's heartbeats.
            self.assertTrue(listed, "ak sandbox list never showed the waiting create")
            self.assertTrue(all(x["state"] == "creating" and x["image_pull"]["image"] == ref for x in listed), listed)
            # Created: the pull is no longer shown.
            info = json.loads(self.ak("sandbox", "info", "big", "--json").stdout)
            self.assertEqual(info["state"], "running", info)
            self.assertIsNone(info["image_pull"], info)
            # The big file, byte for byte, inside the VM.
            r = self.ak("exec", "big", "--", "sha256sum", "/data/big.bin", timeout=600)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stdout.split()[0], self.big_sha)
        finally:
            t.join()
            self.ak("sandbox", "remove", "big")


if __name__ == "__main__":
    unittest.main(verbosity=2)
