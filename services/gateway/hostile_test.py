"""Bad input never crashes or hangs ak-gateway: each case a raw HTTP
exchange on loopback, then /health must still answer. Env: GW (host:port),
KEY (a valid API key)."""
import json, os, socket, sys, time

host, port = os.environ["GW"].split(":")
port = int(port)
KEY = os.environ["KEY"]
failures = []


def exchange(raw, timeout=30):
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(raw)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except socket.timeout:
        pass
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body


def req(method, path, body=b"", headers=None, key=KEY):
    h = {"Host": "127.0.0.1", "Connection": "close", "Content-Length": str(len(body))}
    if key:
        h["Authorization"] = "Bearer " + key
    h.update(headers or {})
    raw = f"{method} {path} HTTP/1.1\r\n".encode() + b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items())
    return exchange(raw + b"\r\n" + body)


def expect(name, got, status, contains=None):
    st, body = got
    ok = st == status
    if ok and contains is not None:
        try:
            j = json.loads(body)
            ok = j.get("success") is False and contains in j.get("error", "")
        except ValueError:
            ok = False
    if not ok:
        failures.append(f"{name}: want {status} {contains!r}, got {st} {body[:300]!r}")
    healthy = req("GET", "/health", key=None)
    if healthy[0] != 200:
        failures.append(f"{name}: /health afterwards: {healthy}")


expect("malformed JSON", req("POST", "/run", b'{"command": ["echo"'), 400, "Invalid JSON")
expect("not an object", req("POST", "/run", b'[1,2]'), 400, "must be an object")
expect("command wrong type", req("POST", "/run", b'{"command": "echo hi"}'), 400, "command: expected an array")
expect("command element wrong type", req("POST", "/run", b'{"command": ["echo", 5]}'), 400, "command[1]")
expect("vcpus wrong type", req("POST", "/sandboxes", b'{"name":"x","vcpus":"two"}'), 400, "vcpus: expected a number")
expect("vcpus negative", req("POST", "/sandboxes", b'{"name":"x","vcpus":-1}'), 400, "vcpus")
expect("bad name", req("POST", "/sandboxes", b'{"name":"../x"}'), 400, "name")
expect("invalid utf-8", req("POST", "/run", b'{"command":["\xff"]}'), 400, "Invalid JSON")
expect("deep nesting", req("POST", "/run", b"[" * 100000), 400, "Invalid JSON")
expect("empty body", req("POST", "/run"), 400, "empty")
expect("bad encoding", req("PUT", "/sandboxes/x/files/tmp/a", b'{"content":"x","encoding":"rot13"}'), 400, "encoding")
expect("bad base64", req("PUT", "/sandboxes/x/files/tmp/a", b'{"content":"!!","encoding":"base64"}'), 400, "base64")
# Path traversal: refused before any scheduler call, whatever the sandbox.
for p in ["/sandboxes/x/files/../etc/passwd", "/sandboxes/x/files/tmp/%2e%2e/etc/passwd",
          "/sandboxes/x/files/tmp/..%2Fetc", "/sandboxes/x/files/a/%00b", "/sandboxes/%2e%2e/files/a",
          "/sandboxes/x/files/./a"]:
    expect("traversal " + p, req("GET", p), 400, "invalid")
expect("batch traversal", req("POST", "/sandboxes/x/files", b'{"files":{"../../etc/shadow":"x"}}'), 400, "")
# Keys.
expect("no key", req("GET", "/sandboxes", key=None), 401, "Missing Authorization")
expect("bad key", req("GET", "/sandboxes", key="x" * 40), 401, "Invalid API key")
expect("basic auth", req("GET", "/sandboxes", key=None, headers={"Authorization": "Basic eDp5"}), 401, "Invalid authorization")
expect("huge key", req("GET", "/sandboxes", key="k" * 6000), 401, "")
# DNS rebinding and browsers.
expect("foreign host", req("GET", "/sandboxes", headers={"Host": "evil.example:18888"}), 403, "Host")
expect("origin", req("GET", "/sandboxes", headers={"Origin": "http://evil.example"}), 403, "cross-origin")
expect("sec-fetch-site", req("GET", "/sandboxes", headers={"Sec-Fetch-Site": "cross-site"}), 403, "cross-origin")
# Unknown routes and methods.
expect("unknown route", req("GET", "/nope"), 404, "Not found")
expect("wrong method", req("PATCH", "/sandboxes/x"), 405, "not allowed")
# Bodies past 16 MiB: by Content-Length at once, and chunked while reading.
big = b"x" * (16 * 1024 * 1024 + 1)
t = time.time()
expect("huge Content-Length", req("POST", "/run", b"", headers={"Content-Length": str(len(big))}), 413, "16 MiB")
s = socket.create_connection((host, port), timeout=60)
s.sendall(f"POST /run HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n"
          "Transfer-Encoding: chunked\r\n\r\n".encode())
chunk = b"x" * (1 << 20)
try:
    for _ in range(17):
        s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    s.sendall(b"0\r\n\r\n")
    data = s.recv(4096)
except OSError as e:
    data = str(e).encode()
s.close()
if b" 413 " not in data.split(b"\r\n")[0]:
    failures.append(f"chunked 17 MiB: {data[:200]!r}")
# Slow client: sends half a request and stalls; the gateway closes it after
# its idle timeout and keeps serving others meanwhile.
# ak up's gateway keeps the default idle timeout (30 s).
idle_s = int(os.environ.get("IDLE_S", "30"))
slow = socket.create_connection((host, port), timeout=idle_s + 15)
slow.sendall(b"POST /run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
if req("GET", "/health", key=None)[0] != 200:
    failures.append("health while a slow client stalls")
t = time.time()
try:
    got = slow.recv(100)
except OSError:
    got = b""
if time.time() - t > idle_s + 5:
    failures.append(f"the slow client was not closed within {idle_s + 5} s")
slow.close()
# Many idle connections do not block service.
idle = [socket.create_connection((host, port)) for _ in range(200)]
if req("GET", "/health", key=None)[0] != 200:
    failures.append("health with 200 idle connections")
for c in idle:
    c.close()

if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
print("hostile_test: all passed")
