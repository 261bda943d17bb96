"""Interop: Debian's python3-grpcio calls a real ak-signer. Requests are encoded
and responses decoded by hand here, and receipts verified with Python's
cryptography package, so no code is shared with ak's."""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import grpc  # python3-grpcio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SHA = hashlib.sha256(b"ok\n").hexdigest()
TOKEN = "interop-admin-token"


def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def ld(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def vi(num, n):
    return varint(num << 3) + varint(n)


def parse(buf):
    """Minimal protobuf decode: {field: [values]} (bytes or ints)."""
    i, out = 0, {}

    def read_varint():
        nonlocal i
        v, shift = 0, 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    while i < len(buf):
        key = read_varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            v = read_varint()
        elif wt == 2:
            n = read_varint()
            v = buf[i:i + n]
            i += n
        else:
            raise ValueError("unexpected wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def run_request(command, exit_code=0, error=None):
    """SignReceiptRequest{invocation{run{...}}, outcome{...}}."""
    run = b"".join(ld(1, c) for c in command) + ld(3, "qemu") + ld(4, "strict") + vi(5, 1)
    outcome = vi(1, exit_code) + vi(2, 1 if exit_code == 0 else 0) + ld(3, SHA) + vi(4, 3)
    if error is not None:
        outcome += ld(5, error)
    return ld(1, ld(1, run)) + ld(2, outcome)


def verify(receipt_json, want_key=None):
    """The receipt file as agentkernel would check it; returns the receipt."""
    r = json.loads(receipt_json)
    assert json.dumps(r, indent=2, ensure_ascii=False) == receipt_json, "serde_json pretty layout"
    payload = json.dumps({k: r[k] for k in ("version", "receipt_id", "recorded_at", "invocation", "outcome")},
                         separators=(",", ":"), ensure_ascii=False).encode()
    assert hashlib.sha256(payload).hexdigest() == r["payload_hash_sha256"]
    sig = r["signature"]
    pub = base64.b64decode(sig["public_key"], validate=True)
    assert hashlib.sha256(pub).hexdigest()[:16] == sig["key_id"]
    if want_key is not None:
        assert sig["public_key"] == want_key, (sig["public_key"], want_key)
    Ed25519PublicKey.from_public_bytes(pub).verify(base64.b64decode(sig["signature"], validate=True), payload)
    return r


class Interop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ak_signer_interop_")
        cls.key = os.path.join(cls.dir, "keys", "signer.pkcs8")
        token = os.path.join(cls.dir, "admin.token")
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(token, 0o600)
        signer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ak-signer")
        cls.proc = subprocess.Popen([signer, "--key", cls.key, "--listen", "127.0.0.1:0", "--insecure",
                                     "--admin-token-file", token],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = cls.proc.stdout.readline().decode()
        assert line.startswith("ak-signer: listening on "), line
        cls.channel = grpc.insecure_channel(line.split()[-1])
        cls.responses = b""
        cls.seeds = [cls.seed()]

    @classmethod
    def seed(cls):
        with open(cls.key, "rb") as f:
            return f.read()[16:48]

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.proc.terminate()
        out, err = cls.proc.communicate(timeout=20)
        try:
            for seed in cls.seeds + [cls.seed()]:
                for secret in (seed, base64.b64encode(seed), seed.hex().encode()):
                    assert secret not in out + err + cls.responses, "private key bytes leaked"
            if cls.proc.returncode != 0:
                raise AssertionError("ak-signer exited %d: %s" % (cls.proc.returncode, err.decode()))
        finally:
            shutil.rmtree(cls.dir)

    def call(self, method, req, **kw):
        resp = self.channel.unary_unary("/ak.v1.Signer/" + method)(req, timeout=10, **kw)
        type(self).responses += resp
        return resp

    def keys(self):
        return [parse(k) for k in parse(self.call("ListPublicKeys", b"")).get(1, [])]

    def test_sign_receipt(self):
        resp = parse(self.call("SignReceipt", run_request(["sh", "-c", "echo \u00e9 \x1b/"], 3, "boom")))
        receipt = parse(resp[1][0])
        self.assertEqual([1], receipt[1])                      # version
        text = receipt[8][0].decode()                          # json
        r = verify(text)
        self.assertEqual(receipt[2][0].decode(), r["receipt_id"])
        self.assertEqual(receipt[3][0].decode(), r["recorded_at"])
        self.assertEqual(receipt[6][0].decode(), r["payload_hash_sha256"])
        self.assertEqual({"mode": "run", "input": {"command": ["sh", "-c", "echo \u00e9 \x1b/"], "image": None,
                                                    "backend": "qemu", "profile": "strict", "no_network": True,
                                                    "fast": False, "keep": False}}, r["invocation"])
        self.assertEqual({"exit_code": 3, "success": False, "output_sha256": SHA, "output_bytes": 3,
                          "error": "boom"}, r["outcome"])
        self.assertIn("\\u001b/", text)
        self.assertIn(r["signature"]["key_id"], [k[1][0].decode() for k in self.keys()])

    def test_batch(self):
        req = b"".join(ld(1, run_request(["echo", str(i)])) for i in range(5))
        receipts = parse(self.call("SignReceiptBatch", req))[1]
        self.assertEqual(5, len(receipts))
        for i, m in enumerate(receipts):
            r = verify(parse(m)[8][0].decode())
            self.assertEqual(["echo", str(i)], r["invocation"]["input"]["command"])

    def test_invalid_arguments_name_the_field(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.call("SignReceipt", run_request(["echo", "a\x00b"]))
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, cm.exception.code())
        self.assertEqual("invocation.run.command[1]: contains a NUL byte at offset 1", cm.exception.details())
        with self.assertRaises(grpc.RpcError) as cm:
            self.call("SignReceipt", ld(1, ld(1, ld(4, "x"))))
        self.assertEqual("outcome: missing", cm.exception.details())
        bad = ld(1, run_request(["ok"])) + ld(1, ld(1, ld(2, ld(2, b"\xff"))) + ld(2, vi(1, 0) + ld(3, SHA)))
        with self.assertRaises(grpc.RpcError) as cm:
            self.call("SignReceiptBatch", bad)
        self.assertEqual("items[1].invocation.exec.command[0]: not valid UTF-8 (bad byte at offset 0)",
                         cm.exception.details())

    def test_rotate(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.call("RotateKey", b"")
        self.assertEqual(grpc.StatusCode.PERMISSION_DENIED, cm.exception.code())
        before = self.keys()
        old = verify(parse(parse(self.call("SignReceipt", run_request(["old"])))[1][0])[8][0].decode())
        new_key = parse(self.call("RotateKey", b"", metadata=[("authorization", "Bearer " + TOKEN)]))
        self.assertEqual([1], new_key[5])                      # active
        after = self.keys()
        self.assertEqual(len(before) + 1, len(after))
        self.assertEqual(new_key[1], after[0][1])
        self.assertEqual([1], after[0].get(5))
        self.assertTrue(all(5 not in k for k in after[1:]), "exactly one active")
        old_listed = [k for k in after if k[1][0].decode() == old["signature"]["key_id"]]
        self.assertEqual(1, len(old_listed))
        verify(json.dumps(old, indent=2, ensure_ascii=False), old_listed[0][3][0].decode())
        new = verify(parse(parse(self.call("SignReceipt", run_request(["new"])))[1][0])[8][0].decode())
        self.assertEqual(new_key[1][0].decode(), new["signature"]["key_id"])

    def test_health(self):
        resp = self.channel.unary_unary("/grpc.health.v1.Health/Check")(ld(1, "ak.v1.Signer"), timeout=5)
        self.assertEqual([1], parse(resp)[1])                  # SERVING


if __name__ == "__main__":
    unittest.main()
