// Per-phase timings: marks add up per phase, the total covers them, the
// histogram gets one observation per phase and the debug line names them.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "lib/metrics/metrics.h"
#include "lib/svc/log.h"
#include "lib/svc/phases.h"
}

namespace {

void SleepMs(int ms)
{
        struct timespec ts = { 0, (long)ms * 1000000L };
        nanosleep(&ts, nullptr);
}

TEST(SvcPhases, MarksAddUpPerPhase)
{
        struct svc_phases p;
        svc_phases_start(&p, "run");
        SleepMs(5);
        svc_phases_mark(&p, "place");
        SleepMs(2);
        svc_phases_mark(&p, "exec");
        SleepMs(3);
        svc_phases_mark(&p, "place"); /* a second visit adds */
        EXPECT_GE(svc_phases_ns(&p, "place"), 8000000u);
        EXPECT_GE(svc_phases_ns(&p, "exec"), 2000000u);
        EXPECT_LT(svc_phases_ns(&p, "exec"), svc_phases_ns(&p, "place"));
        EXPECT_EQ(svc_phases_ns(&p, "none"), 0u);
        EXPECT_EQ(p.n, 2u);
        EXPECT_EQ(svc_phases_total_ns(&p), svc_phases_ns(&p, "place") + svc_phases_ns(&p, "exec"));
}

TEST(SvcPhases, BoundedAndNullSafe)
{
        static const char *const names[] = { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
                                             "n", "o", "p" };
        struct svc_phases p;
        svc_phases_start(&p, "exec");
        for (const char *n : names)
                svc_phases_mark(&p, n);
        EXPECT_EQ(p.n, (size_t)SVC_PHASES_MAX);
        EXPECT_EQ(svc_phases_ns(&p, "p"), 0u); /* past the limit: only in the total */
        svc_phases_start(nullptr, "x");
        svc_phases_mark(nullptr, "x");
        svc_phases_finish(nullptr, nullptr);
        EXPECT_EQ(svc_phases_total_ns(nullptr), 0u);
}

TEST(SvcPhases, FinishObservesAndLogs)
{
        struct metrics_registry *reg = nullptr;
        ASSERT_EQ(metrics_registry_new(&reg), 0);
        static const char *const labels[] = { "call", "phase" };
        struct metric_def d = { "t_phase_seconds", "Phases.", METRIC_HISTOGRAM, labels, 2,
                                metrics_latency_buckets, metrics_n_latency_buckets, 0 };
        struct metric_family *fam = nullptr;
        ASSERT_EQ(metrics_register(reg, &d, &fam, nullptr), 0);

        struct ak_error err = {};
        ASSERT_EQ(svc_log_setup("ak-test", "text", "debug", &err), 0) << err.msg;
        char path[] = "/tmp/phases_test.XXXXXX";
        int fd = mkstemp(path);
        ASSERT_GE(fd, 0);
        int saved = dup(2);
        ASSERT_GE(saved, 0);
        dup2(fd, 2);

        struct svc_phases p;
        svc_phases_start(&p, "run");
        svc_phases_mark(&p, "place");
        SleepMs(2);
        svc_phases_mark(&p, "exec");
        svc_phases_finish(&p, fam);

        dup2(saved, 2);
        close(saved);
        char buf[4096] = {};
        ASSERT_GT(pread(fd, buf, sizeof(buf) - 1, 0), 0);
        close(fd);
        unlink(path);
        std::string line(buf);
        EXPECT_NE(line.find("debug ak-test: phases call=run place_us="), std::string::npos) << line;
        EXPECT_NE(line.find(" exec_us="), std::string::npos) << line;
        EXPECT_NE(line.find(" total_us="), std::string::npos) << line;

        const char *place[] = { "run", "place" }, *exec[] = { "run", "exec" }, *total[] = { "run", "total" },
                   *other[] = { "exec", "place" };
        EXPECT_EQ(metrics_value(metrics_series(fam, place)), 1);
        EXPECT_EQ(metrics_value(metrics_series(fam, exec)), 1);
        EXPECT_EQ(metrics_value(metrics_series(fam, total)), 1);
        EXPECT_EQ(metrics_value(metrics_series(fam, other)), 0);

        /* At info level: no line, still observed. */
        ASSERT_EQ(svc_log_setup("ak-test", "text", "info", &err), 0) << err.msg;
        svc_phases_finish(&p, fam);
        EXPECT_EQ(metrics_value(metrics_series(fam, total)), 2);
        metrics_registry_free(reg);
}

}  // namespace
