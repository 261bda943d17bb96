/* The proxy's test fixture (proxy_test.cc: relaying, handoff, deadlines,
 * bounds; proxy_events_test.cc: what it reports and tells its observer): the
 * proxy in network namespaces the fixture makes: a "guest" namespace whose
 * nft rules redirect TCP 80/443 to the proxy, and a "server" namespace at
 * 198.18.7.1 (a benchmarking-range address, never routed outside) with a
 * plain HTTP server (a thread here) and openssl s_server. Namespaces and
 * links are named by the pid (aksni-g<pid>, aksni-s<pid>, sni<pid>a/b).
 * Needs root, ip, nft and openssl; skips by name without them. */
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/netns.h"
#include "vmm/net/net_event.h"
#include "vmm/net/netloop.h"
#include "vmm/net/proxy.h"

namespace proxy_testing {

inline constexpr const char *kServer = "198.18.7.1";

using aktest::Sh; /* sh -c cmd, its output thrown away: 0 on success */
/* This process's open file descriptors (and /proc's own, counted alike). */
int CountFds();
/* Whether cond became true within ms milliseconds (polled every 10). */
bool WaitFor(const std::function<bool()> &cond, int ms = 5000);

struct Events {
        std::mutex mu;
        std::vector<net_event> evs;
        static void Fn(void *ctx, const net_event *ev)
        {
                auto *e = static_cast<Events *>(ctx);
                std::lock_guard<std::mutex> l(e->mu);
                e->evs.push_back(*ev);
        }
        size_t Size()
        {
                std::lock_guard<std::mutex> l(mu);
                return evs.size();
        }
};

/* What the observer was told, copied. */
struct Flow {
        sniff_proto proto;
        std::string name, dst, method, path, refused;
        bool has_path, has_refused;
        uint16_t port;
        int status;
        uint64_t to_server, to_guest;
};
struct Flows {
        std::mutex mu;
        std::vector<Flow> v;
        static void Fn(void *ctx, const proxy_flow *f)
        {
                auto *o = static_cast<Flows *>(ctx);
                std::lock_guard<std::mutex> l(o->mu);
                o->v.push_back(Flow{ f->proto, f->name ? f->name : "(none)", f->dst_text, f->method,
                                     f->path ? f->path : "", f->refused ? f->refused : "", f->path != nullptr,
                                     f->refused != nullptr, f->dst_port, f->status, f->to_server, f->to_guest });
        }
        size_t Size()
        {
                std::lock_guard<std::mutex> l(mu);
                return v.size();
        }
        Flow At(size_t i)
        {
                std::lock_guard<std::mutex> l(mu);
                return v.at(i);
        }
};

/* Takes handed-off connections: answers "HANDED <n>\n" and the n bytes
 * the proxy had read, then closes. */
struct Handoff {
        std::atomic<int> taken{ 0 };
        static void Fn(void *ctx, int fd, const proxy_request *req)
        {
                auto *h = static_cast<Handoff *>(ctx);
                h->taken++; /* before the close the test's read waits for */
                std::string out = "HANDED " + std::to_string(req->head_len) + "\n" +
                                  std::string((const char *)req->head, req->head_len);
                (void)!send(fd, out.data(), out.size(), MSG_NOSIGNAL);
                close(fd);
        }
};

/* Allows "allowed.test" only; remembers what it was asked. */
struct Policy {
        std::atomic<int> asked{ 0 };
        std::string last_name, last_dst, last_head;
        uint16_t last_port = 0;
        static int Fn(void *ctx, const proxy_request *req, char rule[PROXY_RULE_MAX])
        {
                auto *p = static_cast<Policy *>(ctx);
                p->last_name = req->name ? req->name : "(none)";
                p->last_dst = req->dst_text;
                p->last_port = req->dst_port;
                p->asked++;
                if (!req->name) {
                        snprintf(rule, PROXY_RULE_MAX, "test.no-name");
                        return 0;
                }
                if (std::string(req->name) == "allowed.test")
                        return 1;
                if (std::string(req->name) == "handoff.test") {
                        p->last_head.assign((const char *)req->head, req->head_len);
                        return PROXY_HANDOFF;
                }
                snprintf(rule, PROXY_RULE_MAX, "test.deny");
                return 0;
        }
};

class ProxyTest : public ::testing::Test {
    protected:
        static std::string g_, s_, dir_;
        static int gfd_, sfd_, http_fd_;
        static pid_t tls_pid_;
        static std::atomic<int> http_accepted_;
        static std::thread http_;
        static bool ok_;
        static std::string why_;

        static void SetUpTestSuite()
        {
                aktest::PathWithSbin(); /* Bazel's test PATH leaves out the sbin directories */
                why_ = "not root";
                if (geteuid() != 0)
                        return;
                for (const char *tool : { "nft", "ip", "openssl" }) {
                        why_ = std::string("no ") + tool + " in PATH";
                        if (Sh(std::string("command -v ") + tool))
                                return;
                }
                why_ = "could not make the namespaces and veth pair";
                std::string id = std::to_string(getpid() % 100000);
                g_ = "aksni-g" + id;
                s_ = "aksni-s" + id;
                const char *tmp = getenv("TEST_TMPDIR");
                dir_ = tmp ? tmp : "/tmp";
                std::string va = "sni" + id + "a", vb = "sni" + id + "b";
                std::string setup = "set -e; ip netns add " + g_ + "; ip netns add " + s_ + "; ip link add " + va +
                                    " type veth peer name " + vb + "; ip link set " + va + " netns " + g_ +
                                    "; ip link set " + vb + " netns " + s_ + "; ip -n " + g_ +
                                    " addr add 198.18.7.2/24 dev " + va + "; ip -n " + s_ + " addr add " + kServer +
                                    "/24 dev " + vb + "; ip -n " + s_ + " addr add 198.18.7.9/24 dev " + vb + "; ip -n " + g_ + " link set " + va + " up; ip -n " + s_ +
                                    " link set " + vb + " up; ip -n " + g_ + " link set lo up; ip -n " + s_ +
                                    " link set lo up; ip -n " + g_ + " route add default via " + kServer;
                if (Sh("sh -c '" + setup + "'") != 0)
                        return;
                gfd_ = open(("/run/netns/" + g_).c_str(), O_RDONLY | O_CLOEXEC);
                sfd_ = open(("/run/netns/" + s_).c_str(), O_RDONLY | O_CLOEXEC);
                why_ = "could not start the servers in the server namespace";
                if (gfd_ < 0 || sfd_ < 0 || !StartHttp() || !StartTls())
                        return;
                ok_ = true;
        }

        static void TearDownTestSuite()
        {
                if (tls_pid_ > 0) {
                        kill(tls_pid_, SIGKILL);
                        waitpid(tls_pid_, nullptr, 0);
                }
                if (http_fd_ >= 0) {
                        shutdown(http_fd_, SHUT_RDWR);
                        http_.join();
                        close(http_fd_);
                }
                if (gfd_ >= 0)
                        close(gfd_);
                if (sfd_ >= 0)
                        close(sfd_);
                if (!g_.empty())
                        Sh("ip netns del " + g_ + "; ip netns del " + s_);
        }

        /* Reads a request until the client's EOF (half-close), then answers
         * "HTTP/1.0 200 OK" and the request back, and closes. On port 80 of
         * both server addresses (198.18.7.9 is dropped by the guest's rules). */
        static bool StartHttp()
        {
                http_fd_ = netns_socket(sfd_, AF_INET, SOCK_STREAM, 0);
                sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80), .sin_addr = {} };
                if (http_fd_ < 0 || bind(http_fd_, (sockaddr *)&sin, sizeof(sin)) < 0 || listen(http_fd_, 64) < 0)
                        return false;
                http_ = std::thread([] {
                        for (;;) {
                                int c = accept4(http_fd_, nullptr, nullptr, SOCK_CLOEXEC);
                                if (c < 0)
                                        return;
                                http_accepted_++;
                                std::thread([c] {
                                        std::string got;
                                        char buf[4096];
                                        ssize_t n;
                                        while ((n = read(c, buf, sizeof(buf))) > 0)
                                                got.append(buf, (size_t)n);
                                        std::string resp = "HTTP/1.0 200 OK\r\n\r\n" + got;
                                        (void)!write(c, resp.data(), resp.size());
                                        close(c);
                                }).detach();
                        }
                });
                return true;
        }

        static bool StartTls()
        {
                std::string key = dir_ + "/sni.key", crt = dir_ + "/sni.crt";
                if (Sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=allowed.test "
                       "-days 1 -keyout " + key + " -out " + crt) != 0)
                        return false;
                tls_pid_ = fork();
                if (tls_pid_ == 0) {
                        int null = open("/dev/null", O_RDWR);
                        dup2(null, 0), dup2(null, 1), dup2(null, 2);
                        execlp("ip", "ip", "netns", "exec", s_.c_str(), "openssl", "s_server", "-accept",
                               (std::string(kServer) + ":443").c_str(), "-cert", crt.c_str(), "-key", key.c_str(),
                               "-www", nullptr);
                        _exit(127);
                }
                return WaitFor([] { return Sh("ip netns exec " + s_ + " ss -ltn | grep -q ':443'") == 0; });
        }

        void SetUp() override
        {
                if (!ok_)
                        GTEST_SKIP() << "needs root, ip, nft and openssl (network namespaces of its own): " << why_;
                ak_error err = {};
                ASSERT_EQ(netloop_new(&loop_, &err), 0) << err.msg;
                net_reporter_init(&rep_, Events::Fn, &events_, 1000, 1000);
        }

        void TearDown() override
        {
                if (!ok_)
                        return;
                proxy_free(proxy_);
                Sh("ip netns exec " + g_ + " nft flush ruleset");
                netloop_free(loop_);
                net_reporter_destroy(&rep_);
        }

        /* A proxy in the guest namespace, and its rules there: the proxy's
         * nat table, and a filter chain like the VM's (loopback dropped)
         * with the proxy's accept line before the drop. */
        void StartProxy(unsigned max_conns = 0, unsigned peek_ms = 0, std::vector<uint16_t> ports = { 80, 443 })
        {
                proxy_config cfg = {};
                cfg.loop = loop_;
                cfg.netns_fd = gfd_;
                cfg.policy = Policy::Fn;
                cfg.policy_ctx = &policy_;
                cfg.handoff = with_handoff_ ? Handoff::Fn : nullptr;
                cfg.handoff_ctx = &handoff_;
                cfg.reporter = &rep_;
                cfg.observe = Flows::Fn;
                cfg.observe_ctx = &flows_;
                cfg.max_conns = max_conns;
                cfg.peek_ms = peek_ms;
                ak_error err = {};
                ASSERT_EQ(proxy_new(&cfg, &proxy_, &err), 0) << err.msg;
                char *table = nullptr, *accept = nullptr;
                ASSERT_EQ(proxy_nft_rules(proxy_port(proxy_), ports.data(), ports.size(), &table, &accept), 0);
                std::string rules = std::string(table) +
                                    "table inet ak_vm {\n\tchain output {\n\t\ttype filter hook output priority "
                                    "filter; policy accept;\n" +
                                    accept + "\t\toifname \"lo\" drop\n\t\tip daddr 198.18.7.9 drop\n\t}\n}\n";
                free(table);
                free(accept);
                std::string path = dir_ + "/rules.nft";
                FILE *f = fopen(path.c_str(), "w");
                ASSERT_NE(f, nullptr);
                fputs(rules.c_str(), f);
                fclose(f);
                ASSERT_EQ(Sh("ip netns exec " + g_ + " nft -f " + path), 0) << rules;
        }

        /* A guest socket connected to the server's port (so redirected). */
        int GuestConnect(uint16_t port, bool nonblock = false, const char *addr = kServer)
        {
                int fd = netns_socket(gfd_, AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
                EXPECT_GE(fd, 0);
                sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {} };
                inet_pton(AF_INET, addr, &sin.sin_addr);
                int r = connect(fd, (sockaddr *)&sin, sizeof(sin));
                EXPECT_TRUE(r == 0 || (nonblock && errno == EINPROGRESS)) << strerror(errno);
                return fd;
        }

        static std::string ReadAll(int fd)
        {
                std::string out;
                char buf[4096];
                ssize_t n;
                while ((n = read(fd, buf, sizeof(buf))) > 0)
                        out.append(buf, (size_t)n);
                return out;
        }

        std::string SClient(const std::string &sni_args)
        {
                return aktest::ShOut("ip netns exec " + g_ + " sh -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | timeout 10 "
                           "openssl s_client -connect " + kServer + ":443 " + sni_args + " -quiet 2>&1'");
        }

        netloop *loop_ = nullptr;
        proxy *proxy_ = nullptr;
        net_reporter rep_;
        Events events_;
        Flows flows_;
        Policy policy_;
        Handoff handoff_;
        bool with_handoff_ = true;
};

}  // namespace proxy_testing
