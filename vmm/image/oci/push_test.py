#!/usr/bin/env python3
"""`ak image push` against Debian's docker-registry on loopback (plain, and
with htpasswd basic auth + TLS from a test CA): an image made by
testdata/make_image.py goes to registry A with skopeo, `ak image pull` puts it
in the cache, `ak image push` sends it to registry B, and a fresh cache pulls
it back from B with the same digests (skopeo reads it there too). Failures:
an unreachable registry, missing credentials, an image not in the cache."""
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


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    unittest.main()
