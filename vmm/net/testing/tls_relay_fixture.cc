// The TLS relay's test fixture (tls_relay_fixture.h): the python3 API host
// and guest, the relay's target, the fixture's statics.
#include "vmm/net/testing/tls_relay_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace tls_relay_testing {

// The API host: HTTP/1.1 with keep-alive, one thread per connection. It
// logs every request (with its connection's client port, "conn=PORT") and
// answers by path: /chunked (chunked with a trailer), /close (ends by
// closing), /bye (Connection: close), /smuggle (Content-Length and
// Transfer-Encoding both), /drop-next (the next request on this connection
// is read and the connection closed unanswered), else "ok" by length.
const char kServer[] = R"PY(
import socket, ssl, sys, threading
cert, key, seen = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
lock = threading.Lock()
def log(b):
    with lock:
        with open(seen, "ab") as f:
            f.write(b)
class Conn:
    def __init__(self, t):
        self.t, self.buf = t, b""
    def more(self):
        d = self.t.recv(65536)
        if not d:
            raise EOFError
        self.buf += d
    def line(self):
        while b"\r\n" not in self.buf:
            self.more()
        i = self.buf.index(b"\r\n")
        l, self.buf = self.buf[:i], self.buf[i + 2:]
        return l
    def exact(self, n):
        while len(self.buf) < n:
            self.more()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d
def serve(c, port):
    t = ctx.wrap_socket(c, server_hostname=None, server_side=True)
    k, drop = Conn(t), False
    while True:
        head = []
        try:
            while True:
                l = k.line()
                if not l:
                    break
                head.append(l)
        except (EOFError, OSError):
            break
        low = [h.lower() for h in head]
        if b"expect: 100-continue" in low:
            t.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = b""
        cl = [h for h in low if h.startswith(b"content-length:")]
        if b"transfer-encoding: chunked" in low:
            while True:
                n = int(k.line().split(b";")[0], 16)
                if n == 0:
                    while k.line():
                        pass
                    break
                body += k.exact(n)
                k.exact(2)
        elif cl:
            body = k.exact(int(cl[0].split(b":")[1]))
        log(b"conn=%d\r\n" % port + b"\r\n".join(head) + b"\r\n\r\n" + body + b"\n----\n")
        if drop:
            break
        method, path = head[0].split(b" ")[0], head[0].split(b" ")[1]
        if method == b"HEAD":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n")
        elif path == b"/chunked":
            t.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")
        elif path == b"/close":
            t.sendall(b"HTTP/1.1 200 OK\r\n\r\nclosed-body")
            break
        elif path == b"/bye":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye")
            break
        elif path == b"/smuggle":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        else:
            drop = path == b"/drop-next"
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    try:
        t.close()
    except OSError:
        pass
while True:
    c, a = s.accept()
    threading.Thread(target=serve, args=(c, a[1]), daemon=True).start()
)PY";

// The guest: one TLS connection trusting the CA file argv[1], the raw
// requests of the JSON list in file argv[3] sent one after the other, each
// answer read by its framing and printed as "RESP <status line> <body>";
// "EOF" when the connection ended instead.
const char kClient[] = R"PY(
import json, socket, ssl, sys
ca, port, reqs = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3]))
ctx = ssl.create_default_context(cafile=ca)
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="api.example.com")
buf = b""
def more():
    global buf
    d = t.recv(65536)
    if not d:
        raise EOFError
    buf += d
def line():
    global buf
    while b"\r\n" not in buf:
        more()
    i = buf.index(b"\r\n")
    l, buf = buf[:i], buf[i + 2:]
    return l
def exact(n):
    global buf
    while len(buf) < n:
        more()
    d, buf = buf[:n], buf[n:]
    return d
for r in reqs:
    try:
        t.sendall(r.encode())
        while True:
            status, hdrs = line(), []
            while True:
                l = line()
                if not l:
                    break
                hdrs.append(l.lower())
            if not status.split()[1].startswith(b"1"):
                break
        code, body = int(status.split()[1]), b""
        cl = [h for h in hdrs if h.startswith(b"content-length:")]
        if r.startswith("HEAD ") or code in (204, 304):
            pass
        elif any(h.startswith(b"transfer-encoding:") for h in hdrs):
            while True:
                n = int(line().split(b";")[0], 16)
                if n == 0:
                    while line():
                        pass
                    break
                body += exact(n)
                exact(2)
        elif cl:
            body = exact(int(cl[0].split(b":")[1]))
        else:
            try:
                while True:
                    more()
            except (EOFError, ssl.SSLError):
                body, buf = buf, b""
        print("RESP", status.decode(), body.decode(errors="replace"), flush=True)
    except (EOFError, OSError) as e:
        print("EOF", type(e).__name__, flush=True)
        break
)PY";

std::string Slurp(const std::string &path)
{
        std::ifstream f(path, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
}

int Sh(const std::string &cmd, std::string *out)
{
        FILE *p = popen((cmd + " 2>&1").c_str(), "r");
        if (!p)
                return -1;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                if (out)
                        out->append(buf, n);
        int st = pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

size_t Count(const std::string &s, const std::string &what)
{
        size_t n = 0;
        for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1))
                n++;
        return n;
}

int TargetConnect(void *ctx)
{
        Target *t = static_cast<Target *>(ctx);
        int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in ua = {};
        ua.sin_family = AF_INET;
        ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ua.sin_port = htons(t->port);
        if (connect(u, (struct sockaddr *)&ua, sizeof(ua)) < 0) {
                int r = -errno;
                close(u);
                return r;
        }
        t->connects++;
        return u;
}

int TargetBefore(void *ctx, struct ak_error *)
{
        Target *t = static_cast<Target *>(ctx);
        t->before++;
        if (t->on_before)
                t->on_before(t->before);
        return 0;
}

void TargetExchange(void *ctx, const struct tls_relay_result *res, const struct ak_error *err)
{
        Target *t = static_cast<Target *>(ctx);
        t->results.push_back(*res);
        t->errors.push_back(err ? err->msg : "");
}

std::string TlsRelay::dir_;
int TlsRelay::good_port_ = -1, TlsRelay::bad_port_ = -1;
pid_t TlsRelay::good_pid_ = -1, TlsRelay::bad_pid_ = -1;

}  // namespace tls_relay_testing
