#!/usr/bin/env python3
"""`ak image push` against Debian's docker-registry on loopback (plain, and
with htpasswd basic auth + TLS from a test CA): an image made by
testdata/make_image.py goes to registry A with skopeo, `ak image pull` puts it
in the cache, `ak image push` sends it to registry B, and a fresh cache pulls
it back from B with the same digests (skopeo reads it there too). Failures:
an unreachable registry, missing credentials, an image not in the cache."""
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pull_test  # noqa: E402
from pull_test import AK, NEED, Env, free_port, image_digests, read_json  # noqa: E402


def ak_push(env, *args, home=None):
    e = env.env()
    if home:
        e["AK_HOME"] = home
    return subprocess.run([AK, "image", "push", *args], capture_output=True, text=True, env=e, timeout=120)


def ak_pull(env, ref, *args, home):
    e = env.env()
    e["AK_HOME"] = home
    return subprocess.run([AK, "image", "pull", "--pull-only", ref, *args], capture_output=True, text=True, env=e,
                          timeout=120)


@unittest.skipUnless(all(shutil.which(n) for n in NEED), "needs " + ", ".join(NEED) + " (tools/deps.sh)")
class PushTest(unittest.TestCase):
    def setUp(self):
        self.e = Env()

    def tearDown(self):
        self.e.close()

    def pulled(self, layers="3"):
        """An image in the cache, pulled from registry A: (ref, manifest digest)."""
        src, top = self.e.make_image("p", "v1", "--layers", layers)
        a = self.e.registry()
        self.e.push(src, "v1", a, "team/app:v1")
        ref = f"127.0.0.1:{a}/team/app:v1"
        r = self.e.ak(ref)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), top)
        return ref, top

    def test_push_to_another_registry_and_pull_back(self):
        ref, top = self.pulled()
        b = self.e.registry()
        dest = f"127.0.0.1:{b}/other/copy:2"
        r = ak_push(self.e, ref, dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), top)
        self.assertIn("4 blobs, 4 sent", r.stderr)  # config + 3 layers; the manifest goes after them
        # A fresh cache pulls it back from B: the same manifest, config and layers.
        home2 = self.e.path("akhome2")
        r = ak_pull(self.e, dest, home=home2)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), top)
        self.assertEqual(image_digests(os.path.join(home2, "images", "oci"), top),
                         image_digests(self.e.layout(), top))
        # skopeo (another client) reads it from B.
        self.e.skopeo("inspect", "--tls-verify=false", f"docker://{dest}")
        # Again, and under a digest: nothing is sent a second time.
        r = ak_push(self.e, ref, f"127.0.0.1:{b}/other/copy@{top}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 sent", r.stderr)
        # A digest that is not the image's is refused before anything is sent.
        wrong = "sha256:" + "0" * 64
        r = ak_push(self.e, ref, f"127.0.0.1:{b}/other/copy@{wrong}")
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not the image's manifest digest", r.stderr)

    def test_push_unreachable_registry_fails_clearly(self):
        ref, _ = self.pulled("1")
        port = free_port()
        r = ak_push(self.e, ref, f"127.0.0.1:{port}/x/y:1")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"push 127.0.0.1:{port}/x/y:1", r.stderr)
        self.assertIn("127.0.0.1", r.stderr)
        self.assertIn("onnect", r.stderr)  # Connection refused / Could not connect
        # Nothing of the cache was touched or half-stored.
        layout = self.e.layout()
        self.assertEqual(os.listdir(os.path.join(layout, "tmp")), [])
        self.assertEqual(len(read_json(os.path.join(layout, "index.json"))["manifests"]), 1)

    def test_not_in_cache(self):
        r = ak_push(self.e, "127.0.0.1:1/never/pulled:1", "127.0.0.1:2/x:1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not in the image cache", r.stderr)

    def test_tls_with_test_ca_and_htpasswd(self):
        ref, top = self.pulled("2")
        ca, cert, key = pull_test.PullTest.tls_material(self)
        hp = self.e.path("htpasswd")
        subprocess.run(["htpasswd", "-Bbc", hp, "bob", "pu5h-pw"], check=True, capture_output=True)
        port = self.e.registry(tls=(cert, key), htpasswd=hp)
        dest = f"127.0.0.1:{port}/secure/img:v9"
        good = pull_test.PullTest.authfile(self, f"127.0.0.1:{port}", "bob", "pu5h-pw")
        r = ak_push(self.e, ref, dest, "--ca-file", ca)
        self.assertEqual(r.returncode, 1)
        self.assertIn("asks for a user name and password", r.stderr)
        r = ak_push(self.e, ref, dest, "--authfile", good)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--ca-file", r.stderr)
        r = ak_push(self.e, ref, dest, "--ca-file", ca, "--authfile", good)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), top)
        self.assertNotIn("pu5h-pw", r.stderr + r.stdout)
        r = ak_pull(self.e, dest, "--ca-file", ca, "--authfile", good, home=self.e.path("akhome3"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), top)


@unittest.skipUnless(all(shutil.which(n) for n in NEED + ["busybox", "skopeo"]) and os.geteuid() == 0,
                     "needs root, busybox and " + ", ".join(NEED) + " (tools/deps.sh)")
class DiskPushTest(unittest.TestCase):
    """A local disk image (here: an imported image's ext4) pushed as an ak
    disk image (one application/vnd.ak.disk.ext4.v1+zstd layer) and pulled
    into another AK_HOME, where it is installed as the disk unchanged."""

    def setUp(self):
        self.e = Env()
        src, _ = self.e.make_image("d", "v1", "--layers", "2")
        self.port = self.e.registry()
        self.e.push(src, "v1", self.port, "org/base:v1")
        self.env = self.e.env()
        self.env["AK_GUEST_BIN"] = os.path.abspath("guest/ak-guest")
        r = subprocess.run([AK, "image", "pull", "--name", "local1", f"127.0.0.1:{self.port}/org/base:v1"],
                           capture_output=True, text=True, env=self.env, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)

    def tearDown(self):
        self.e.close()

    def run_ak(self, *args, home=None):
        env = dict(self.env)
        if home:
            env["AK_HOME"] = home
        return subprocess.run([AK, *args], capture_output=True, text=True, env=env, timeout=300)

    def images(self, home=None):
        r = self.run_ak("image", "list", "--json", home=home)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {i["name"]: i for i in json.loads(r.stdout)}

    def disk(self, home, name):
        store = os.path.join(home or self.env["AK_HOME"], "images")
        with open(os.path.join(store, self.images(home)[name]["hash"], "rootfs.ext4"), "rb") as f:
            return f.read()

    def test_local_image_pushed_as_disk_and_pulled_elsewhere(self):
        dest = f"127.0.0.1:{self.port}/org/disk:1"
        r = self.run_ak("image", "push", "local1", dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        digest = r.stdout.strip()
        self.assertIn("packed local1", r.stderr)
        # The registry serves our media type; skopeo reads the manifest.
        out = subprocess.run(["skopeo", "--policy", self.e.policy, "inspect", "--raw", "--tls-verify=false",
                              f"docker://{dest}"], capture_output=True, text=True, check=True, env=self.env)
        manifest = json.loads(out.stdout)
        self.assertEqual([l["mediaType"] for l in manifest["layers"]], ["application/vnd.ak.disk.ext4.v1+zstd"])
        home2 = self.e.path("akhome-b")
        r = self.run_ak("image", "pull", "--name", "got", dest, home=home2)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), digest)
        got = self.images(home2)["got"]
        self.assertEqual(got["digest"], digest)
        self.assertEqual(self.disk(home2, "got"), self.disk(None, "local1"))
        # Pushed again: the registry has every blob.
        r = self.run_ak("image", "push", "local1", dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 sent", r.stderr)

    def test_truncated_disk_blob_on_the_registry_stores_nothing(self):
        dest = f"127.0.0.1:{self.port}/org/disk:2"
        r = self.run_ak("image", "push", "local1", dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Cut the layer blob short in a copy of the layout served by a fake
        # registry that trusts its files (the real one would refuse it).
        layout = self.e.layout()
        digest = r.stdout.strip()
        with open(os.path.join(layout, "blobs", "sha256", digest[7:])) as f:
            layer = json.load(f)["layers"][0]["digest"]
        bad = self.e.path("bad-layout")
        shutil.copytree(layout, bad)
        index = read_json(os.path.join(bad, "index.json"))
        index["manifests"] = [dict(m, annotations={"org.opencontainers.image.ref.name": "2"})
                              for m in index["manifests"] if m["digest"] == digest]
        with open(os.path.join(bad, "index.json"), "w") as f:
            json.dump(index, f)
        blob = os.path.join(bad, "blobs", "sha256", layer[7:])
        with open(blob, "rb") as f:
            data = f.read()
        with open(blob, "wb") as f:
            f.write(data[: len(data) // 2])
        fport, _, _ = self.e.fake(bad)
        home2 = self.e.path("akhome-c")
        r = self.run_ak("image", "pull", "--name", "bad", f"127.0.0.1:{fport}/org/disk:2", home=home2)
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, "layer|blob")
        self.assertNotIn("bad", self.images(home2))


@unittest.skipUnless(shutil.which("skopeo"), "needs skopeo (tools/deps.sh)")
class FakePushTest(unittest.TestCase):
    """Bearer tokens with push scope, and both shapes of upload Location,
    against testdata/fake_registry.py (docker-registry answers only one)."""

    def setUp(self):
        self.e = Env()
        self.src, self.top = self.e.make_image("f", "v1", "--layers", "2")
        port, _, _ = self.e.fake(self.src)
        self.ref = f"127.0.0.1:{port}/lib/img:v1"
        r = self.e.ak(self.ref)
        self.assertEqual(r.returncode, 0, r.stderr)

    def tearDown(self):
        self.e.close()

    def empty_layout(self, name):
        d = self.e.path(name)
        os.makedirs(os.path.join(d, "blobs", "sha256"))
        with open(os.path.join(d, "index.json"), "w") as f:
            f.write('{"schemaVersion":2,"manifests":[]}')
        with open(os.path.join(d, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        return d

    def entries(self, logf):
        with open(logf) as f:
            return [json.loads(l) for l in f]

    def push_and_pull_back(self, *flags):
        port, logf, _ = self.e.fake(self.empty_layout("dst" + "".join(flags)), "--bearer", *flags)
        dest = f"127.0.0.1:{port}/team/copy:v2"
        r = ak_push(self.e, self.ref, dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), self.top)
        r = ak_pull(self.e, dest, home=self.e.path("back" + "".join(flags)))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), self.top)
        return port, self.entries(logf)

    def test_bearer_push_scope_and_path_location_with_query(self):
        port, log = self.push_and_pull_back()
        scopes = [e["token_query"] for e in log if "token_query" in e]
        self.assertTrue(scopes and "repository%3Ateam%2Fcopy%3Apull%2Cpush" in scopes[0], scopes)
        puts = [e for e in log if e.get("method") == "PUT"]
        self.assertEqual(len(puts), 4)  # config, 2 layers, manifest
        for p in puts[:3]:
            self.assertTrue(p["path"].startswith("/v2/team/copy/blobs/uploads/"), p)
            self.assertIn("_state=s%3D1&digest=sha256%3A", p["path"])
            self.assertEqual(p["auth"], "Bearer")
        self.assertEqual(puts[3]["path"], "/v2/team/copy/manifests/v2")
        self.assertEqual(puts[3]["content_type"], "application/vnd.oci.image.manifest.v1+json")

    def test_absolute_location_on_another_origin_gets_no_credentials(self):
        port, log = self.push_and_pull_back("--upload-elsewhere")
        puts = [e for e in log if e.get("method") == "PUT" and e["path"].startswith("/upload/")]
        self.assertEqual(len(puts), 3)
        for p in puts:
            self.assertNotEqual(p["port"], port)
            self.assertEqual(p["auth"], "")


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    unittest.main()
