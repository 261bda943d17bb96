// The TLS relay's test fixture (tls_relay_test.cc: handshakes and trust;
// tls_relay_http_test.cc: HTTP framing, injection per request, pooling):
// tls_relay_serve between two other TLS stacks over loopback: a python3 ssl
// client that trusts only the sandbox CA (the guest), and a python3 ssl
// server with a certificate from a test CA (the API host). The server
// records the headers it received; the client sees only its placeholder.
// Two servers per test binary: "api" (a certificate of the test CA, on
// good_port_) and "bad" (self-signed, on bad_port_), each logging every
// request to dir_/seen_<name>. Needs the openssl command and python3.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lib/base/fs.h"
#include "vmm/net/tls_relay.h"

namespace tls_relay_testing {

inline constexpr char kValue[] = "sk-real-value-31337";
inline constexpr char kHost[] = "api.example.com";

// The API host and the guest (python3 scripts, tls_relay_fixture.cc).
extern const char kServer[];
extern const char kClient[];

std::string Slurp(const std::string &path);
// sh -c cmd with stderr and stdout appended to *out: its exit status.
int Sh(const std::string &cmd, std::string *out = nullptr);
// How many times `what` occurs in s.
size_t Count(const std::string &s, const std::string &what);

// The relay's target: connects to the test server, counts, records.
struct Target {
        int port = -1;
        int connects = 0, before = 0;
        std::function<void(int)> on_before; /* with the request's number, before its rewrite */
        std::vector<struct tls_relay_result> results;
        std::vector<std::string> errors;
};

int TargetConnect(void *ctx);
int TargetBefore(void *ctx, struct ak_error *);
void TargetExchange(void *ctx, const struct tls_relay_result *res, const struct ak_error *err);

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

}  // namespace tls_relay_testing
