// tls_relay_serve between two other TLS stacks over loopback: a python3 ssl
// client that trusts only the sandbox CA (the guest), and a python3 ssl
// server with a certificate from a test CA (the API host). The server
// records the headers it received; the client sees only its placeholder.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lib/base/fs.h"
#include "vmm/net/tls_relay.h"

namespace {

const char kValue[] = "sk-real-value-31337";
const char kHost[] = "api.example.com";

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

int Sh(const std::string &cmd, std::string *out = nullptr)
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

// The relay's target: connects to the test server, counts, records.
struct Target {
        int port = -1;
        int connects = 0, before = 0;
        std::function<void(int)> on_before; /* with the request's number, before its rewrite */
        std::vector<struct tls_relay_result> results;
        std::vector<std::string> errors;
};

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

class TlsRelay : public ::testing::Test {
      protected:
        static void SetUpTestSuite()
        {
                if (Sh("openssl version") != 0 || Sh("python3 -c 'import ssl'") != 0)
                        return;
                char tmpl[] = "/tmp/ak_tls_relay.XXXXXX";
                ASSERT_NE(nullptr, mkdtemp(tmpl));
                dir_ = tmpl;
                std::string d = dir_;
                // the API host's CA and certificate, and a self-signed impostor
                std::string mk =
                        "cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                        "-keyout testca.key -out testca.pem -days 2 -subj /CN=test-api-ca && "
                        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout api.key "
                        "-out api.csr -subj /CN=api.example.com && "
                        "printf 'subjectAltName=DNS:api.example.com\\n' > san.ext && "
                        "openssl x509 -req -in api.csr -CA testca.pem -CAkey testca.key -CAcreateserial "
                        "-days 2 -extfile san.ext -out api.pem && "
                        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout bad.key "
                        "-out bad.pem -days 2 -subj /CN=api.example.com -addext "
                        "subjectAltName=DNS:api.example.com";
                std::string out;
                ASSERT_EQ(0, Sh(mk, &out)) << out;
                std::ofstream(d + "/server.py") << kServer;
                std::ofstream(d + "/client.py") << kClient;
                good_port_ = StartServer("api", &good_pid_);
                bad_port_ = StartServer("bad", &bad_pid_);
        }
        static void TearDownTestSuite()
        {
                for (pid_t p : {good_pid_, bad_pid_})
                        if (p > 0) {
                                kill(p, SIGKILL);
                                waitpid(p, nullptr, 0);
                        }
                if (!dir_.empty())
                        ak_rm_rf(dir_.c_str());
        }
        static int StartServer(const std::string &name, pid_t *pid)
        {
                int fds[2];
                if (pipe(fds) < 0)
                        return -1;
                *pid = fork();
                if (*pid == 0) {
                        dup2(fds[1], 1);
                        close(fds[0]);
                        execlp("python3", "python3", (dir_ + "/server.py").c_str(),
                               (dir_ + "/" + name + ".pem").c_str(), (dir_ + "/" + name + ".key").c_str(),
                               (dir_ + "/seen_" + name).c_str(), (char *)nullptr);
                        _exit(127);
                }
                close(fds[1]);
                char buf[16] = {};
                ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
                close(fds[0]);
                return n > 0 ? atoi(buf) : -1;
        }
        void SetUp() override
        {
                if (dir_.empty())
                        GTEST_SKIP() << "needs the openssl command and python3 (tools/deps.sh)";
                ASSERT_GT(good_port_, 0);
                ASSERT_GT(bad_port_, 0);
                const char *hosts[] = { kHost };
                struct ak_error err = {};
                ASSERT_EQ(0, tls_ca_new(hosts, 1, &ca_, &err)) << err.msg;
                char *pem = nullptr;
                size_t len = 0;
                ASSERT_EQ(0, tls_ca_cert_pem(ca_, &pem, &len));
                std::ofstream(dir_ + "/sandbox_ca.pem") << std::string(pem, len);
                free(pem);
                memset(&secret_, 0, sizeof(secret_));
                ASSERT_EQ(0, inject_placeholder_new(secret_.placeholder));
                strcpy(secret_.host, kHost);
                strcpy(secret_.header, "Authorization");
                value_ = kValue;
                secret_.value = (const uint8_t *)value_.data();
                secret_.value_len = value_.size();
                unlink((dir_ + "/seen_api").c_str());
                unlink((dir_ + "/seen_bad").c_str());
                roots_ = dir_ + "/testca.pem";
                cfg_ = {};
                cfg_.ca = ca_;
                cfg_.secrets = &secret_;
                cfg_.n_secrets = 1;
                cfg_.roots_file = roots_.c_str();
                cfg_.timeout_ms = 5000;
        }
        void TearDown() override { tls_ca_free(ca_); }

        // A guest connection's requests through the relay to the server on
        // upstream_port: what the guest printed, and the relay's result.
        struct Served {
                int rc = -1;
                struct tls_relay_result res = {};
                std::string msg, out;
        };
        Served Guest(int upstream_port, const std::vector<std::string> &reqs, Target *tgt = nullptr,
                     const std::string &client_ca = "sandbox_ca.pem", struct tls_relay *shared = nullptr,
                     size_t prefix = 0)
        {
                Served sv;
                Target local;
                if (!tgt)
                        tgt = &local;
                tgt->port = upstream_port;
                int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct sockaddr_in a = {};
                a.sin_family = AF_INET;
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                socklen_t alen = sizeof(a);
                EXPECT_EQ(0, bind(lfd, (struct sockaddr *)&a, sizeof(a)));
                EXPECT_EQ(0, listen(lfd, 1));
                EXPECT_EQ(0, getsockname(lfd, (struct sockaddr *)&a, &alen));
                int port = ntohs(a.sin_port);
                std::thread t([&] {
                        int g = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
                        struct ak_error err = {};
                        struct tls_relay *relay = shared;
                        if (!relay) {
                                EXPECT_EQ(0, tls_relay_new(&cfg_, &relay, &err)) << err.msg;
                        }
                        // As a proxy does: the first bytes read off the socket before the relay
                        // (prefix 1: whatever the first read gives, the ClientHello; more: that many).
                        std::vector<uint8_t> head(prefix > 1 ? prefix : 4096);
                        ssize_t got = prefix == 0   ? 0
                                      : prefix == 1 ? read(g, head.data(), head.size())
                                                    : recv(g, head.data(), head.size(), MSG_WAITALL);
                        EXPECT_GE(got, prefix ? 1 : 0);
                        if (got < 0)
                                got = 0;
                        std::string addr = "127.0.0.1:" + std::to_string(upstream_port);
                        struct tls_relay_target target = { kHost, addr.c_str(), TargetConnect, TargetBefore,
                                                           TargetExchange, tgt };
                        sv.rc = !relay ? -1 : tls_relay_serve(relay, g, head.data(), (size_t)got, &target, &sv.res, &err);
                        if (!shared)
                                tls_relay_free(relay);
                        sv.msg = err.msg;
                        close(g);
                });
                std::string list = "[";
                for (size_t i = 0; i < reqs.size(); i++)
                        list += (i ? ", " : "") + Json(reqs[i]);
                std::ofstream(dir_ + "/reqs.json") << list + "]";
                Sh("python3 " + dir_ + "/client.py " + dir_ + "/" + client_ca + " " + std::to_string(port) + " " +
                           dir_ + "/reqs.json",
                   &sv.out);
                t.join();
                close(lfd);
                return sv;
        }

        static std::string Json(const std::string &s)
        {
                std::string o = "\"";
                for (char c : s) {
                        if (c == '"' || c == '\\')
                                o += std::string("\\") + c;
                        else if (c == '\r')
                                o += "\\r";
                        else if (c == '\n')
                                o += "\\n";
                        else
                                o += c;
                }
                return o + "\"";
        }

        // GET path with the placeholder in Authorization, and extra header lines.
        std::string Get(const std::string &path, const std::string &extra = "", const std::string &method = "GET")
        {
                return method + " " + path + " HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer " +
                       secret_.placeholder + "\r\n" + extra + "\r\n";
        }

        // The requests the server logged, in order, and how many on connection "conn=PORT" lines.
        std::vector<std::string> Seen()
        {
                std::string all = Slurp(dir_ + "/seen_api");
                std::vector<std::string> v;
                size_t off = 0, end;
                while ((end = all.find("\n----\n", off)) != std::string::npos) {
                        v.push_back(all.substr(off, end - off));
                        off = end + 6;
                }
                return v;
        }
        static std::string ConnOf(const std::string &req) { return req.substr(0, req.find("\r\n")); }

        static std::string dir_;
        static int good_port_, bad_port_;
        static pid_t good_pid_, bad_pid_;
        struct tls_ca *ca_ = nullptr;
        struct inject_secret secret_;
        std::string value_, roots_;
        struct tls_relay_config cfg_ = {};
};

std::string TlsRelay::dir_;
int TlsRelay::good_port_ = -1, TlsRelay::bad_port_ = -1;
pid_t TlsRelay::good_pid_ = -1, TlsRelay::bad_pid_ = -1;

size_t Count(const std::string &s, const std::string &what)
{
        size_t n = 0;
        for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1))
                n++;
        return n;
}

TEST_F(TlsRelay, ServerSeesTheValueGuestSeesThePlaceholder)
{
        Target tgt;
        Served sv = Guest(good_port_, { Get("/v1/models") }, &tgt);
        EXPECT_EQ(0, sv.rc) << sv.msg;
        EXPECT_EQ(TLS_RELAY_DONE, sv.res.outcome);
        EXPECT_TRUE(sv.res.injected);
        EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 200 OK ok")) << sv.out;
        EXPECT_EQ(std::string::npos, sv.out.find(kValue)) << sv.out;
        // What proxy hooks report: the request line's method and path, the
        // answer's status.
        EXPECT_STREQ("GET", sv.res.method);
        EXPECT_STREQ("/v1/models", sv.res.path);
        EXPECT_EQ(200, sv.res.status);
        ASSERT_EQ(1u, tgt.results.size());
        EXPECT_EQ(1, tgt.before);
        std::string seen = Slurp(dir_ + "/seen_api");
        EXPECT_NE(std::string::npos, seen.find(std::string("Authorization: Bearer ") + kValue + "\r\n")) << seen;
        EXPECT_EQ(std::string::npos, seen.find(secret_.placeholder)) << seen;
        EXPECT_EQ(std::string::npos, sv.msg.find(kValue));
        EXPECT_FALSE(sv.res.resumed);
        EXPECT_FALSE(sv.res.reused);
}

// Bytes a proxy read off the guest's socket to sniff it (the whole
// ClientHello, or only its start) are replayed into the guest's TLS.
TEST_F(TlsRelay, BytesAlreadyReadAreReplayed)
{
        for (size_t prefix : { (size_t)1, (size_t)5, (size_t)100 }) {
                Served sv = Guest(good_port_, { Get("/") }, nullptr, "sandbox_ca.pem", nullptr, prefix);
                EXPECT_EQ(0, sv.rc) << prefix << ": " << sv.msg;
                EXPECT_TRUE(sv.res.injected) << prefix;
                EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 200 OK")) << prefix << ": " << sv.out;
                std::string seen = Slurp(dir_ + "/seen_api");
                EXPECT_NE(std::string::npos, seen.find(std::string("Authorization: Bearer ") + kValue + "\r\n"))
                        << prefix << ": " << seen;
                unlink((dir_ + "/seen_api").c_str());
        }
}

// Every request on one guest connection is rewritten, hooked and read
// with the values as they are then: a rotation between two requests on the
// same connection reaches the server with the second.
TEST_F(TlsRelay, EveryRequestOnAConnectionIsInjectedHookedAndRotated)
{
        Target tgt;
        tgt.on_before = [&](int n) {
                if (n == 3) {
                        value_ = "sk-rotated-value";
                        secret_.value = (const uint8_t *)value_.data();
                        secret_.value_len = value_.size();
                }
        };
        Served sv = Guest(good_port_,
                          { Get("/one"), Get("/two", "Content-Length: 4\r\n", "POST") + "body", Get("/three"),
                            Get("/chunked") },
                          &tgt);
        EXPECT_EQ(0, sv.rc) << sv.msg;
        EXPECT_EQ(3u, Count(sv.out, "RESP HTTP/1.1 200 OK ok\n")) << sv.out;
        EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 200 OK okabc")) << sv.out;
        ASSERT_EQ(4u, tgt.results.size());
        EXPECT_EQ(4, tgt.before);
        const char *paths[] = { "/one", "/two", "/three", "/chunked" };
        for (unsigned i = 0; i < 4; i++) {
                EXPECT_EQ(TLS_RELAY_DONE, tgt.results[i].outcome) << i;
                EXPECT_TRUE(tgt.results[i].injected) << i;
                EXPECT_STREQ(paths[i], tgt.results[i].path) << i;
                EXPECT_EQ(200, tgt.results[i].status) << i;
                EXPECT_EQ(i + 1, tgt.results[i].request) << i;
        }
        EXPECT_STREQ("POST", tgt.results[1].method);
        std::vector<std::string> seen = Seen();
        ASSERT_EQ(4u, seen.size());
        EXPECT_NE(std::string::npos, seen[0].find(std::string("Bearer ") + kValue)) << seen[0];
        EXPECT_NE(std::string::npos, seen[1].find("\r\n\r\nbody")) << seen[1];
        EXPECT_NE(std::string::npos, seen[2].find("Bearer sk-rotated-value")) << seen[2];
        EXPECT_NE(std::string::npos, seen[3].find("Bearer sk-rotated-value")) << seen[3];
        // all four over one server connection (the pool kept it between them)
        for (const std::string &r : seen)
                EXPECT_EQ(ConnOf(seen[0]), ConnOf(r));
        EXPECT_TRUE(tgt.results[1].reused);
        EXPECT_EQ(1, tgt.connects);
}

// The second request on a keep-alive guest connection carries the
// placeholder in its URL: refused (403), audited through the hook, and
// nothing of it reaches the server; the first went through.
TEST_F(TlsRelay, SecondRequestWithThePlaceholderInTheUrlIsRefused)
{
        Target tgt;
        std::string leak = "GET /leak?k=" + std::string(secret_.placeholder) + " HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
        Served sv = Guest(good_port_, { Get("/first"), leak, Get("/after") }, &tgt);
        EXPECT_EQ(-EACCES, sv.rc);
        EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 200 OK ok")) << sv.out;
        // framed by its length: the whole body, then the end of the connection
        EXPECT_NE(std::string::npos,
                  sv.out.find("RESP HTTP/1.1 403 Forbidden ak secret relay: a secret's placeholder where it may not "
                              "go\n\nEOF"))
                << sv.out;
        EXPECT_NE(std::string::npos, sv.out.find("EOF")) << sv.out;
        ASSERT_EQ(2u, tgt.results.size());
        EXPECT_EQ(TLS_RELAY_DONE, tgt.results[0].outcome);
        EXPECT_EQ(TLS_RELAY_REFUSED_SECRET, tgt.results[1].outcome);
        EXPECT_STREQ("/leak", tgt.results[1].path);
        EXPECT_NE(std::string::npos, tgt.errors[1].find("placeholder where it may not go")) << tgt.errors[1];
        std::string seen = Slurp(dir_ + "/seen_api");
        EXPECT_NE(std::string::npos, seen.find("/first")) << seen;
        EXPECT_EQ(std::string::npos, seen.find("/leak")) << seen;
        EXPECT_EQ(std::string::npos, seen.find("/after")) << seen;
        EXPECT_EQ(std::string::npos, seen.find(secret_.placeholder)) << seen;
}

// Request smuggling: a head framed two ways never reaches the server, in
// first place or behind a good request on the same connection.
TEST_F(TlsRelay, AmbiguouslyFramedRequestsAreRefused)
{
        const std::string bad[] = {
                Get("/te-cl", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "POST") + "0\r\n\r\n",
                Get("/cl-cl", "Content-Length: 5\r\nContent-Length: 6\r\n", "POST") + "hello!",
                Get("/fold", "X-A: 1\r\n folded\r\n"),
                Get("/te-gzip", "Transfer-Encoding: gzip\r\n", "POST"),
                Get("/badchunk", "Transfer-Encoding: chunked\r\n", "POST") + "zz\r\nhello\r\n0\r\n\r\n",
        };
        for (const std::string &b : bad) {
                Target tgt;
                Served sv = Guest(good_port_, { Get("/good"), b }, &tgt);
                EXPECT_EQ(-EBADMSG, sv.rc) << b;
                EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 400 Bad Request")) << b << sv.out;
                ASSERT_EQ(2u, tgt.results.size()) << b;
                EXPECT_EQ(TLS_RELAY_BAD_REQUEST, tgt.results[1].outcome) << b;
        }
        std::string seen = Slurp(dir_ + "/seen_api");
        EXPECT_EQ(5u, Count(seen, "/good")) << seen;
        for (const char *p : { "/te-cl", "/cl-cl", "/fold", "/te-gzip" })
                EXPECT_EQ(std::string::npos, seen.find(p)) << p << seen;
}

// The guest closes after each request (its own Connection: close); the
// relay keeps the server connection and the next guest connection's
// request goes over it.
TEST_F(TlsRelay, ServerConnectionIsPooledAcrossGuestConnections)
{
        struct tls_relay *relay = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, tls_relay_new(&cfg_, &relay, &err)) << err.msg;
        Target t1, t2;
        Served a = Guest(good_port_, { Get("/a", "Connection: close\r\n") }, &t1, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, a.rc) << a.msg;
        EXPECT_EQ(1u, tls_relay_pooled(relay));
        Served b = Guest(good_port_, { Get("/b", "Connection: close\r\n") }, &t2, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, b.rc) << b.msg;
        EXPECT_NE(std::string::npos, b.out.find("RESP HTTP/1.1 200 OK ok")) << b.out;
        EXPECT_TRUE(b.res.reused);
        EXPECT_EQ(0, t2.connects);
        std::vector<std::string> seen = Seen();
        ASSERT_EQ(2u, seen.size());
        EXPECT_EQ(ConnOf(seen[0]), ConnOf(seen[1]));
        // the guest's Connection header is not the server's business
        EXPECT_EQ(std::string::npos, seen[0].find("Connection:")) << seen[0];
        tls_relay_pool_flush(relay); /* the VM's network went away */
        EXPECT_EQ(0u, tls_relay_pooled(relay));
        Target t3;
        Served c = Guest(good_port_, { Get("/c") }, &t3, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, c.rc) << c.msg;
        EXPECT_EQ(1, t3.connects) << "a new server connection after the flush";
        tls_relay_free(relay); /* closes what the pool holds */
}

// Connections that cannot carry another request are not pooled: a
// close-delimited answer, Connection: close; nor with pooling off.
TEST_F(TlsRelay, ClosingServerConnectionsAreNotPooled)
{
        struct tls_relay *relay = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, tls_relay_new(&cfg_, &relay, &err)) << err.msg;
        Served a = Guest(good_port_, { Get("/close"), Get("/never") }, nullptr, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, a.rc) << a.msg;
        EXPECT_NE(std::string::npos, a.out.find("RESP HTTP/1.1 200 OK closed-body")) << a.out;
        EXPECT_NE(std::string::npos, a.out.find("EOF")) << a.out; /* the guest's connection ended with it */
        EXPECT_EQ(0u, tls_relay_pooled(relay));
        Target t;
        Served b = Guest(good_port_, { Get("/bye"), Get("/x") }, &t, "sandbox_ca.pem", relay);
        EXPECT_NE(std::string::npos, b.out.find("RESP HTTP/1.1 200 OK bye")) << b.out;
        EXPECT_EQ(0u, tls_relay_pooled(relay));
        EXPECT_EQ(1, t.connects);
        EXPECT_EQ(std::string::npos, Slurp(dir_ + "/seen_api").find("/never"));
        tls_relay_free(relay);

        cfg_.no_pool = true;
        ASSERT_EQ(0, tls_relay_new(&cfg_, &relay, &err)) << err.msg;
        Target t3;
        Served c = Guest(good_port_, { Get("/p1"), Get("/p2") }, &t3, "sandbox_ca.pem", relay);
        EXPECT_EQ(2u, Count(c.out, "RESP HTTP/1.1 200 OK ok")) << c.out;
        EXPECT_EQ(2, t3.connects);
        EXPECT_EQ(0u, tls_relay_pooled(relay));
        ASSERT_EQ(2u, t3.results.size());
        EXPECT_TRUE(t3.results[1].resumed) << "a new server connection resumes the last session";
        tls_relay_free(relay);
}

// A pooled connection the server closes as the next request arrives: an
// idempotent request is sent again on a new connection; a POST is not.
TEST_F(TlsRelay, StalePooledConnectionIsRetriedOnlyWhenIdempotent)
{
        struct tls_relay *relay = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, tls_relay_new(&cfg_, &relay, &err)) << err.msg;
        Target t;
        Served a = Guest(good_port_, { Get("/drop-next"), Get("/again") }, &t, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, a.rc) << a.msg;
        EXPECT_EQ(2u, Count(a.out, "RESP HTTP/1.1 200 OK ok")) << a.out;
        ASSERT_EQ(2u, t.results.size());
        EXPECT_TRUE(t.results[1].retried);
        EXPECT_EQ(2, t.connects);
        Target t2;
        Served b = Guest(good_port_, { Get("/drop-next"), Get("/post", "Content-Length: 2\r\n", "POST") + "hi" }, &t2,
                         "sandbox_ca.pem", relay);
        EXPECT_NE(std::string::npos, b.out.find("RESP HTTP/1.1 502 Bad Gateway")) << b.out;
        ASSERT_EQ(2u, t2.results.size());
        EXPECT_FALSE(t2.results[1].retried);
        EXPECT_EQ(TLS_RELAY_IO, t2.results[1].outcome);
        EXPECT_NE(std::string::npos, t2.errors[1].find("closed the connection without answering")) << t2.errors[1];
        tls_relay_free(relay);
}

// Responses: chunked with trailers, HEAD's length without a body, 1xx
// before the final answer: each framed right, so the next request on the
// same connections still works; one framed two ways is a 502.
TEST_F(TlsRelay, ResponsesAreFramedAndAmbiguousOnesRefused)
{
        Target t;
        Served a = Guest(good_port_,
                         { Get("/chunked"), Get("/h", "", "HEAD"),
                           Get("/e", "Expect: 100-continue\r\nContent-Length: 3\r\n", "PUT") + "abc", Get("/last") },
                         &t);
        EXPECT_EQ(0, a.rc) << a.msg;
        EXPECT_NE(std::string::npos, a.out.find("RESP HTTP/1.1 200 OK okabc")) << a.out;
        EXPECT_EQ(4u, Count(a.out, "RESP HTTP/1.1 200 OK")) << a.out;
        ASSERT_EQ(4u, t.results.size());
        EXPECT_EQ(200, t.results[2].status);
        EXPECT_EQ(1, t.connects);
        Target t2;
        Served b = Guest(good_port_, { Get("/smuggle"), Get("/x") }, &t2);
        EXPECT_EQ(-EBADMSG, b.rc);
        EXPECT_NE(std::string::npos, b.out.find("RESP HTTP/1.1 502 Bad Gateway")) << b.out;
        ASSERT_EQ(1u, t2.results.size());
        EXPECT_EQ(TLS_RELAY_BAD_RESPONSE, t2.results[0].outcome);
}

TEST_F(TlsRelay, ServerWithAnUntrustedCertificateGetsNothing)
{
        Served sv = Guest(bad_port_, { Get("/") });
        EXPECT_EQ(-EPROTO, sv.rc);
        EXPECT_EQ(TLS_RELAY_UPSTREAM_TLS, sv.res.outcome);
        EXPECT_NE(std::string::npos, sv.msg.find("certificate")) << sv.msg;
        EXPECT_NE(std::string::npos, sv.out.find("RESP HTTP/1.1 502")) << sv.out;
        EXPECT_EQ("", Slurp(dir_ + "/seen_bad"));
        EXPECT_EQ(std::string::npos, sv.msg.find(kValue));
}

TEST_F(TlsRelay, GuestThatDoesNotTrustTheSandboxCaGetsNoConnection)
{
        Target t;
        Served sv = Guest(good_port_, { Get("/") }, &t, "testca.pem");
        EXPECT_EQ(-EPROTO, sv.rc);
        EXPECT_EQ(TLS_RELAY_GUEST_TLS, sv.res.outcome);
        EXPECT_NE(std::string::npos, sv.out.find("CERTIFICATE_VERIFY_FAILED")) << sv.out;
        EXPECT_EQ("", Slurp(dir_ + "/seen_api"));
        EXPECT_EQ(1u, t.results.size());
}

TEST_F(TlsRelay, SetupErrorsSayWhat)
{
        struct tls_relay *relay = nullptr;
        struct ak_error err = {};
        struct tls_relay_config cfg = { ca_, &secret_, 1, "/nonexistent/roots.pem", 5000 };
        EXPECT_EQ(-EIO, tls_relay_new(&cfg, &relay, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "roots: /nonexistent/roots.pem")) << err.msg;
        strcpy(secret_.host, "elsewhere.example.com");
        cfg.roots_file = nullptr;
        EXPECT_EQ(-EACCES, tls_relay_new(&cfg, &relay, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "certificate for elsewhere.example.com")) << err.msg;
        EXPECT_EQ(nullptr, relay);
}

}  // namespace
