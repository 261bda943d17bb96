#!/usr/bin/python3
"""A fake Kubernetes API server for the scheduler's leader election tests:
GET, POST and PUT of coordination.k8s.io/v1 Leases on loopback, with
resourceVersion optimistic concurrency (a PUT whose metadata.resourceVersion
is not the stored one gets 409 Conflict, a POST of an existing Lease 409
AlreadyExists), bearer-token checks, and a log: one JSON line per accepted
write and per refused one: "t=MONOTONIC op=PUT code=200 rv=N lease=NS/NAME holder=ID" ("-": none).
A PUT that changes the holder waits TAKEOVER_DELAY s before it is checked,
so replicas that read the same version race and all but one get 409.

Usage: fake_apiserver.py TOKEN_FILE LOG_FILE
Prints "listening on 127.0.0.1:PORT" once it serves."""
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([a-z0-9.-]+)/leases(?:/([a-z0-9.-]+))?$")
TAKEOVER_DELAY = 0.3
lock = threading.Lock()
leases = {}
next_rv = [100]
token = open(sys.argv[1]).read().strip()
log = open(sys.argv[2], "a", buffering=1)


def record(op, key, holder, rv, code):
    log.write("t=%.6f op=%s code=%d rv=%s lease=%s holder=%s\n" % (time.monotonic(), op, code, rv, "/".join(key),
                                                                     holder or "-"))


def status(code, reason, msg):
    return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": msg, "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(n)) if n else None

    def handle_one(self, method):
        m = PATH.match(self.path)
        obj = self.body() if method != "GET" else None
        if self.headers.get("Authorization") != "Bearer " + token:
            return status(401, "Unauthorized", "Unauthorized")
        if not m or (method == "POST") != (m.group(2) is None):
            return status(404, "NotFound", "no route " + self.path)
        ns, name = m.group(1), m.group(2) or (obj or {}).get("metadata", {}).get("name", "")
        key = (ns, name)
        if method == "PUT" and obj.get("spec", {}).get("holderIdentity") != \
                (leases.get(key) or {}).get("spec", {}).get("holderIdentity"):
            time.sleep(TAKEOVER_DELAY)
        with lock:
            cur = leases.get(key)
            if method == "GET":
                return (200, cur) if cur else status(404, "NotFound", 'leases "%s" not found' % name)
            holder = obj.get("spec", {}).get("holderIdentity", "")
            if method == "POST" and cur:
                record("POST", key, holder, None, 409)
                return status(409, "AlreadyExists", 'leases "%s" already exists' % name)
            if method == "PUT":
                if not cur:
                    return status(404, "NotFound", 'leases "%s" not found' % name)
                if obj.get("metadata", {}).get("resourceVersion") != cur["metadata"]["resourceVersion"]:
                    record("PUT", key, holder, cur["metadata"]["resourceVersion"], 409)
                    return status(409, "Conflict", "the object has been modified; please apply your changes "
                                  "to the latest version and try again")
            next_rv[0] += 1
            obj["metadata"]["resourceVersion"] = str(next_rv[0])
            obj["metadata"]["namespace"] = ns
            leases[key] = obj
            record(method, key, holder, obj["metadata"]["resourceVersion"], 200)
            return (201 if method == "POST" else 200), obj

    def do_GET(self):
        self.answer(*self.handle_one("GET"))

    def do_POST(self):
        self.answer(*self.handle_one("POST"))

    def do_PUT(self):
        self.answer(*self.handle_one("PUT"))


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
srv.serve_forever()
