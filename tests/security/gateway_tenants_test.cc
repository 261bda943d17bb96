// ak-gateway with two API keys of two tenants, over one admin credential for
// the scheduler (a real ak-scheduler and a fake executor, no VMs): tenant
// A's key cannot exec into, read or write files of, get, delete or extend
// tenant B's sandbox, nor take a snapshot of it; each is 404, as for a
// sandbox that does not exist, and the executor never sees the call. The
// scheduler scopes each call to the key's tenant (x-ak-tenant); before it
// did, the admin credential reached B's sandbox for A's key.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "services/scheduler/testing/fake_executor.h"
#include "services/scheduler/testing/scheduler_fixture.h"
#include "services/scheduler/testing/scheduler_process.h"
#include "tests/testing/service_process.h"

namespace {

using akt::Client;
using akt::FakeExecutor;
using akt::SchedulerProcess;
using akt::WaitFor;

const std::string kAdmin = "gw-admin-token-0123456789abcd";
const std::string kNode = "node1-exec-token-0123456789a";
const std::string kKeyA = "key-alice-0123456789abcdef012";
const std::string kKeyB = "key-bob-0123456789abcdef01234";

struct Reply {
        int status = 0;
        std::string body;
};

// One HTTP/1.1 exchange on loopback, Connection: close.
Reply Http(const std::string &addr, const std::string &method, const std::string &path, const std::string &key,
           const std::string &body = "")
{
        Reply r;
        size_t colon = addr.rfind(':');
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)std::stoi(addr.substr(colon + 1)));
        inet_pton(AF_INET, addr.substr(0, colon).c_str(), &sa.sin_addr);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (sockaddr *)&sa, sizeof(sa)) < 0) {
                if (fd >= 0)
                        close(fd);
                return r;
        }
        std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                          "Authorization: Bearer " + key + "\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
        if (write(fd, req.data(), req.size()) != (ssize_t)req.size()) {
                close(fd);
                return r;
        }
        std::string got;
        char buf[4096];
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                got.append(buf, (size_t)n);
        close(fd);
        if (got.rfind("HTTP/1.1 ", 0) == 0)
                r.status = std::stoi(got.substr(9, 3));
        size_t e = got.find("\r\n\r\n");
        r.body = e == std::string::npos ? "" : got.substr(e + 4);
        return r;
}

class GatewayTenants : public ::testing::Test {
      protected:
        void SetUp() override
        {
                aktest::WriteFile(sched.Path("tokens"), "tenant=ops admin " + kAdmin + "\n");
                aktest::WriteFile(sched.Path("executors"), "executor=node1 " + kNode + "\n");
                ASSERT_TRUE(sched.Start({"--token-file", sched.Path("tokens"), "--registration-token-file",
                                         sched.Path("executors"), "--heartbeat-interval-ms", "100"}));
                FakeExecutor::Options o;
                o.id = "node1";
                o.token = kNode;
                exec = std::make_unique<FakeExecutor>(o);
                ASSERT_EQ(RPC_OK, exec->Start(sched.address()));
                aktest::WriteFile(gw.Path("keys"), "tenant=alice " + kKeyA + "\ntenant=bob " + kKeyB + "\n");
                ASSERT_TRUE(gw.Start({aktest::Binary("gateway"), "--scheduler", sched.address(),
                                      "--scheduler-token-file", sched.Path("tokens"), "--keys-file",
                                      gw.Path("keys"), "--listen", "127.0.0.1:0"},
                                     gw.Path(""), "gw"))
                        << aktest::Slurp(gw.err);
                addr = gw.addr;
        }
        void TearDown() override
        {
                EXPECT_EQ(0, gw.Stop()) << gw.Log();
                exec.reset();
                sched.Stop();
        }

        SchedulerProcess sched;
        aktest::ServiceProcess gw{"gateway"};
        std::unique_ptr<FakeExecutor> exec;
        std::string addr;
};

TEST_F(GatewayTenants, OneKeyCannotTouchAnotherTenantsSandbox)
{
        Reply c = Http(addr, "POST", "/sandboxes", kKeyB, R"({"name":"bobs"})");
        ASSERT_EQ(201, c.status) << c.body;
        ASSERT_EQ(201, Http(addr, "POST", "/sandboxes", kKeyA, R"({"name":"alices"})").status);
        ASSERT_TRUE(WaitFor([&] { return exec->heartbeats >= 3; }));

        const struct {
                const char *method, *path, *body;
        } calls[] = {
                { "POST", "/sandboxes/bobs/exec", R"({"command":["cat","/etc/secret"]})" },
                { "GET", "/sandboxes/bobs/files/etc/secret", "" },
                { "PUT", "/sandboxes/bobs/files/tmp/x", R"({"content":"x"})" },
                { "POST", "/sandboxes/bobs/files", R"({"files":{"/tmp/x":"x"}})" },
                { "DELETE", "/sandboxes/bobs/files/tmp/x", "" },
                { "POST", "/sandboxes/bobs/extend", R"({"by":"1h"})" },
                { "POST", "/sandboxes/bobs/stop", "" },
                { "GET", "/sandboxes/bobs", "" },
                { "DELETE", "/sandboxes/bobs", "" },
                { "POST", "/snapshots", R"({"sandbox":"bobs"})" },
                { "POST", "/sandboxes/bobs/exec/detach", R"({"command":["sleep","9"]})" },
                { "GET", "/sandboxes/bobs/exec/detached", "" },
                { "GET", "/sandboxes/bobs/exec/detached/0123abcd", "" },
                { "GET", "/sandboxes/bobs/exec/detached/0123abcd/logs", "" },
                { "DELETE", "/sandboxes/bobs/exec/detached/0123abcd", "" },
        };
        for (const auto &k : calls) {
                Reply r = Http(addr, k.method, k.path, kKeyA, k.body);
                EXPECT_EQ(404, r.status) << k.method << " " << k.path << ": " << r.body;
                EXPECT_NE(std::string::npos, r.body.find("\"success\":false")) << r.body;
        }
        Reply list = Http(addr, "GET", "/sandboxes", kKeyA);
        EXPECT_EQ(200, list.status);
        EXPECT_EQ(std::string::npos, list.body.find("bobs")) << list.body;
        for (const char *call : { "Exec bobs", "ReadFile bobs", "WriteFile bobs", "Mkdir bobs", "RemoveFile bobs",
                                  "StopSandbox bobs", "RemoveSandbox bobs" })
                EXPECT_FALSE(exec->Saw(call)) << call;

        // Bob's key reaches his sandbox; Alice's reaches hers.
        Reply be = Http(addr, "POST", "/sandboxes/bobs/exec", kKeyB, R"({"command":["echo","hi"]})");
        EXPECT_EQ(200, be.status) << be.body;
        EXPECT_TRUE(exec->Saw("Exec bobs"));
        EXPECT_EQ(200, Http(addr, "GET", "/sandboxes/alices/files/etc/hostname", kKeyA).status);
        EXPECT_EQ(200, Http(addr, "DELETE", "/sandboxes/bobs", kKeyB).status);
}

}  // namespace
