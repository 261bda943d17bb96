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

const char kServer[] = R"PY(
import socket, ssl, sys
cert, key, seen = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    try:
        t = ctx.wrap_socket(c, server_side=True)
        data = b""
        while b"\r\n\r\n" not in data:
            d = t.recv(4096)
            if not d:
                break
            data += d
        with open(seen, "ab") as f:
            f.write(data + b"----\n")
        t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        t.close()
    except Exception as e:
        print("server:", e, file=sys.stderr, flush=True)
)PY";

const char kClient[] = R"PY(
import socket, ssl, sys
ca, port, header = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port)) as s:
    with ctx.wrap_socket(s, server_hostname="api.example.com") as t:
        t.sendall(b"GET /v1/models HTTP/1.1\r\nHost: api.example.com\r\n" + header.encode() + b"\r\n\r\n")
        out = b""
        while True:
            d = t.recv(4096)
            if not d:
                break
            out += d
        sys.stdout.write(out.decode())
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
        }
        void TearDown() override { tls_ca_free(ca_); }

        // One guest request through the relay to the server on upstream_port.
        std::string Request(int upstream_port, const std::string &header, struct tls_relay_result *res, int *rc,
                            std::string *errmsg, const std::string &client_ca = "sandbox_ca.pem",
                            struct tls_relay *shared = nullptr, size_t prefix = 0)
        {
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
                        int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                        struct sockaddr_in ua = {};
                        ua.sin_family = AF_INET;
                        ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                        ua.sin_port = htons(upstream_port);
                        EXPECT_EQ(0, connect(u, (struct sockaddr *)&ua, sizeof(ua)));
                        std::string roots = dir_ + "/testca.pem";
                        struct tls_relay_config cfg = { ca_, &secret_, 1, roots.c_str(), 5000 };
                        struct ak_error err = {};
                        struct tls_relay *relay = shared;
                        if (!relay) {
                                EXPECT_EQ(0, tls_relay_new(&cfg, &relay, &err)) << err.msg;
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
                        *rc = !relay ? -1
                              : prefix ? tls_relay_serve_prefixed(relay, g, head.data(), (size_t)got, u, kHost, res,
                                                                  &err)
                                       : tls_relay_serve(relay, g, u, kHost, res, &err);
                        if (!shared)
                                tls_relay_free(relay);
                        *errmsg = err.msg;
                        close(g);
                        close(u);
                });
                std::string out;
                Sh("python3 " + dir_ + "/client.py " + dir_ + "/" + client_ca + " " + std::to_string(port) + " '" +
                           header + "'",
                   &out);
                t.join();
                close(lfd);
                return out;
        }

        static std::string dir_;
        static int good_port_, bad_port_;
        static pid_t good_pid_, bad_pid_;
        struct tls_ca *ca_ = nullptr;
        struct inject_secret secret_;
        std::string value_;
};

std::string TlsRelay::dir_;
int TlsRelay::good_port_ = -1, TlsRelay::bad_port_ = -1;
pid_t TlsRelay::good_pid_ = -1, TlsRelay::bad_pid_ = -1;

TEST_F(TlsRelay, ServerSeesTheValueGuestSeesThePlaceholder)
{
        struct tls_relay_result res = {};
        int rc = -1;
        std::string msg;
        std::string out = Request(good_port_, std::string("Authorization: Bearer ") + secret_.placeholder, &res, &rc,
                                  &msg);
        EXPECT_EQ(0, rc) << msg;
        EXPECT_EQ(TLS_RELAY_DONE, res.outcome);
        EXPECT_TRUE(res.injected);
        EXPECT_NE(std::string::npos, out.find("HTTP/1.1 200 OK")) << out;
        EXPECT_EQ(std::string::npos, out.find(kValue)) << out;
        // What proxy hooks report: the request line's method and path, the
        // answer's status.
        EXPECT_STREQ("GET", res.method);
        EXPECT_STREQ("/v1/models", res.path);
        EXPECT_EQ(200, res.status);
        std::string seen = Slurp(dir_ + "/seen_api");
        EXPECT_NE(std::string::npos, seen.find(std::string("Authorization: Bearer ") + kValue + "\r\n")) << seen;
        EXPECT_EQ(std::string::npos, seen.find(secret_.placeholder)) << seen;
        EXPECT_NE(std::string::npos, seen.find("Connection: close\r\n\r\n")) << seen;
        EXPECT_EQ(std::string::npos, msg.find(kValue));

        EXPECT_FALSE(res.resumed);
}

// Bytes a proxy read off the guest's socket to sniff it (the whole
// ClientHello, or only its start) are replayed into the guest's TLS.
TEST_F(TlsRelay, BytesAlreadyReadAreReplayed)
{
        for (size_t prefix : { (size_t)1, (size_t)5, (size_t)100 }) {
                struct tls_relay_result res = {};
                int rc = -1;
                std::string msg;
                std::string out = Request(good_port_, std::string("Authorization: Bearer ") + secret_.placeholder,
                                          &res, &rc, &msg, "sandbox_ca.pem", nullptr, prefix);
                EXPECT_EQ(0, rc) << prefix << ": " << msg;
                EXPECT_TRUE(res.injected) << prefix;
                EXPECT_NE(std::string::npos, out.find("HTTP/1.1 200 OK")) << prefix << ": " << out;
                std::string seen = Slurp(dir_ + "/seen_api");
                EXPECT_NE(std::string::npos, seen.find(std::string("Authorization: Bearer ") + kValue + "\r\n"))
                        << prefix << ": " << seen;
                unlink((dir_ + "/seen_api").c_str());
        }
}

TEST_F(TlsRelay, RotationTakesEffectAndTheServerSessionIsResumed)
{
        std::string roots = dir_ + "/testca.pem";
        struct tls_relay_config cfg = { ca_, &secret_, 1, roots.c_str(), 5000 };
        struct tls_relay *relay = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(0, tls_relay_new(&cfg, &relay, &err)) << err.msg;
        struct tls_relay_result res = {};
        int rc = -1;
        std::string msg, auth = std::string("Authorization: Bearer ") + secret_.placeholder;
        Request(good_port_, auth, &res, &rc, &msg, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, rc) << msg;
        EXPECT_FALSE(res.resumed);
        // the owner swaps the value between connections; the next one carries it
        value_ = "sk-rotated-value";
        secret_.value = (const uint8_t *)value_.data();
        secret_.value_len = value_.size();
        Request(good_port_, auth, &res, &rc, &msg, "sandbox_ca.pem", relay);
        EXPECT_EQ(0, rc) << msg;
        EXPECT_TRUE(res.resumed) << "the second connection resumes the server's session";
        std::string seen = Slurp(dir_ + "/seen_api");
        EXPECT_NE(std::string::npos, seen.find(std::string("Authorization: Bearer ") + kValue + "\r\n")) << seen;
        EXPECT_NE(std::string::npos, seen.find("Authorization: Bearer sk-rotated-value\r\n")) << seen;
        tls_relay_free(relay);
}

TEST_F(TlsRelay, PlaceholderInAnotherHeaderIsRefusedBeforeTheServer)
{
        struct tls_relay_result res = {};
        int rc = 0;
        std::string msg;
        Request(good_port_, std::string("X-Leak: ") + secret_.placeholder, &res, &rc, &msg);
        EXPECT_EQ(-EACCES, rc);
        EXPECT_EQ(TLS_RELAY_REFUSED_SECRET, res.outcome);
        EXPECT_EQ(0u, res.secret);
        EXPECT_NE(std::string::npos, msg.find("placeholder where it may not go")) << msg;
        EXPECT_EQ("", Slurp(dir_ + "/seen_api")) << "nothing reached the server";
}

TEST_F(TlsRelay, ServerWithAnUntrustedCertificateGetsNothing)
{
        struct tls_relay_result res = {};
        int rc = 0;
        std::string msg;
        Request(bad_port_, std::string("Authorization: Bearer ") + secret_.placeholder, &res, &rc, &msg);
        EXPECT_EQ(-EPROTO, rc);
        EXPECT_EQ(TLS_RELAY_UPSTREAM_TLS, res.outcome);
        EXPECT_NE(std::string::npos, msg.find("certificate")) << msg;
        EXPECT_EQ("", Slurp(dir_ + "/seen_bad"));
        EXPECT_EQ(std::string::npos, msg.find(kValue));
}

TEST_F(TlsRelay, GuestThatDoesNotTrustTheSandboxCaGetsNoConnection)
{
        struct tls_relay_result res = {};
        int rc = 0;
        std::string msg;
        std::string out = Request(good_port_, std::string("Authorization: Bearer ") + secret_.placeholder, &res,
                                  &rc, &msg, "testca.pem");
        EXPECT_EQ(-EPROTO, rc);
        EXPECT_EQ(TLS_RELAY_GUEST_TLS, res.outcome);
        EXPECT_NE(std::string::npos, out.find("CERTIFICATE_VERIFY_FAILED")) << out;
        EXPECT_EQ("", Slurp(dir_ + "/seen_api"));
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
