"""Interop: Debian's python3-grpcio (the C++ core's Python stack) calls our C
server. Messages are encoded by hand here, so no code is shared with ours."""
import os
import subprocess
import sys
import unittest

import grpc  # python3-grpcio


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, n):
    return varint(num << 3) + varint(n)


def parse(buf):
    """Minimal protobuf decode: {field: [values]} (bytes or ints)."""
    i, out = 0, {}
    while i < len(buf):
        key, shift = 0, 0
        while True:
            b = buf[i]; i += 1
            key |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, shift = 0, 0
            while True:
                b = buf[i]; i += 1
                v |= (b & 0x7F) << shift; shift += 7
                if not b & 0x80:
                    break
        elif wt == 2:
            n, shift = 0, 0
            while True:
                b = buf[i]; i += 1
                n |= (b & 0x7F) << shift; shift += 7
                if not b & 0x80:
                    break
            v = buf[i:i + n]; i += n
        else:
            raise ValueError("unexpected wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


class Interop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        server = os.path.join(os.path.dirname(__file__), "echo_server")
        cls.proc = subprocess.Popen([server, "127.0.0.1:0"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE)
        line = cls.proc.stdout.readline().decode()
        assert line.startswith("PORT "), line
        cls.channel = grpc.insecure_channel("127.0.0.1:" + line.split()[1])

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.proc.stdin.close()
        rc = cls.proc.wait(timeout=10)
        if rc != 0:
            raise AssertionError("echo_server exited %d" % rc)

    def unary(self, method):
        return self.channel.unary_unary("/ak.test.Echo/" + method)

    def test_unary_with_metadata(self):
        req = field_bytes(1, "héllo".encode()) + field_bytes(2, bytes(range(256)))
        resp = self.unary("Echo")(req, timeout=5, metadata=[("authorization", "Bearer t0k")])
        got = parse(resp)
        self.assertEqual([b"h\xc3\xa9llo"], got[1])
        self.assertEqual([bytes(range(256))], got[2])
        self.assertEqual([b"Bearer t0k"], got[4])

    def test_status_code_and_message(self):
        req = field_bytes(1, b"sandbox x") + field_varint(5, 5)
        with self.assertRaises(grpc.RpcError) as cm:
            self.unary("Echo")(req, timeout=5)
        self.assertEqual(grpc.StatusCode.NOT_FOUND, cm.exception.code())
        self.assertEqual("asked to fail: sandbox x", cm.exception.details())

    def test_server_streaming(self):
        req = field_bytes(1, b"n") + field_varint(3, 100)
        stream = self.channel.unary_stream("/ak.test.Echo/Count")(req, timeout=5)
        indexes = [parse(m).get(3, [0])[0] for m in stream]
        self.assertEqual(list(range(100)), indexes)

    def test_unknown_method(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.channel.unary_unary("/ak.test.Echo/Nope")(b"", timeout=5)
        self.assertEqual(grpc.StatusCode.UNIMPLEMENTED, cm.exception.code())

    def test_malformed_request(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.unary("Echo")(b"\x1a\x03xyz", timeout=5)  # field 3 (varint) as bytes
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, cm.exception.code())

    def test_health(self):
        resp = self.channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5)
        self.assertEqual([1], parse(resp)[1])  # SERVING


if __name__ == "__main__":
    unittest.main()
