#!/usr/bin/env python3
"""`ak image pull` against registries on loopback: Debian's docker-registry
(plain, and with htpasswd basic auth + TLS from a test CA) fed by skopeo with
images made by testdata/make_image.py, and testdata/fake_registry.py for the
bearer-token dance, blob redirects and a misbehaving registry. Checks the
layout against `skopeo copy docker://... oci:DIR` of the same image."""
import base64
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
AK = os.path.abspath(os.environ.get("AK_BIN", "cli/ak"))
MAKE = os.path.join(HERE, "testdata", "make_image.py")
FAKE = os.path.join(HERE, "testdata", "fake_registry.py")
NEED = ["docker-registry", "skopeo", "htpasswd", "openssl"]


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


class Env:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="ocipull-")
        self.procs = []
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.policy = os.path.join(self.tmp, "policy.json")
        with open(self.policy, "w") as f:
            f.write('{"default":[{"type":"insecureAcceptAnything"}]}')

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def env(self):
        e = dict(os.environ)
        e["HOME"] = self.home
        e["AK_HOME"] = self.path("akhome")
        e.pop("DOCKER_CONFIG", None)
        e.pop("REGISTRY_AUTH_FILE", None)
        return e

    def make_image(self, name, tag, *args):
        d = self.path("src-" + name)
        out = subprocess.run(["python3", MAKE, d, tag, *args], check=True, capture_output=True, text=True)
        return d, out.stdout.strip()

    def registry(self, tls=None, htpasswd=None):
        port = free_port()
        cfg = self.path(f"registry-{port}.yml")
        lines = ["version: 0.1", "log:", "  level: error", "storage:", "  filesystem:",
                 f"    rootdirectory: {self.path(f'store-{port}')}", "http:", f"  addr: 127.0.0.1:{port}"]
        if tls:
            lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
        if htpasswd:
            lines += ["auth:", "  htpasswd:", "    realm: test", f"    path: {htpasswd}"]
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(self.path(f"registry-{port}.log"), "w") as logf:
            p = subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL, stderr=logf,
                                 env=self.env())
        self.procs.append(p)
        wait_port(port)
        return port

    def fake(self, layout, *flags):
        portfile = self.path(f"fake-{len(self.procs)}.port")
        logf = self.path(f"fake-{len(self.procs)}.log")
        p = subprocess.Popen(["python3", FAKE, layout, "--log", logf, "--port-file", portfile, *flags])
        self.procs.append(p)
        end = time.time() + 20
        while not os.path.exists(portfile):
            if time.time() > end:
                raise RuntimeError("fake registry did not start")
            time.sleep(0.05)
        with open(portfile) as f:
            return int(f.read()), logf, p

    def skopeo(self, *args):
        subprocess.run(["skopeo", "--policy", self.policy, *args], check=True, env=self.env(),
                       capture_output=True, timeout=120)

    def push(self, src, tag, port, repo, *extra, index=False):
        self.skopeo("copy", *(["--all"] if index else []), "--dest-tls-verify=false", *extra,
                    f"oci:{src}:{tag}", f"docker://127.0.0.1:{port}/{repo}")

    def ak(self, *args, timeout=120, pull_only=True):
        extra = ["--pull-only"] if pull_only else []
        return subprocess.run([AK, "image", "pull", *extra, *args], capture_output=True, text=True, env=self.env(),
                              timeout=timeout)

    def layout(self):
        return self.path("akhome", "images", "oci")


def read_json(path):
    with open(path) as f:
        return json.load(f)


def blobs(layout):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(layout, "blobs", "sha256", "*")))


def assert_layout_sound(t, layout):
    """Every blob hashes to its name; nothing is left in tmp/."""
    for b in blobs(layout):
        with open(os.path.join(layout, "blobs", "sha256", b), "rb") as f:
            t.assertEqual(hashlib.sha256(f.read()).hexdigest(), b)
    t.assertEqual(os.listdir(os.path.join(layout, "tmp")), [])


def image_digests(layout, manifest_digest):
    m = read_json(os.path.join(layout, "blobs", "sha256", manifest_digest[7:]))
    return manifest_digest, m["config"]["digest"], [l["digest"] for l in m["layers"]]


@unittest.skipUnless(all(shutil.which(n) for n in NEED), "needs " + ", ".join(NEED) + " (tools/deps.sh)")
class PullTest(unittest.TestCase):
    def setUp(self):
        self.e = Env()

    def tearDown(self):
        self.e.close()

    def test_real_registry_matches_skopeo_and_stores_blobs_once(self):
        src, top = self.e.make_image("a", "v1", "--layers", "3")
        port = self.e.registry()
        self.e.push(src, "v1", port, "team/app:v1")
        self.e.push(src, "v1", port, "team/app:again")
        r = self.e.ak(f"127.0.0.1:{port}/team/app:v1")
        self.assertEqual(r.returncode, 0, r.stderr)
        digest = r.stdout.strip()
        self.assertEqual(digest, top)
        layout = self.e.layout()
        self.assertEqual(read_json(os.path.join(layout, "oci-layout")), {"imageLayoutVersion": "1.0.0"})
        idx = read_json(os.path.join(layout, "index.json"))
        self.assertEqual(idx["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
                         f"127.0.0.1:{port}/team/app:v1")
        # skopeo's own copy of the image: the same manifest, config and layer digests.
        sk = self.e.path("skopeo-out")
        self.e.skopeo("copy", "--src-tls-verify=false", f"docker://127.0.0.1:{port}/team/app:v1", f"oci:{sk}:v1")
        sk_top = read_json(os.path.join(sk, "index.json"))["manifests"][0]["digest"]
        self.assertEqual(image_digests(layout, digest), image_digests(sk, sk_top))
        # skopeo can read our layout (it is a valid OCI layout) by its ref name.
        self.e.skopeo("inspect", f"oci:{layout}:127.0.0.1:{port}/team/app:v1")
        before = blobs(layout)
        self.assertEqual(len(before), 5)  # manifest, config, 3 layers
        r2 = self.e.ak(f"127.0.0.1:{port}/team/app:again")
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertIn("(0.0 MiB downloaded", r2.stderr)
        self.assertEqual(blobs(layout), before)
        names = [m["annotations"]["org.opencontainers.image.ref.name"]
                 for m in read_json(os.path.join(layout, "index.json"))["manifests"]]
        self.assertEqual(sorted(names), sorted([f"127.0.0.1:{port}/team/app:v1", f"127.0.0.1:{port}/team/app:again"]))
        # By digest too.
        r3 = self.e.ak(f"localhost:{port}/team/app@{digest}")
        self.assertEqual(r3.returncode, 0, r3.stderr)
        self.assertEqual(r3.stdout.strip(), digest)
        assert_layout_sound(self, layout)

    def test_docker_schema2_image(self):
        src, _ = self.e.make_image("d", "v1")
        port = self.e.registry()
        self.e.push(src, "v1", port, "dock:v1", "--format", "v2s2")
        r = self.e.ak(f"127.0.0.1:{port}/dock:v1")
        self.assertEqual(r.returncode, 0, r.stderr)
        digest = r.stdout.strip()
        entry = read_json(os.path.join(self.e.layout(), "index.json"))["manifests"][0]
        self.assertEqual(entry["mediaType"], "application/vnd.docker.distribution.manifest.v2+json")
        self.assertEqual(entry["digest"], digest)
        # The registry's digest for the tag is the one stored (not converted).
        out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://127.0.0.1:{port}/dock:v1"],
                             check=True, capture_output=True, text=True, env=self.e.env()).stdout
        self.assertEqual(json.loads(out)["Digest"], digest)
        assert_layout_sound(self, self.e.layout())

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("busybox"), "importing images needs root and busybox")
    def test_pull_then_import_makes_a_bootable_image(self):
        src, top = self.e.make_image("imp", "3.1", "--layers", "2")
        port = self.e.registry()
        self.e.push(src, "3.1", port, "org/tool:3.1")
        env = self.e.env()
        env["AK_GUEST_BIN"] = os.path.abspath("guest/ak-guest")
        r = subprocess.run([AK, "image", "pull", f"127.0.0.1:{port}/org/tool:3.1"], capture_output=True, text=True,
                           env=env, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), top)
        self.assertIn("image tool-3.1 (", r.stderr)
        r = subprocess.run([AK, "image", "list", "--json"], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        images = {i["name"]: i for i in json.loads(r.stdout)}
        self.assertEqual(images["tool-3.1"]["digest"], top)
        self.assertIn(f"127.0.0.1:{port}/org/tool:3.1", images["tool-3.1"]["source"])
        # Again under another name: the pull is a cache hit, the import too.
        r = subprocess.run([AK, "image", "pull", "--name", "tool", f"127.0.0.1:{port}/org/tool:3.1"],
                           capture_output=True, text=True, env=env, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(0.0 MiB downloaded", r.stderr)
        r = subprocess.run([AK, "image", "pull", "--pull-only", "--name", "x", "a:1"], capture_output=True,
                           text=True, env=env)
        self.assertEqual(r.returncode, 2)

    def test_two_pulls_at_once(self):
        src, top = self.e.make_image("c", "v1", "--layers", "4", "--layer-bytes", "200000")
        port = self.e.registry()
        self.e.push(src, "v1", port, "conc:v1")
        self.e.push(src, "v1", port, "conc:v2")
        procs = [subprocess.Popen([AK, "image", "pull", "--pull-only", f"127.0.0.1:{port}/conc:{t}"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=self.e.env()) for t in ("v1", "v2", "v1")]
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            self.assertEqual(out.strip(), top)
        names = sorted(m["annotations"]["org.opencontainers.image.ref.name"]
                       for m in read_json(os.path.join(self.e.layout(), "index.json"))["manifests"])
        self.assertEqual(names, [f"127.0.0.1:{port}/conc:v1", f"127.0.0.1:{port}/conc:v2"])
        self.assertEqual(len(blobs(self.e.layout())), 6)
        assert_layout_sound(self, self.e.layout())

    def test_index_resolved_to_linux_amd64(self):
        src, top = self.e.make_image("idx", "multi", "--index")
        port = self.e.registry()
        self.e.push(src, "multi", port, "multi:1", index=True)
        index = read_json(os.path.join(src, "blobs", "sha256", top[7:]))
        want = {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]}
        r = self.e.ak(f"127.0.0.1:{port}/multi:1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), want["amd64"])
        self.assertIn(f"index {top} resolved to linux/amd64", r.stderr)
        r = self.e.ak(f"127.0.0.1:{port}/multi:1", "--platform", "linux/arm64")
        self.assertEqual(r.stdout.strip(), want["arm64"], r.stderr)
        r = self.e.ak(f"127.0.0.1:{port}/multi:1", "--platform", "linux/s390x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no linux/s390x manifest (it has: linux/arm64, linux/amd64)", r.stderr)
        assert_layout_sound(self, self.e.layout())

    def test_unknown_tag_and_repository(self):
        src, _ = self.e.make_image("a", "v1")
        port = self.e.registry()
        self.e.push(src, "v1", port, "x:v1")
        r = self.e.ak(f"127.0.0.1:{port}/x:nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("manifest nope not found", r.stderr)
        self.assertIn("MANIFEST_UNKNOWN", r.stderr)
        r = self.e.ak(f"127.0.0.1:{port}/nosuch:v1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not found", r.stderr)
        self.assertEqual(read_json(os.path.join(self.e.layout(), "index.json"))["manifests"], [])
        r = self.e.ak("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--insecure-registry HOST[:PORT]", r.stdout)
        r = self.e.ak("Bad:Ref")
        self.assertEqual(r.returncode, 1)
        self.assertIn("must be lowercase", r.stderr)

    def tls_material(self):
        d = self.e.path("pki")
        os.makedirs(d)
        def ssl(*args):
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
        ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=ak test CA")
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
        with open(os.path.join(d, "ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        ssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "srv.pem", "-days", "2", "-extfile", "ext")
        return os.path.join(d, "ca.pem"), os.path.join(d, "srv.pem"), os.path.join(d, "srv.key")

    def authfile(self, host, user, password):
        p = self.e.path(f"auth-{user}-{len(password)}.json")
        with open(p, "w") as f:
            json.dump({"auths": {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}, f)
        return p

    def test_tls_with_test_ca_and_htpasswd(self):
        ca, cert, key = self.tls_material()
        hp = self.e.path("htpasswd")
        subprocess.run(["htpasswd", "-Bbc", hp, "alice", "s3cret-pw"], check=True, capture_output=True)
        src, top = self.e.make_image("a", "v1")
        port = self.e.registry(tls=(cert, key), htpasswd=hp)
        certdir = self.e.path("certs")
        os.makedirs(certdir)
        shutil.copy(ca, os.path.join(certdir, "ca.crt"))
        self.e.skopeo("copy", "--dest-cert-dir", certdir, "--dest-creds", "alice:s3cret-pw", f"oci:{src}:v1",
                      f"docker://127.0.0.1:{port}/secure/img:v1")
        ref = f"127.0.0.1:{port}/secure/img:v1"
        good = self.authfile(f"127.0.0.1:{port}", "alice", "s3cret-pw")
        bad = self.authfile(f"https://127.0.0.1:{port}/v2/", "alice", "wrong-pw")
        # Without the CA: the certificate is not trusted (no fallback to http).
        r = self.e.ak(ref, "--authfile", good)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--ca-file", r.stderr)
        # Without credentials.
        r = self.e.ak(ref, "--ca-file", ca)
        self.assertEqual(r.returncode, 1)
        self.assertIn("asks for a user name and password", r.stderr)
        # A wrong password: refused, and the password is never printed.
        r = self.e.ak(ref, "--ca-file", ca, "--authfile", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("refused the password of user \"alice\"", r.stderr)
        self.assertNotIn("wrong-pw", r.stderr + r.stdout)
        # Right: pulled over TLS.
        r = self.e.ak(ref, "--ca-file", ca, "--authfile", good)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), top)
        self.assertNotIn("s3cret", r.stderr + r.stdout)
        # ~/.docker/config.json is the default auth file.
        os.makedirs(os.path.join(self.e.home, ".docker"))
        shutil.copy(good, os.path.join(self.e.home, ".docker", "config.json"))
        r = self.e.ak(ref, "--ca-file", ca)
        self.assertEqual(r.returncode, 0, r.stderr)
        assert_layout_sound(self, self.e.layout())


@unittest.skipUnless(shutil.which("skopeo"), "needs skopeo (tools/deps.sh)")
class FakeRegistryTest(unittest.TestCase):
    def setUp(self):
        self.e = Env()
        self.src, self.top = self.e.make_image("f", "v1", "--layers", "2", "--layer-bytes", "300000")

    def tearDown(self):
        self.e.close()

    def entries(self, logf):
        if not os.path.exists(logf):
            return []
        with open(logf) as f:
            return [json.loads(l) for l in f]

    def assert_nothing_stored(self):
        layout = self.e.layout()
        m = read_json(os.path.join(self.src, "blobs", "sha256", self.top[7:]))
        stored = blobs(layout)
        for d in [m["config"]["digest"]] + [l["digest"] for l in m["layers"]]:
            self.assertNotIn(d[7:], stored)
        self.assertEqual(read_json(os.path.join(layout, "index.json"))["manifests"], [])
        assert_layout_sound(self, layout)

    def test_bearer_token_flow_anonymous(self):
        port, logf, _ = self.e.fake(self.src, "--bearer")
        r = self.e.ak(f"127.0.0.1:{port}/lib/img:v1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), self.top)
        log = self.entries(logf)
        q = [x["token_query"] for x in log if "token_query" in x]
        self.assertEqual(q, ["/token?service=fake-registry&scope=repository%3Alib%2Fimg%3Apull"])
        api = [x for x in log if x.get("path", "").startswith("/v2/lib/")]
        self.assertTrue(api and all(x["auth"] == "Bearer" for x in api), api)

    def test_bearer_token_with_credentials(self):
        port, logf, _ = self.e.fake(self.src, "--bearer", "--user", "bob", "--password", "pw1")
        ref = f"127.0.0.1:{port}/lib/img:v1"
        r = self.e.ak(ref)
        self.assertEqual(r.returncode, 1)
        self.assertIn("refused an anonymous token", r.stderr)
        p = self.e.path("auth.json")
        with open(p, "w") as f:
            json.dump({"auths": {f"127.0.0.1:{port}": {"auth": base64.b64encode(b"bob:nope").decode()}}}, f)
        r = self.e.ak(ref, "--authfile", p)
        self.assertEqual(r.returncode, 1)
        self.assertIn("refused the credentials for user \"bob\"", r.stderr)
        with open(p, "w") as f:
            json.dump({"auths": {f"127.0.0.1:{port}": {"auth": base64.b64encode(b"bob:pw1").decode()}}}, f)
        r = self.e.ak(ref, "--authfile", p)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_identity_token_refresh_grant(self):
        port, logf, _ = self.e.fake(self.src, "--bearer", "--refresh-token", "rt-123", "--user", "x", "--password", "y")
        p = self.e.path("auth.json")
        with open(p, "w") as f:
            json.dump({"auths": {f"http://127.0.0.1:{port}/v1/": {"identitytoken": "rt-123"}}}, f)
        r = self.e.ak(f"127.0.0.1:{port}/lib/img:v1", "--authfile", p)
        self.assertEqual(r.returncode, 0, r.stderr)
        posts = [x for x in self.entries(logf) if x.get("method") == "POST"]
        self.assertEqual(posts[0]["grant_type"], "refresh_token")
        self.assertEqual(posts[0]["scope"], ["repository:lib/img:pull"])
        self.assertNotIn("rt-123", r.stderr)

    def test_manifest_over_4_mib_refused(self):
        port, _, _ = self.e.fake(self.src, "--big-manifest")
        r = self.e.ak(f"127.0.0.1:{port}/lib/img:v1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("answer larger than 4194304 bytes", r.stderr)
        self.assert_nothing_stored()

    def test_progress_lines(self):
        port, _, _ = self.e.fake(self.src)
        r = self.e.ak(f"127.0.0.1:{port}/lib/img:v1")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = read_json(os.path.join(self.src, "blobs", "sha256", self.top[7:]))
        for l in m["layers"]:
            self.assertIn(f"  {l['digest'][:19]}: ", r.stderr)
        done = [l for l in r.stderr.splitlines() if l.endswith(" done")]
        self.assertEqual(len(done), 3, r.stderr)  # config + 2 layers, one final line each

    def test_redirect_drops_authorization(self):
        port, logf, _ = self.e.fake(self.src, "--bearer", "--redirect")
        r = self.e.ak(f"127.0.0.1:{port}/lib/img:v1")
        self.assertEqual(r.returncode, 0, r.stderr)
        storage = [x for x in self.entries(logf) if x.get("path", "").startswith("/storage/")]
        self.assertEqual(len(storage), 3)  # config + 2 layers
        self.assertTrue(all(x["auth"] == "" for x in storage), storage)
        assert_layout_sound(self, self.e.layout())

    def test_redirect_to_plain_http_elsewhere_refused(self):
        # Refused before any connection: the name is never even resolved.
        port, logf, _ = self.e.fake(self.src, "--redirect", "--redirect-host", "blobs.example.invalid")
        r = self.e.ak(f"127.0.0.1:{port}/lib/img:v1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("redirected to plain http://blobs.example.invalid:", r.stderr)
        self.assertIn("refused", r.stderr)
        self.assert_nothing_stored()

    def test_digest_mismatch_stores_nothing(self):
        port, _, _ = self.e.fake(self.src, "--corrupt")
        r = self.e.ak(f"127.0.0.1:{port}/lib/img:v1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("digest mismatch", r.stderr)
        self.assert_nothing_stored()

    def test_truncated_blob_stores_nothing(self):
        port, logf, _ = self.e.fake(self.src, "--truncate")
        r = self.e.ak(f"127.0.0.1:{port}/lib/img:v1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing stored", r.stderr)
        self.assert_nothing_stored()
        # It resumed with Range each time rather than starting over.
        self.assertTrue(any(x.get("range") for x in self.entries(logf)))

    def test_broken_transfer_resumes_with_range(self):
        port, logf, _ = self.e.fake(self.src, "--break-once")
        r = self.e.ak(f"127.0.0.1:{port}/lib/img:v1")
        self.assertEqual(r.returncode, 0, r.stderr)
        ranges = [x["range"] for x in self.entries(logf) if x.get("range")]
        self.assertEqual(len(ranges), 1, ranges)
        assert_layout_sound(self, self.e.layout())

    def test_broken_transfer_without_range_support_restarts(self):
        port, logf, _ = self.e.fake(self.src, "--break-once", "--no-range")
        r = self.e.ak(f"127.0.0.1:{port}/lib/img:v1")
        self.assertEqual(r.returncode, 0, r.stderr)
        assert_layout_sound(self, self.e.layout())

    def test_5xx_retried(self):
        port, _, _ = self.e.fake(self.src, "--fail-first", "2")
        r = self.e.ak(f"127.0.0.1:{port}/lib/img:v1")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_registry_killed_mid_pull(self):
        port, logf, proc = self.e.fake(self.src, "--hang")
        p = subprocess.Popen([AK, "image", "pull", "--pull-only", f"127.0.0.1:{port}/lib/img:v1"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=self.e.env())
        self.e.procs.append(p)
        end = time.time() + 30
        while not any("cut" in x for x in self.entries(logf)):
            self.assertLess(time.time(), end, "the fake never started a blob")
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("nothing stored", err)
        self.assertIn("127.0.0.1", err)
        self.assert_nothing_stored()


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    unittest.main()
