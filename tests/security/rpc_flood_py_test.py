"""The idle unauthenticated flood from another gRPC stack: Debian's
python3-grpcio opens 1,000 streams to a real ak-signer (TCP, --token-file)
that send their headers and never a message, while an authenticated client
keeps calling ListPublicKeys. Messages are encoded by hand: no code is shared
with ak's own client."""
import os
import subprocess
import tempfile
import threading
import time
import unittest

import grpc  # python3-grpcio

TOKEN = "0123456789abcdef0123456789abcdef"
METHOD = "/ak.v1.Signer/ListPublicKeys"
STREAMS, CONNECTIONS = 1000, 10


def ident(b):
    return b


class IdleFlood(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ak_sec_flood_")
        tokens = os.path.join(cls.dir, "tokens")
        with open(tokens, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(tokens, 0o600)
        signer = os.environ.get("AK_SIGNER_BIN", "services/signer/ak-signer")
        cls.proc = subprocess.Popen([signer, "--key", os.path.join(cls.dir, "key.pkcs8"), "--listen",
                                     "127.0.0.1:0", "--token-file", tokens],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = cls.proc.stdout.readline().decode()
        assert line.startswith("ak-signer: listening on "), line
        cls.addr = line.split()[-1]

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(30)
        subprocess.call(["rm", "-rf", cls.dir])

    def timed_calls(self, call, n, until=None):
        lat, errors = [], []
        while len(lat) + len(errors) < n or (until is not None and not until()):
            t0 = time.monotonic()
            try:
                call(b"", timeout=5, metadata=(("authorization", "Bearer " + TOKEN),))
                lat.append(time.monotonic() - t0)
            except grpc.RpcError as e:
                errors.append(e.code())
                if len(errors) >= 20:
                    break
        lat.sort()
        return lat, errors

    def test_idle_unauthenticated_flood(self):
        good = grpc.insecure_channel(self.addr)
        call = good.unary_unary(METHOD, request_serializer=ident, response_deserializer=ident)
        self.timed_calls(call, 20)
        quiet, errors = self.timed_calls(call, 200)
        self.assertEqual([], errors)

        release = threading.Event()

        def never():  # headers go out; no message ever does
            release.wait()
            return
            yield b""

        channels = [grpc.insecure_channel(self.addr, options=[("grpc.use_local_subchannel_pool", 1),
                                                              ("ak.test.connection", i)])
                    for i in range(CONNECTIONS)]
        codes, lock, done = {}, threading.Lock(), threading.Event()

        def ended(fut):
            code = fut.code()
            with lock:
                codes[code] = codes.get(code, 0) + 1
                if sum(codes.values()) == STREAMS:
                    done.set()

        futures = []
        for i in range(STREAMS):
            su = channels[i % CONNECTIONS].stream_unary(METHOD, request_serializer=ident,
                                                        response_deserializer=ident)
            f = su.future(never())
            f.add_done_callback(ended)
            futures.append(f)
        flooded, errors = self.timed_calls(call, 200, until=done.is_set)
        finished = done.wait(20)
        release.set()
        for f in futures:
            f.cancel()
        print("\nak-signer from python3-grpcio: p50 %.3f ms quiet, %.3f ms (%d calls) while %d idle "
              "unauthenticated streams over %d connections were open; their ends: %s"
              % (quiet[len(quiet) // 2] * 1000, flooded[len(flooded) // 2] * 1000 if flooded else -1,
                 len(flooded), STREAMS, CONNECTIONS,
                 {str(k): v for k, v in codes.items()}), flush=True)
        self.assertEqual([], errors, "authenticated calls failed under the flood")
        self.assertTrue(finished, "idle unauthenticated streams still open after 20 s: %s" % codes)
        self.assertEqual({grpc.StatusCode.UNAUTHENTICATED: STREAMS}, codes)
        for ch in channels:
            ch.close()
        good.close()


if __name__ == "__main__":
    unittest.main()
