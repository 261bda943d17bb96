#!/usr/bin/env python3
"""A registry for tests of what a real one will not do on demand: serves the
OCI image layout DIR over the distribution API on 127.0.0.1, with

  --bearer            401 + WWW-Authenticate: Bearer at /v2/ and every call
                      without the token; the token endpoint is /token on the
                      same server (--user/--password: it requires basic auth)
  --redirect          blob GETs answer 307 to a second listener (another
                      origin), which logs whether an Authorization came along
  --redirect-host H   ... with H as the Location's host instead of 127.0.0.1
  --corrupt           blobs served with one byte changed
  --truncate          blobs cut in half (Content-Length says the full size)
  --break-once        the first blob GET is cut in half; later ones honour Range
  --no-range          Range is ignored (200 with the whole blob)
  --hang              blobs: half is sent, then the server waits forever
  --fail-first N      the first N blob GETs answer 503
  --refresh-token T   POST /token accepts the OAuth2 refresh-token grant with T
  --big-manifest      manifests are padded past 4 MiB
  --upload-elsewhere  blob uploads: POST answers an absolute Location on a
                      second listener (another origin) that takes the PUT
                      without credentials and logs whether one came along;
                      without it the Location is a path with a query

Pushes (POST + monolithic PUT of blobs, PUT of manifests) are stored into
DIR: blobs checked against the digest, manifests recorded in index.json
under their tag, so what was pushed can be pulled back.

Every request is logged as a JSON line to --log. The port is written to
--port-file once listening."""
import argparse
import base64
import hashlib
import json
import os
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

A = None
TOKEN = "tok-" + os.urandom(8).hex()
LOCK = threading.Lock()
COUNT = {"blob_gets": 0}


def log(entry):
    with LOCK, open(A.log, "a") as f:
        f.write(json.dumps(entry) + "\n")


def read_blob(digest):
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        return None
    p = os.path.join(A.dir, "blobs", "sha256", digest[7:])
    if not os.path.exists(p):
        return None
    with open(p, "rb") as f:
        return f.read()


def find_manifest(ref):
    if ref.startswith("sha256:"):
        data = read_blob(ref)
        if data is None:
            return None, None
        return data, json.loads(data).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
    with open(os.path.join(A.dir, "index.json")) as f:
        idx = json.load(f)
    for m in idx["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            return read_blob(m["digest"]), m["mediaType"]
    return None, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, msg, headers=None):
        body = json.dumps({"errors": [{"code": code, "message": msg}]}).encode()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        self.send(status, body, h)

    def challenge(self):
        host = self.headers.get("Host")
        return {"WWW-Authenticate": f'Bearer realm="http://{host}/token",service="fake-registry"'}

    def authorized(self):
        if not A.bearer:
            return True
        return self.headers.get("Authorization") == "Bearer " + TOKEN

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        log({"port": self.server.server_port, "method": self.command, "path": self.path,
             "auth": self.headers.get("Authorization", "")[:6], "range": self.headers.get("Range", "")})
        if self.path.startswith("/token"):
            return self.token()
        if self.path.startswith("/storage/"):
            return self.blob(self.path[len("/storage/"):])
        if self.path == "/v2/":
            if not self.authorized():
                return self.error(401, "UNAUTHORIZED", "authentication required", self.challenge())
            return self.send(200, b"{}", {"Content-Type": "application/json"})
        m = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", self.path)
        if not m:
            return self.error(404, "NOT_FOUND", "no such endpoint")
        if not self.authorized():
            return self.error(401, "UNAUTHORIZED", "authentication required", self.challenge())
        if m.group(2) == "manifests":
            data, mt = find_manifest(m.group(3))
            if data is None:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            if A.big_manifest:
                data = data[:-1] + b" " * (4 << 20) + b"}"
            return self.send(200, data, {"Content-Type": mt,
                                         "Docker-Content-Digest": "sha256:" + hashlib.sha256(data).hexdigest()})
        if A.redirect and self.command == "GET":
            return self.send(307, b"", {"Location": f"http://{A.redirect_host}:{A.storage_port}/storage/{m.group(3)}"})
        return self.blob(m.group(3))

    def upload_start(self, name):
        if not self.authorized():
            return self.error(401, "UNAUTHORIZED", "authentication required", self.challenge())
        uid = os.urandom(8).hex()
        if A.upload_elsewhere:
            loc = f"http://127.0.0.1:{A.storage_port}/upload/{uid}?_state=s%3D1"
        else:
            loc = f"/v2/{name}/blobs/uploads/{uid}?_state=s%3D1"
        return self.send(202, b"", {"Location": loc, "Docker-Upload-UUID": uid})

    def do_PUT(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        log({"port": self.server.server_port, "method": "PUT", "path": self.path,
             "auth": self.headers.get("Authorization", "")[:6], "content_type": self.headers.get("Content-Type", "")})
        own = self.server.server_port != A.storage_port
        if own and not self.authorized():
            return self.error(401, "UNAUTHORIZED", "authentication required", self.challenge())
        m = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", url.path)
        if own and m:
            return self.put_manifest(m.group(2), data)
        if not re.fullmatch(r"/v2/.+/blobs/uploads/[0-9a-f]+|/upload/[0-9a-f]+", url.path):
            return self.error(404, "NOT_FOUND", "no such endpoint")
        if q.get("_state") != ["s=1"]:
            return self.error(400, "BLOB_UPLOAD_INVALID", "the upload's query was lost")
        digest = q.get("digest", [""])[0]
        if digest != "sha256:" + hashlib.sha256(data).hexdigest():
            return self.error(400, "DIGEST_INVALID", "digest mismatch")
        self.store(data)
        return self.send(201, b"", {"Docker-Content-Digest": digest})

    def store(self, data):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(A.dir, "blobs", "sha256", d), "wb") as f:
            f.write(data)
        return "sha256:" + d

    def put_manifest(self, ref, data):
        mt = self.headers.get("Content-Type", "")
        digest = self.store(data)
        with LOCK:
            path = os.path.join(A.dir, "index.json")
            with open(path) as f:
                idx = json.load(f)
            idx["manifests"] = [m for m in idx["manifests"]
                                if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != ref]
            idx["manifests"].append({"mediaType": mt, "digest": digest, "size": len(data),
                                     "annotations": {"org.opencontainers.image.ref.name": ref}})
            with open(path, "w") as f:
                json.dump(idx, f)
        return self.send(201, b"", {"Docker-Content-Digest": digest})

    def do_POST(self):
        up = re.fullmatch(r"/v2/(.+)/blobs/uploads/", self.path)
        if up:
            log({"port": self.server.server_port, "method": "POST", "path": self.path,
                 "auth": self.headers.get("Authorization", "")[:6]})
            return self.upload_start(up.group(1))
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        log({"method": "POST", "path": self.path, "grant_type": form.get("grant_type", [""])[0],
             "scope": form.get("scope", []), "service": form.get("service", [""])[0]})
        if not self.path.startswith("/token") or not A.refresh_token:
            return self.error(404, "NOT_FOUND", "no such endpoint")
        if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [A.refresh_token]:
            return self.error(401, "DENIED", "bad refresh token")
        return self.send(200, json.dumps({"access_token": TOKEN}).encode(), {"Content-Type": "application/json"})

    def token(self):
        if A.user:
            want = "Basic " + base64.b64encode(f"{A.user}:{A.password}".encode()).decode()
            if self.headers.get("Authorization") != want:
                return self.error(401, "DENIED", "bad credentials")
        log({"token_query": self.path})
        return self.send(200, json.dumps({"token": TOKEN, "expires_in": 300}).encode(),
                         {"Content-Type": "application/json"})

    def blob(self, digest):
        data = read_blob(digest)
        if data is None:
            return self.error(404, "BLOB_UNKNOWN", "blob unknown")
        if self.command == "HEAD":
            return self.send(200, b"", {"Content-Length": str(len(data))})
        with LOCK:
            COUNT["blob_gets"] += 1
            n = COUNT["blob_gets"]
        if n <= A.fail_first:
            return self.error(503, "UNAVAILABLE", "try again")
        if A.corrupt:
            data = bytes([data[0] ^ 1]) + data[1:]
        start = 0
        rng = self.headers.get("Range", "")
        m = re.fullmatch(r"bytes=(\d+)-", rng)
        if m and not A.no_range:
            start = int(m.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        cut = A.truncate or A.hang or (A.break_once and n == 1 + A.fail_first)
        if cut and len(body) > 1:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            log({"cut": digest, "sent": len(body) // 2})
            if A.hang:
                time.sleep(3600)
            self.close_connection = True
            return
        self.wfile.write(body)


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    for flag in ("bearer", "redirect", "corrupt", "truncate", "break-once", "no-range", "hang"):
        ap.add_argument("--" + flag, action="store_true")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--redirect-host", default="127.0.0.1")
    ap.add_argument("--refresh-token")
    ap.add_argument("--big-manifest", action="store_true")
    ap.add_argument("--upload-elsewhere", action="store_true")
    ap.add_argument("--user")
    ap.add_argument("--password")
    A = ap.parse_args()
    A.storage_port = 0
    if A.redirect or A.upload_elsewhere:
        storage = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        A.storage_port = storage.server_port
        threading.Thread(target=storage.serve_forever, daemon=True).start()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(A.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_port))
    os.rename(A.port_file + ".tmp", A.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
