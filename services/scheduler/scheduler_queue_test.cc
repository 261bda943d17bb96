// Queueing instead of refusing: ak-scheduler as a real process, a fake
// executor offering 2 vCPUs. Three times its capacity in one-shot runs,
// sent at once, all complete (the ones that did not fit waited, told
// their queue position on the stream); a run no executor could ever hold
// fails at once; a queued run whose deadline passes says how long it
// waited.
#include "services/scheduler/testing/scheduler_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

extern "C" {
#include "lib/base/time.h"
}

namespace {

using akt::Client;
using akt::FakeExecutor;
using akt::kExecToken;
using akt::kToken;
using akt::SchedulerTest;

struct RunResult {
        int code = -1;
        bool result = false;
        unsigned max_position = 0;
        std::string err, out;
};

RunResult OneShot(const std::string &addr, uint32_t vcpus, const char *ms, int64_t timeout_ms)
{
        Client c(addr, kToken);
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.vcpus = vcpus;
        const char *argv[] = {"sleep", ms};
        Ak__V1__RunRequest req = AK__V1__RUN_REQUEST__INIT;
        req.spec = &spec;
        req.argv = (char **)argv;
        req.n_argv = 2;
        RunResult r;
        struct rpc_stream *st;
        if ((r.code = c.Open("Run", &req.base, &st, timeout_ms)) != RPC_OK)
                return r;
        ProtobufCMessage *msg;
        struct ak_error e = {};
        int n;
        while ((n = rpc_stream_next(st, &msg, &e)) == 1) {
                auto *ch = (Ak__V1__OutputChunk *)msg;
                if (ch->kind_case == AK__V1__OUTPUT_CHUNK__KIND_QUEUED && ch->queued->position > r.max_position)
                        r.max_position = ch->queued->position;
                if (ch->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT)
                        r.out.append((char *)ch->stdout.data, ch->stdout.len);
                if (ch->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT)
                        r.result = true;
                protobuf_c_message_free_unpacked(msg, nullptr);
        }
        rpc_stream_free(st);
        r.code = n == 0 ? RPC_OK : -n;
        r.err = n < 0 ? e.msg : "";
        return r;
}

TEST_F(SchedulerTest, ThreeTimesTheCapacityAllComplete)
{
        FakeExecutor::Options o;
        o.id = "small";
        o.token = kExecToken;
        o.vcpus = 2;
        executors.push_back(std::make_unique<FakeExecutor>(o));
        ASSERT_EQ(RPC_OK, executors.back()->Start(sched.address()));

        std::vector<RunResult> results(6);
        std::vector<std::thread> ts;
        for (size_t i = 0; i < results.size(); i++)
                ts.emplace_back([&, i] { results[i] = OneShot(sched.address(), 1, "300", 30000); });
        for (auto &t : ts)
                t.join();
        unsigned queued = 0;
        for (auto &r : results) {
                EXPECT_EQ(RPC_OK, r.code) << r.err;
                EXPECT_TRUE(r.result);
                EXPECT_EQ("ran on small", r.out);
                queued += r.max_position > 0;
        }
        // Two run at a time: the other four waited (three at least, should
        // one finish before the last arrives).
        EXPECT_GE(queued, 3u);

        // More vCPUs than any executor has: never fits, refused at once.
        int64_t t0 = ak_mono_ms();
        RunResult big = OneShot(sched.address(), 4, "10", 30000);
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED, big.code) << big.err;
        EXPECT_LT(ak_mono_ms() - t0, 2000);
        EXPECT_EQ(0u, big.max_position);

        // Capacity held by two long runs: a third waits until its deadline.
        std::thread h1([&] { OneShot(sched.address(), 1, "3000", 30000); });
        std::thread h2([&] { OneShot(sched.address(), 1, "3000", 30000); });
        usleep(500000);
        RunResult late = OneShot(sched.address(), 1, "10", 1000);
        EXPECT_EQ(RPC_DEADLINE_EXCEEDED, late.code) << late.err;
        EXPECT_EQ(1u, late.max_position);
        h1.join();
        h2.join();
}

// `ak run` shows where it waits, on stderr.
TEST_F(SchedulerTest, AkRunShowsItsQueuePosition)
{
        FakeExecutor::Options o;
        o.id = "small";
        o.token = kExecToken;
        o.vcpus = 1;
        executors.push_back(std::make_unique<FakeExecutor>(o));
        ASSERT_EQ(RPC_OK, executors.back()->Start(sched.address()));
        std::string home = sched.Path("home");
        std::string env = "AK_HOME=" + home + " AK_SCHEDULER=" + sched.address() + " AK_TOKEN=" + kToken + " ";
        std::string ak = aktest::Runfile("cli/ak");
        std::thread first([&] {
                std::string cmd = env + ak + " run -- sleep 1500 >/dev/null 2>&1";
                EXPECT_EQ(0, system(cmd.c_str()));
        });
        usleep(300000);
        std::string cmd = env + ak + " run -- sleep 10 2>&1";
        FILE *p = popen(cmd.c_str(), "r");
        ASSERT_NE(nullptr, p);
        std::string out;
        char buf[512];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                out.append(buf, n);
        int st = pclose(p);
        first.join();
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << out;
        EXPECT_NE(std::string::npos, out.find("ak run: waiting for capacity: position 1 of 1 in the scheduler's queue"))
                << out;
        EXPECT_NE(std::string::npos, out.find("ran on small")) << out;
}

// CreateSandbox `name` with `vcpus` from a client of its own (so threads
// can wait at once): the status, the message in *err.
int CreateOwn(const std::string &addr, const std::string &name, uint32_t vcpus, int64_t timeout_ms,
              std::string *err = nullptr)
{
        Client c(addr, kToken);
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.name = (char *)name.c_str();
        spec.vcpus = vcpus;
        Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        req.spec = &spec;
        return c.Call("CreateSandbox", &req.base, nullptr, err, timeout_ms);
}

int RemoveOwn(Client *c, const std::string &name)
{
        Ak__V1__RemoveSandboxRequest req = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
        req.name = (char *)name.c_str();
        return c->Call("RemoveSandbox", &req.base);
}

// GetSandbox `name`: its queue place (0 when not queued) and state.
unsigned QueuedAt(Client *c, const std::string &name, unsigned *waiting = nullptr, int *state = nullptr)
{
        Ak__V1__GetSandboxRequest req = AK__V1__GET_SANDBOX_REQUEST__INIT;
        req.name = (char *)name.c_str();
        ProtobufCMessage *resp = nullptr;
        if (c->Call("GetSandbox", &req.base, &resp) != RPC_OK)
                return 0;
        auto *sb = (Ak__V1__Sandbox *)resp;
        unsigned pos = sb->queued ? sb->queued->position : 0;
        if (waiting && sb->queued)
                *waiting = sb->queued->waiting;
        if (state)
                *state = sb->state;
        protobuf_c_message_free_unpacked(resp, nullptr);
        return pos;
}

std::string Scrape(int port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                if (fd >= 0)
                        close(fd);
                return "";
        }
        const char req[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
        EXPECT_EQ(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
        std::string got;
        char buf[8192];
        for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;)
                got.append(buf, n);
        close(fd);
        size_t body = got.find("\r\n\r\n");
        return body == std::string::npos ? "" : got.substr(body + 4);
}

// The value of the series line that starts with `series ` ("" when none).
std::string Value(const std::string &text, const std::string &series)
{
        size_t at = text.find("\n" + series + " ");
        if (at == std::string::npos)
                return "";
        at += series.size() + 2;
        return text.substr(at, text.find('\n', at) - at);
}

// promtool check metrics on text: its complaints ("" when clean).
std::string Promtool(const std::string &dir, const std::string &text)
{
        std::string f = dir + "/metrics.txt";
        FILE *fp = fopen(f.c_str(), "w");
        if (!fp)
                return "cannot write " + f;
        fwrite(text.data(), 1, text.size(), fp);
        fclose(fp);
        std::string cmd = "promtool check metrics < " + f + " 2>&1";
        FILE *p = popen(cmd.c_str(), "r");
        std::string out;
        char buf[512];
        size_t n;
        while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0)
                out.append(buf, n);
        int st = p ? pclose(p) : -1;
        if (st != 0 && out.empty())
                out = "promtool exited " + std::to_string(st);
        return out;
}

// Unary creates that wait show in GetSandbox and ListSandboxes with their
// place, `ak sandbox create` prints it, and the queue's length, waits and
// refusals (full, never_fits, deadline) are in /metrics, which promtool
// takes.
TEST_F(SchedulerTest, QueuedCreatesShowTheirPlaceAndAreCounted)
{
        if (system("command -v promtool >/dev/null 2>&1") != 0)
                GTEST_SKIP() << "needs promtool (Debian prometheus; tools/deps.sh)";
        int port = aktest::FreePort();
        ASSERT_GT(port, 0);
        client.reset();
        sched.Stop();
        std::vector<std::string> args = Args();
        args.insert(args.end(), {"--queue-max", "2", "--metrics-listen", "127.0.0.1:" + std::to_string(port)});
        ASSERT_TRUE(sched.Start(args));
        client = std::make_unique<Client>(sched.address(), kToken);
        FakeExecutor::Options o;
        o.id = "small";
        o.token = kExecToken;
        o.vcpus = 2;
        executors.push_back(std::make_unique<FakeExecutor>(o));
        ASSERT_EQ(RPC_OK, executors.back()->Start(sched.address()));
        std::string addr = sched.address();

        ASSERT_EQ(RPC_OK, CreateOwn(addr, "hold", 2, 10000));
        std::string err;
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED, CreateOwn(addr, "huge", 4, 10000, &err)) << err;  // never fits
        std::atomic<int> waiter_code{-1};
        std::thread waiter([&] { waiter_code = CreateOwn(addr, "waiter", 1, 30000); });
        unsigned waiting = 0;
        int state = 0;
        ASSERT_TRUE(akt::WaitFor([&] { return QueuedAt(client.get(), "waiter", &waiting, &state) == 1; }, 5000));
        EXPECT_EQ(1u, waiting);
        EXPECT_EQ(AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING, state);
        auto listed = Sandboxes();
        EXPECT_EQ(1u, listed.count("waiter"));
        EXPECT_EQ("", listed["waiter"]);  // no executor yet
        EXPECT_EQ("small", listed["hold"]);
        // A create whose deadline passes in the queue; the scheduler sees
        // it go a moment after its client does.
        EXPECT_EQ(RPC_DEADLINE_EXCEEDED, CreateOwn(addr, "late", 1, 600, &err)) << err;
        EXPECT_TRUE(akt::WaitFor([&] { return Sandboxes().count("late") == 0; }, 5000));

        // ak sandbox create waits and says where.
        std::string ak = aktest::Runfile("cli/ak");
        std::string env = "AK_HOME=" + sched.Path("home") + " AK_SCHEDULER=" + addr + " AK_TOKEN=" + kToken + " ";
        std::string out;
        std::thread cli([&] {
                std::string cmd = env + ak + " sandbox create --vcpus 1 from-ak 2>&1";
                FILE *p = popen(cmd.c_str(), "r");
                char buf[512];
                size_t n;
                while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0)
                        out.append(buf, n);
                if (p)
                        pclose(p);
        });
        EXPECT_TRUE(akt::WaitFor([&] { return QueuedAt(client.get(), "from-ak") == 2; }, 10000)) << out;
        // Two wait: the queue (--queue-max 2) is full.
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED, CreateOwn(addr, "third", 1, 10000, &err));
        EXPECT_NE(std::string::npos, err.find("free vCPUs; the queue of creates and runs waiting for "
                                              "capacity is full (2)")) << err;
        std::string text = Scrape(port);
        EXPECT_EQ("", Promtool(sched.Path(""), text)) << text;
        EXPECT_EQ("2", Value(text, "ak_scheduler_queue_length")) << text;
        EXPECT_EQ("1", Value(text, "ak_scheduler_queue_rejected_total{reason=\"never_fits\"}")) << text;
        EXPECT_EQ("1", Value(text, "ak_scheduler_queue_rejected_total{reason=\"deadline\"}")) << text;
        EXPECT_EQ("1", Value(text, "ak_scheduler_queue_rejected_total{reason=\"full\"}")) << text;
        EXPECT_EQ("1", Value(text, "ak_scheduler_queue_wait_seconds_count")) << text;  // "late"
        usleep(1200000);  // ak polls every 500 ms

        ASSERT_EQ(RPC_OK, RemoveOwn(client.get(), "hold"));
        waiter.join();
        cli.join();
        EXPECT_EQ(RPC_OK, waiter_code.load());
        EXPECT_NE(std::string::npos,
                  out.find("ak sandbox create: waiting for capacity: position 2 of 2 in the scheduler's queue"))
                << out;
        EXPECT_NE(std::string::npos, out.find("created sandbox from-ak on small")) << out;
        EXPECT_EQ(0u, QueuedAt(client.get(), "waiter"));
        text = Scrape(port);
        EXPECT_EQ("0", Value(text, "ak_scheduler_queue_length")) << text;
        EXPECT_EQ("3", Value(text, "ak_scheduler_queue_wait_seconds_count")) << text;
}

// ListSandboxes: name -> queue place (0: not queued) of every sandbox.
std::map<std::string, unsigned> ListedQueue(Client *c)
{
        Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
        ProtobufCMessage *resp = nullptr;
        std::map<std::string, unsigned> m;
        if (c->Call("ListSandboxes", &req.base, &resp) != RPC_OK)
                return m;
        auto *r = (Ak__V1__ListSandboxesResponse *)resp;
        for (size_t i = 0; i < r->n_sandboxes; i++)
                m[r->sandboxes[i]->spec->name] = r->sandboxes[i]->queued ? r->sandboxes[i]->queued->position : 0;
        protobuf_c_message_free_unpacked(resp, nullptr);
        return m;
}

// A create without a name that waits is listed too, under the name the
// scheduler made for it, with its place; GetSandbox finds it by that name,
// and the sandbox it becomes keeps it.
TEST_F(SchedulerTest, UnnamedQueuedCreatesAreListed)
{
        FakeExecutor::Options o;
        o.id = "small";
        o.token = kExecToken;
        o.vcpus = 1;
        executors.push_back(std::make_unique<FakeExecutor>(o));
        ASSERT_EQ(RPC_OK, executors.back()->Start(sched.address()));
        std::string addr = sched.address();
        ASSERT_EQ(RPC_OK, CreateOwn(addr, "hold", 1, 10000));

        std::atomic<int> code{-1};
        std::string made;
        std::thread waiter([&] {
                Client c(addr, kToken);
                Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
                spec.vcpus = 1;
                Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
                req.spec = &spec;
                ProtobufCMessage *resp = nullptr;
                code = c.Call("CreateSandbox", &req.base, &resp, nullptr, 30000);
                if (resp) {
                        made = ((Ak__V1__Sandbox *)resp)->spec->name;
                        protobuf_c_message_free_unpacked(resp, nullptr);
                }
        });
        std::string name;
        ASSERT_TRUE(akt::WaitFor([&] {
                for (auto &[n, pos] : ListedQueue(client.get()))
                        if (n != "hold" && pos == 1)
                                name = n;
                return !name.empty();
        }, 5000)) << "the unnamed create is not listed";
        EXPECT_EQ(0u, name.rfind("sb-", 0)) << name;
        EXPECT_EQ("", Sandboxes()[name]);  // no executor yet
        EXPECT_EQ(1u, QueuedAt(client.get(), name));

        ASSERT_EQ(RPC_OK, RemoveOwn(client.get(), "hold"));
        waiter.join();
        EXPECT_EQ(RPC_OK, code.load());
        EXPECT_EQ(name, made);
        EXPECT_EQ("small", Sandboxes()[name]);
        EXPECT_EQ(0u, ListedQueue(client.get())[name]);
}

// Behind a head that cannot fit yet, a smaller create that waits too is
// placed when capacity frees enough for it (during the head's grace)
// instead of waiting behind the head; the head is placed once enough frees.
TEST_F(SchedulerTest, ASmallCreateIsNotHeldBehindALargeHead)
{
        FakeExecutor::Options o;
        o.id = "small";
        o.token = kExecToken;
        o.vcpus = 2;
        executors.push_back(std::make_unique<FakeExecutor>(o));
        ASSERT_EQ(RPC_OK, executors.back()->Start(sched.address()));
        std::string addr = sched.address();
        ASSERT_EQ(RPC_OK, CreateOwn(addr, "hold1", 1, 10000));
        ASSERT_EQ(RPC_OK, CreateOwn(addr, "hold2", 1, 10000));
        std::atomic<int> big_code{-1}, small_code{-1};
        std::atomic<int64_t> small_done{0};
        std::thread big([&] { big_code = CreateOwn(addr, "big", 2, 30000); });
        ASSERT_TRUE(akt::WaitFor([&] { return QueuedAt(client.get(), "big") == 1; }, 5000));
        std::thread small([&] {
                small_code = CreateOwn(addr, "small1", 1, 30000);
                small_done = ak_mono_ms();
        });
        ASSERT_TRUE(akt::WaitFor([&] { return QueuedAt(client.get(), "small1") == 2; }, 5000));
        int64_t t0 = ak_mono_ms();
        ASSERT_EQ(RPC_OK, RemoveOwn(client.get(), "hold1"));  // 1 vCPU free: small1 fits, big does not
        ASSERT_TRUE(akt::WaitFor([&] { return small_done.load() != 0; }, 3000));
        EXPECT_EQ(RPC_OK, small_code.load());
        EXPECT_LT(small_done.load() - t0, 2000);
        EXPECT_EQ(1u, QueuedAt(client.get(), "big"));  // still waiting, still first
        ASSERT_EQ(RPC_OK, RemoveOwn(client.get(), "hold2"));
        ASSERT_EQ(RPC_OK, RemoveOwn(client.get(), "small1"));
        big.join();
        small.join();
        EXPECT_EQ(RPC_OK, big_code.load());
}

}  // namespace
