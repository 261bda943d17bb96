// Two ak-scheduler replicas behind a proxy, with executors (failover_cluster.h).
#include "services/scheduler/testing/failover_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <filesystem>
#include <thread>

#include "services/scheduler/testing/scheduler_process.h"

extern "C" {
#include "lib/base/time.h"
#include "protos/ak/v1/scheduler.pb-c.h"
}

namespace akt {

namespace {

bool Serving(const std::string &target)
{
        struct rpc_channel *ch = nullptr;
        struct ak_error e;
        bool ok = rpc_channel_new(target.c_str(), nullptr, &ch, &e) == 0 && rpc_health_check(ch, "", 1000, &e) == RPC_OK;
        rpc_channel_free(ch);
        return ok;
}

bool WaitFor(int64_t ms, const std::function<bool()> &ok)
{
        int64_t end = ak_mono_ms() + ms;
        do {
                if (ok())
                        return true;
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } while (ak_mono_ms() < end);
        return false;
}

}  // namespace

FailoverCluster::FailoverCluster()
{
        char tmpl[] = "/tmp/akfoXXXXXX";
        if (mkdtemp(tmpl))
                dir_ = tmpl;
}

FailoverCluster::~FailoverCluster()
{
        if (fake_)
                fake_->Kill();
        executor_.reset();
        for (auto &r : rep_)
                r.reset();
        proxy_.Stop();
        hg_.reset();
        api_.Stop();
        if (!dir_.empty()) {
                std::error_code ec;
                std::filesystem::remove_all(dir_, ec);
        }
}

bool FailoverCluster::StartReplica(int i, std::string *why)
{
        rep_[i].reset(new aktest::ServiceProcess("scheduler"));
        aktest::ServiceProcess *p = rep_[i].get();
        if (!p->Start({aktest::Binary("scheduler"), "--listen", addrs_[i], "--insecure", "--heartbeat-interval-ms",
                       std::to_string(opts_.heartbeat_ms), "--metrics-listen",
                       "127.0.0.1:" + std::to_string(metrics_ports_[i]), "--leader-elect", "--lease-namespace",
                       "ak-test", "--lease-name", "fo", "--lease-duration-s", std::to_string(opts_.lease_s),
                       "--lease-identity", ids_[i], "--api-server", "http://" + api_.addr, "--api-token-file",
                       token_},
                      dir_, "sched-" + std::to_string(i) + "-" + std::to_string(ak_mono_ms()))) {
                *why = "ak-scheduler " + ids_[i] + " did not start: " + p->Log();
                return false;
        }
        return true;
}

bool FailoverCluster::Start(const Options &o, std::string *why)
{
        opts_ = o;
        if (dir_.empty())
                return *why = "cannot make a directory under /tmp", false;
        token_ = dir_ + "/token";
        home_ = dir_ + "/home";
        aktest::WriteFile(token_, "failover-token\n", 0644);
        if (!api_.Start({"/usr/bin/python3", aktest::Runfile("services/scheduler/testdata/fake_apiserver.py"), token_,
                         dir_ + "/writes.log"},
                        dir_, "api"))
                return *why = "fake API server: " + api_.Log(), false;
        std::vector<std::string> backends;
        for (int i = 0; i < kReplicas; i++) {
                ids_[i] = std::string("sched-") + (char)('a' + i);
                addrs_[i] = "127.0.0.1:" + std::to_string(aktest::FreePort());
                metrics_ports_[i] = aktest::FreePort();
                backends.push_back(addrs_[i]);
                if (!StartReplica(i, why))
                        return false;
        }
        if (!proxy_.Start(backends))
                return *why = "the proxy did not start", false;
        if (WaitLeader(10000) < 0)
                return *why = "no single leader within 10 s", false;

        FakeExecutor::Options fo;
        fo.id = "fake-1";
        fo.labels = {{"kind", "fake"}};
        fo.failover = true;
        fake_.reset(new FakeExecutor(fo));
        if (fake_->Start(proxy_.addr) != RPC_OK)
                return *why = "the fake executor did not register through the proxy", false;
        int want = 1;
        if (o.real_executor) {
                hg_.reset(new aktest::HostGuest);
                if (!hg_->Start(aktest::Runfile("guest/ak-guest"), dir_))
                        return *why = "ak-guest on the host did not start", false;
                executor_.reset(new aktest::ServiceProcess("executor"));
                if (!executor_->Start({aktest::Binary("executor"), "--listen", "127.0.0.1:0", "--insecure",
                                       "--state-dir", dir_ + "/st", "--images", dir_ + "/images", "--min-warm", "0",
                                       "--scheduler", proxy_.addr, "--test-guest", "host=" + hg_->front_sock},
                                      dir_, "executor"))
                        return *why = "ak-executor: " + executor_->Log(), false;
                want = 2;
        }
        if (!WaitFor(10000, [&] { return ExecutorsKnown() == want; }))
                return *why = "the executors did not register through the proxy", false;
        return true;
}

int FailoverCluster::WaitLeader(int64_t ms, int not_this)
{
        int who = -1;
        WaitFor(ms, [&] {
                int n = 0;
                for (int i = 0; i < kReplicas; i++)
                        if (Running(i) && Serving(addrs_[i])) {
                                n++;
                                who = i;
                        }
                return n == 1 && who != not_this;
        });
        return who == not_this ? -1 : who;
}

void FailoverCluster::Kill(int i)
{
        if (!Running(i))
                return;
        kill(rep_[i]->pid, SIGKILL);
        waitpid(rep_[i]->pid, nullptr, 0);
        rep_[i]->pid = -1;
}

bool FailoverCluster::Restart(int i, std::string *why)
{
        Kill(i);
        return StartReplica(i, why);
}

int FailoverCluster::Ak(const std::string &args, std::string *out)
{
        std::string cmd = "env -u AK_TOKEN AK_HOME=" + home_ + " AK_SCHEDULER=" + proxy_.addr + " " +
                          aktest::Runfile("cli/ak") + " " + args + " 2>&1";
        FILE *f = popen(cmd.c_str(), "r");
        if (!f)
                return -1;
        out->clear();
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                out->append(buf, n);
        int st = pclose(f);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string FailoverCluster::Metrics(int i)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {};
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)metrics_ports_[i]);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        std::string body;
        static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1) {
                char buf[4096];
                ssize_t n;
                while ((n = read(fd, buf, sizeof(buf))) > 0)
                        body.append(buf, (size_t)n);
        }
        if (fd >= 0)
                close(fd);
        size_t h = body.find("\r\n\r\n");
        return h == std::string::npos ? "" : body.substr(h + 4);
}

int FailoverCluster::ExecutorsKnown()
{
        Client c(proxy_.addr);
        struct rpc_failover fo = {};
        rpc_channel_set_failover(c.channel(), &fo);
        Ak__V1__ListExecutorsRequest req = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
        ProtobufCMessage *resp = nullptr;
        if (c.Call("ListExecutors", &req.base, &resp, nullptr, 3000) != RPC_OK)
                return -1;
        int n = (int)((Ak__V1__ListExecutorsResponse *)resp)->n_executors;
        protobuf_c_message_free_unpacked(resp, nullptr);
        return n;
}

}  // namespace akt
