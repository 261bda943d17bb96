#!/usr/bin/env python3
"""Pull on a miss through the whole stack (ak -> scheduler -> executor), from
Debian's docker-registry on loopback fed by skopeo with an image made here
(a static busybox, its applets and /etc/marker: vmm/image/testdata/
mklayout.py). ak run --image REF pulls once and runs in the image; three
concurrent creates of one reference the node lacks cost one pull (the
registry's access log counts manifest GETs); an unknown tag reaches the
client as NOT_FOUND with the registry's words; with a second executor
whose store is empty, creates of a reference the first has go to the
first; a snapshot taken with --push on the first executor is created on a
second one (picked by a node selector), which pulls the ak disk image and
reads the file written on the first; ak status (GetStatus
through the scheduler) shows the failed pull; and an executor with a warm
pool of a reference (--pool REF/PROFILE) pulls it and serves a create of
it from the pool. The kernel comes from the VM
tests' cache ($AK_TEST_IMAGES) when it is there."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.join(os.environ.get("TEST_SRCDIR", ""), os.environ.get("TEST_WORKSPACE", "ak")) \
    if os.environ.get("TEST_SRCDIR") else os.getcwd()
AK = os.path.join(ROOT, "cli", "ak")
EXECUTOR = os.path.join(ROOT, "services", "executor", "ak-executor")
MKLAYOUT = os.path.join(ROOT, "vmm", "image", "testdata", "mklayout.py")
NEED = ["docker-registry", "skopeo", "busybox", "zstd"]
APPLETS = ["sh", "cat", "ls", "echo", "id", "pwd", "env", "true"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@unittest.skipUnless(all(shutil.which(t) for t in NEED), "needs " + ", ".join(NEED) + " (tools/deps.sh)")
class PullOnMiss(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="akpl-", dir="/tmp")
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
        cls.push("busy", "1", "marker from the registry")
        cls.push("busy2", "1", "second image")
        cls.push("warm", "1", "from a warm pool")
        cls.push("cfg", "1", "configured", config={"Env": ["PATH=/bin", "GREETING=from the image", "KEEP=image"],
                                                   "WorkingDir": "/work", "User": "app:staff",
                                                   "Entrypoint": ["/bin/sh", "-c"],
                                                   "Cmd": ["cat /etc/marker; pwd; echo \"$GREETING\""]},
                 extra=[{"path": "work", "type": "dir", "mode": 0o777},
                        {"path": "etc/passwd", "data": "root:x:0:0:root:/root:/bin/sh\napp:x:1234:1000::/work:/bin/sh\n"},
                        {"path": "etc/group", "data": "root:x:0:\nstaff:x:2345:app\n"}])
        up = cls.ak("up", "--warm", "0", timeout=300)
        if up.returncode != 0:
            raise RuntimeError("ak up: " + up.stdout + up.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.ak("down", timeout=120)
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
            f.write("version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n"
                    f"  filesystem:\n    rootdirectory: {cls.tmp}/store\nhttp:\n  addr: 127.0.0.1:{port}\n")
        cls.reglog = os.path.join(cls.tmp, "registry.log")
        with open(cls.reglog, "w") as logf:
            cls.procs.append(subprocess.Popen(["docker-registry", "serve", cfg], stdout=logf, stderr=logf))
        wait_port(port)
        return port

    @classmethod
    def push(cls, repo, tag, marker, config=None, extra=()):
        out = os.path.join(cls.tmp, "src-" + repo)
        entries = [{"path": "bin/busybox", "src": shutil.which("busybox"), "mode": 0o755}]
        entries += [{"path": "bin/" + a, "type": "symlink", "link": "busybox"} for a in APPLETS]
        entries += [{"path": "etc/marker", "data": marker + "\n"}, *extra]
        spec = {"out": out, "tag": tag, "config": config or {"Env": ["PATH=/bin"]},
                "layers": [{"compression": "gzip", "entries": entries}]}
        sp = os.path.join(cls.tmp, repo + ".json")
        with open(sp, "w") as f:
            json.dump(spec, f)
        subprocess.run(["python3", MKLAYOUT, sp], check=True, capture_output=True)
        pol = os.path.join(cls.tmp, "policy.json")
        with open(pol, "w") as f:
            f.write('{"default":[{"type":"insecureAcceptAnything"}]}')
        subprocess.run(["skopeo", "--policy", pol, "copy", "--dest-tls-verify=false", f"oci:{out}:{tag}",
                        f"docker://127.0.0.1:{cls.port}/test/{repo}:{tag}"], check=True, capture_output=True,
                       timeout=120)

    def manifest_gets(self, repo, tag):
        with open(self.reglog, errors="replace") as f:
            text = f.read()
        return len(re.findall(rf'"GET /v2/test/{repo}/manifests/{tag} HTTP', text))

    def images(self):
        st = json.loads(self.ak("status", "--json").stdout)
        return [i for x in st["executors"] for i in x["images"]]

    def test_1_run_pulls_once_and_runs_in_the_image(self):
        ref = f"127.0.0.1:{self.port}/test/busy:1"
        before = self.manifest_gets("busy", "1")
        r = self.ak("run", "--image", ref, "--", "cat", "/etc/marker")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), "marker from the registry")
        self.assertEqual(self.manifest_gets("busy", "1") - before, 1)
        # Now on the node: reported under the reference, run again without a pull.
        end = time.time() + 15
        while ref not in self.images() and time.time() < end:
            time.sleep(0.2)
        self.assertIn(ref, self.images())
        r = self.ak("run", "--image", ref, "--", "cat", "/etc/marker")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.manifest_gets("busy", "1") - before, 1)
        listing = self.ak("image", "list").stdout
        self.assertIn(ref, listing)

    def test_2_concurrent_creates_share_one_pull(self):
        ref = f"127.0.0.1:{self.port}/test/busy2:1"
        self.assertEqual(self.manifest_gets("busy2", "1"), 0)
        res = {}

        def create(i):
            res[i] = self.ak("sandbox", "create", f"pl{i}", "--image", ref)
        ts = [threading.Thread(target=create, args=(i,)) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        try:
            for i in range(3):
                self.assertEqual(res[i].returncode, 0, res[i].stdout + res[i].stderr)
            self.assertEqual(self.manifest_gets("busy2", "1"), 1, "three creates, one pull")
            r = self.ak("exec", "pl2", "--", "cat", "/etc/marker")
            self.assertEqual(r.stdout.strip(), "second image", r.stderr)
        finally:
            for i in range(3):
                self.ak("sandbox", "remove", f"pl{i}")

    def test_3_unknown_tag_is_not_found_with_the_registrys_words(self):
        ref = f"127.0.0.1:{self.port}/test/busy:nope"
        r = self.ak("run", "--image", ref, "--", "true")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("NOT_FOUND", r.stderr)
        self.assertIn("test/busy", r.stderr)
        self.assertIn("not found", r.stderr)
        # GetStatus (through the scheduler: ak status) shows the failed pull
        # and why, from the next heartbeat on.
        end, pulls = time.time() + 20, []
        while time.time() < end:
            st = json.loads(self.ak("status", "--json").stdout)
            pulls = [p for x in st["executors"] for p in x["pulls"] if p["image"] == ref]
            if pulls:
                break
            time.sleep(0.5)
        self.assertEqual(len(pulls), 1, pulls)
        self.assertEqual(pulls[0]["state"], "failed")
        self.assertIn("not found", pulls[0]["error"])
        self.assertIn(f"pull {ref}: failed", self.ak("status").stdout)


    def test_5_image_config_env_workdir_user(self):
        ref = f"127.0.0.1:{self.port}/test/cfg:1"
        r = self.ak("sandbox", "create", "cfg", "--image", ref, "-e", "KEEP=sandbox")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        try:
            # Without --sudo: the image's User (app:staff, by its own
            # passwd and group), in its WorkingDir, its Env under the sandbox's.
            r = self.ak("exec", "cfg", "--", "sh", "-c", 'id -u; id -g; pwd; echo "$GREETING"; echo "$KEEP"')
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stdout.split("\n")[:5], ["1234", "2345", "/work", "from the image", "sandbox"])
            # A request's env and workdir still win.
            r = self.ak("exec", "cfg", "-e", "GREETING=asked", "-w", "/", "--", "sh", "-c",
                        'pwd; echo "$GREETING"')
            self.assertEqual(r.stdout.split("\n")[:2], ["/", "asked"], r.stderr)
            r = self.ak("exec", "cfg", "--sudo", "--", "sh", "-c", "id -u; pwd")
            self.assertEqual(r.stdout.split("\n")[:2], ["0", "/work"], r.stderr)
        finally:
            self.ak("sandbox", "remove", "cfg")
        # ak run (as root, agentkernel's run) starts in the WorkingDir with the Env.
        r = self.ak("run", "--image", ref, "--", "sh", "-c", 'pwd; echo "$GREETING"')
        self.assertEqual(r.stdout.split("\n")[:2], ["/work", "from the image"], r.stderr)
        # No command: the image's Entrypoint + Cmd, as docker run.
        r = self.ak("run", "--image", ref)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.split("\n")[:3], ["configured", "/work", "from the image"], r.stderr)
        # An image without them: refused, saying so.
        r = self.ak("run", "--image", f"127.0.0.1:{self.port}/test/busy:1")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no Entrypoint or Cmd", r.stderr)

    def start_executor(self, name, *extra):
        """A second executor with an empty store (the kernel copied) on the
        stack's scheduler; (process, state dir, log) once ak status lists it."""
        state = tempfile.mkdtemp(prefix="akp" + name[:2] + "-", dir="/tmp")
        images = os.path.join(self.tmp, "images-" + name)
        os.makedirs(images)
        kernel = os.path.join(self.home, "images", "kernel")
        if os.path.exists(kernel):
            subprocess.run(["cp", "-a", kernel, images], check=True)
        run = os.path.join(self.home, "run")
        log = open(os.path.join(self.tmp, "executor-" + name + ".log"), "w")
        proc = subprocess.Popen([EXECUTOR, "--listen", "unix:" + os.path.join(state, "x.sock"), "--state-dir", state,
                                 "--images", images, "--scheduler", "unix:" + os.path.join(run, "scheduler.sock"),
                                 "--scheduler-token-file", os.path.join(run, "executor-token"),
                                 "--executor-id", name, *extra], stdout=log, stderr=log, env=self.env)
        end, ids = time.time() + 30, []
        while time.time() < end and proc.poll() is None:
            ids = [x["id"] for x in json.loads(self.ak("status", "--json").stdout)["executors"]]
            if name in ids:
                break
            time.sleep(0.3)
        if name not in ids:
            proc.kill()
            proc.wait()
            log.close()
            with open(log.name) as f:
                self.fail(f"executor {name} never registered: {f.read()}")
        return proc, state, log

    def stop_executor(self, proc, state, log):
        proc.terminate()
        proc.wait(timeout=120)
        log.close()
        shutil.rmtree(state, ignore_errors=True)

    def test_7_warm_pool_of_a_reference(self):
        # The pool's key is a reference (it holds '/'): split at the last '/'.
        ref = f"127.0.0.1:{self.port}/test/warm:1"
        proc, state, log = self.start_executor("warm", "--pool", ref + "/restrictive", "--min-warm", "1",
                                               "--max-warm", "1")
        try:
            # The pool thread pulls the reference (the node lacks it), then
            # boots a VM of it.
            end, pool = time.time() + 600, {}
            while time.time() < end:
                st = json.loads(self.ak("status", "--json").stdout)
                x = [x for x in st["executors"] if x["id"] == "warm"]
                pool = x[0]["pools"][0] if x and x[0]["pools"] else {}
                if pool.get("ready", 0) >= 1:
                    break
                time.sleep(1)
            with open(log.name) as f:
                self.assertEqual(pool.get("ready"), 1, f"{pool}: {f.read()}")
            self.assertEqual(pool["image"], ref)
            self.assertEqual(pool["profile"], "restrictive")
            self.assertIn(ref, x[0]["images"])
            self.assertEqual(self.manifest_gets("warm", "1"), 1)
            # The scheduler places it where the image is; it takes the warm VM.
            r = self.ak("sandbox", "create", "wp", "--image", ref, "--profile", "restrictive")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            try:
                self.assertIn("created sandbox wp on warm (warm)", r.stdout)
                info = json.loads(self.ak("sandbox", "info", "wp", "--json").stdout)
                self.assertTrue(info["from_pool"], info)
                r = self.ak("exec", "wp", "--", "cat", "/etc/marker")
                self.assertEqual(r.stdout.strip(), "from a warm pool", r.stderr)
            finally:
                self.ak("sandbox", "remove", "wp")
            self.assertEqual(self.manifest_gets("warm", "1"), 1, "the pool's pull was the only one")
        finally:
            self.stop_executor(proc, state, log)

    def test_8_snapshot_pushed_and_restored_on_another_executor(self):
        # A sandbox of busy:1 on the stack's executor ("local", the only one
        # now) gets a file; its snapshot goes to the registry as an ak disk
        # image; a second executor ("bnode", label node=b, empty store) is
        # picked by a node selector, pulls it and reads the file back.
        ref = f"127.0.0.1:{self.port}/test/busy:1"
        dest = f"127.0.0.1:{self.port}/snaps/busy-snap:1"
        marker = f"written on A by {os.getpid()}"
        r = self.ak("sandbox", "create", "snapsrc", "--image", ref)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        try:
            r = self.ak("exec", "snapsrc", "--sudo", "--", "sh", "-c", f"echo '{marker}' > /kept.txt")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            # A registry that is not there: the registry's reason, the snapshot kept.
            closed = free_port()
            r = self.ak("snapshot", "take", "snapsrc", "snap-x", "--push", f"127.0.0.1:{closed}/x/y:1")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("snapshot snap-x was taken and kept", r.stderr)
            self.assertIn(f"127.0.0.1:{closed}", r.stderr)
            self.assertIn("UNAVAILABLE", r.stderr)
            self.assertEqual(self.ak("snapshot", "rm", "snap-x").returncode, 0)
            r = self.ak("snapshot", "take", "snapsrc", "snap-a", "--push", dest, "--json")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            took = json.loads(r.stdout)
            self.assertEqual(took["pushed"], dest)
            self.assertTrue(took["pushed_digest"].startswith("sha256:"), took)
            print(f"snapshot take --push: guest held {took['pause_ms']} ms, copy {took['copy_ms']} ms, "
                  f"{took['size_bytes']} bytes stored", file=sys.stderr)
        finally:
            self.ak("sandbox", "remove", "snapsrc")
        gets = self.manifest_gets_repo("snaps/busy-snap", "1")
        proc, state, log = self.start_executor("bnode", "--label", "node=b", "--min-warm", "0")
        try:
            r = self.ak("sandbox", "create", "snapdst", "--image", dest, "--node-selector", "node=b")
            with open(log.name) as f:
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr + f.read())
            try:
                info = json.loads(self.ak("sandbox", "info", "snapdst", "--json").stdout)
                self.assertEqual(info["executor"], "bnode")
                r = self.ak("exec", "snapdst", "--", "cat", "/kept.txt")
                self.assertEqual(r.stdout.strip(), marker, r.stderr)
                r = self.ak("exec", "snapdst", "--", "cat", "/etc/marker")
                self.assertEqual(r.stdout.strip(), "marker from the registry", r.stderr)
            finally:
                self.ak("sandbox", "remove", "snapdst")
            self.assertEqual(self.manifest_gets_repo("snaps/busy-snap", "1") - gets, 1)
            st = json.loads(self.ak("status", "--json").stdout)
            b = [x for x in st["executors"] if x["id"] == "bnode"][0]
            self.assertIn(dest, b["images"])
            # Still the snapshot on A (listed by its name), removable.
            names = [s["name"] for s in json.loads(self.ak("snapshot", "list", "--json").stdout)]
            self.assertIn("snap-a", names)
        finally:
            self.stop_executor(proc, state, log)
            self.ak("snapshot", "rm", "snap-a")

    def manifest_gets_repo(self, repo, tag):
        with open(self.reglog, errors="replace") as f:
            text = f.read()
        return len(re.findall(rf'"GET /v2/{repo}/manifests/{tag} HTTP', text))

    def test_9_two_executors_the_one_with_the_image_is_preferred(self):
        # test_1 pulled busy:1 onto the stack's executor ("local"); a second
        # executor with an empty store joins the same scheduler.
        ref = f"127.0.0.1:{self.port}/test/busy:1"
        state = tempfile.mkdtemp(prefix="akp2-", dir="/tmp")
        images = os.path.join(self.tmp, "images2")
        os.makedirs(images)
        kernel = os.path.join(self.home, "images", "kernel")
        if os.path.exists(kernel):
            subprocess.run(["cp", "-a", kernel, images], check=True)
        run = os.path.join(self.home, "run")
        log = open(os.path.join(self.tmp, "executor2.log"), "w")
        two = subprocess.Popen([EXECUTOR, "--listen", "unix:" + os.path.join(state, "x.sock"), "--state-dir", state,
                                "--images", images, "--scheduler", "unix:" + os.path.join(run, "scheduler.sock"),
                                "--scheduler-token-file", os.path.join(run, "executor-token"),
                                "--executor-id", "two", "--min-warm", "0"], stdout=log, stderr=log, env=self.env)
        try:
            end = time.time() + 30
            while time.time() < end:
                ids = [x["id"] for x in json.loads(self.ak("status", "--json").stdout)["executors"]]
                if "two" in ids:
                    break
                time.sleep(0.3)
            self.assertIn("two", ids)
            gets = self.manifest_gets("busy", "1")
            placed = []
            try:
                # Each create loads "local" more: only the image keeps it first.
                for i in range(3):
                    r = self.ak("sandbox", "create", f"two{i}", "--image", ref)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    info = json.loads(self.ak("sandbox", "info", f"two{i}", "--json").stdout)
                    placed.append(info["executor"])
            finally:
                for i in range(3):
                    self.ak("sandbox", "remove", f"two{i}")
            self.assertEqual(placed, ["local"] * 3)
            self.assertEqual(self.manifest_gets("busy", "1"), gets, "no pull: placed where the image is")
        finally:
            two.terminate()
            two.wait(timeout=60)
            log.close()
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
