// Scheduler failover as a cluster would run it, on loopback: the fake
// Kubernetes API server (testdata/fake_apiserver.py), two ak-scheduler
// replicas with --leader-elect, a round-robin TCP proxy in front of them
// standing for the Service, and behind the proxy a fake executor (labels
// kind=fake; canned creates; failover on, as ak-executor) and a real
// ak-executor whose one sandbox "host" runs commands without a VM (the
// --test-guest seam). The ak CLI reaches the scheduler through the proxy
// (AK_SCHEDULER), as a client outside the cluster would.
//
// For scheduler_failover_test and bench/failover. Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "services/scheduler/testing/fake_executor.h"
#include "tests/testing/host_guest.h"
#include "tests/testing/service_process.h"
#include "tests/testing/tcp_proxy.h"

namespace akt {

class FailoverCluster {
      public:
        struct Options {
                unsigned lease_s = 1;          // --lease-duration-s
                unsigned heartbeat_ms = 200;   // the schedulers' --heartbeat-interval-ms
                bool real_executor = true;     // also ak-executor with the sandbox "host"
        };
        static constexpr int kReplicas = 2;

        FailoverCluster();
        ~FailoverCluster();  // stops everything, removes its directory

        // Starts it all and waits until one replica leads and every executor
        // is registered. False with *why when something does not come up.
        bool Start(const Options &o, std::string *why);

        // The index of the one replica SERVING to health checks (the others
        // not), waiting up to ms; -1 when there is none or more than one.
        // not_this: keep waiting while it is that one.
        int WaitLeader(int64_t ms, int not_this = -1);
        // SIGKILL and reap replica i.
        void Kill(int i);
        // Starts replica i again (same identity, port and metrics port).
        bool Restart(int i, std::string *why);
        bool Running(int i) const { return rep_[i] && rep_[i]->pid > 0; }

        // `ak ARGS` through the proxy: the exit status (-1: not run);
        // stdout and stderr in *out.
        int Ak(const std::string &args, std::string *out);
        // GET http://<replica i's metrics address>/metrics ("" on failure).
        std::string Metrics(int i);
        // Executors the cluster's leader knows (ListExecutors through the
        // proxy); -1 when the call fails.
        int ExecutorsKnown();

        const std::string &proxy_address() const { return proxy_.addr; }
        const std::string &id(int i) const { return ids_[i]; }
        std::string Log(int i) const { return rep_[i] ? rep_[i]->Log() : ""; }
        FakeExecutor &fake() { return *fake_; }

      private:
        bool StartReplica(int i, std::string *why);

        Options opts_;
        std::string dir_, token_, home_;
        aktest::ServiceProcess api_{"apiserver"};
        std::unique_ptr<aktest::ServiceProcess> rep_[kReplicas];
        std::string ids_[kReplicas], addrs_[kReplicas];
        int metrics_ports_[kReplicas] = {0, 0};
        aktest::TcpProxy proxy_;
        std::unique_ptr<FakeExecutor> fake_;
        std::unique_ptr<aktest::HostGuest> hg_;
        std::unique_ptr<aktest::ServiceProcess> executor_;
};

}  // namespace akt
