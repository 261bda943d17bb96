// bazel run -c opt //bench/failover -- [--rounds N] [--lease-s N]
//
// Scheduler failover as a client sees it (services/scheduler/testing/
// failover_cluster.h: two ak-scheduler replicas with a Lease behind a
// round-robin proxy standing for the Service, a fake executor and
// ak-executor behind it, the ak CLI through the proxy). Each round: one
// `ak sandbox create` with a steady leader (the baseline), SIGKILL the
// leader, then one `ak sandbox create` started at once: the time from the
// kill to its success is the failover time; also when the executors were
// known to the new leader again. The killed replica is started again (it
// follows) before the next round.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "services/scheduler/testing/failover_cluster.h"

extern "C" {
#include "lib/base/time.h"
}

namespace {

[[noreturn]] void Die(const std::string &why)
{
        fprintf(stderr, "failover bench: %s\n", why.c_str());
        exit(1);
}

unsigned Flag(int argc, char **argv, const char *name, unsigned def, unsigned max)
{
        for (int i = 1; i + 1 < argc; i++)
                if (strcmp(argv[i], name) == 0) {
                        char *end;
                        unsigned long v = strtoul(argv[i + 1], &end, 10);
                        if (*end || v < 1 || v > max)
                                Die(std::string(name) + " " + argv[i + 1] + ": want 1-" + std::to_string(max));
                        return (unsigned)v;
                }
        return def;
}

int64_t TimedCreate(akt::FailoverCluster &c, const std::string &name)
{
        std::string out;
        int64_t t0 = ak_mono_ms();
        if (c.Ak("sandbox create " + name + " --node-selector kind=fake", &out) != 0)
                Die("ak sandbox create " + name + " failed: " + out);
        return ak_mono_ms() - t0;
}

}  // namespace

int main(int argc, char **argv)
{
        unsigned rounds = Flag(argc, argv, "--rounds", 3, 50);
        akt::FailoverCluster::Options o;
        o.lease_s = Flag(argc, argv, "--lease-s", 1, 60);
        akt::FailoverCluster c;
        std::string why;
        if (!c.Start(o, &why))
                Die(why);
        printf("scheduler failover: 2 replicas, --lease-duration-s %u, heartbeat %u ms, behind a round-robin proxy\n",
               o.lease_s, o.heartbeat_ms);
        printf("%-6s %-22s %-28s %-28s\n", "round", "baseline create (ms)", "kill -> create ok (ms)",
               "kill -> executors back (ms)");
        std::vector<int64_t> fails;
        for (unsigned r = 0; r < rounds; r++) {
                int leader = c.WaitLeader(10000);
                if (leader < 0)
                        Die("no single leader");
                int64_t base = TimedCreate(c, "bench-base-" + std::to_string(r));
                int64_t t0 = ak_mono_ms();
                c.Kill(leader);
                TimedCreate(c, "bench-after-" + std::to_string(r));
                int64_t fail = ak_mono_ms() - t0;
                while (c.ExecutorsKnown() != 2 && ak_mono_ms() - t0 < 30000)
                        usleep(10000);
                int64_t back = ak_mono_ms() - t0;
                printf("%-6u %-22lld %-28lld %-28lld\n", r + 1, (long long)base, (long long)fail, (long long)back);
                fflush(stdout);
                fails.push_back(fail);
                if (!c.Restart(leader, &why))
                        Die(why);
                if (c.WaitLeader(10000) == leader)
                        Die("the restarted replica leads: the other lost its Lease");
        }
        std::sort(fails.begin(), fails.end());
        printf("failover (kill -> first create ok): min %lld ms, median %lld ms, max %lld ms; floor: the lease "
               "duration %u000 ms\n",
               (long long)fails.front(), (long long)fails[fails.size() / 2], (long long)fails.back(), o.lease_s);
        return 0;
}
