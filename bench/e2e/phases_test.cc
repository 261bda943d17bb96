// The bench's reading of the services' phase histograms.
#include <string.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "bench/e2e/phases.h"
}

namespace {

const char kBefore[] =
        "# TYPE ak_x_phase_seconds histogram\n"
        "ak_x_phase_seconds_bucket{call=\"run\",phase=\"vm\",le=\"+Inf\"} 2\n"
        "ak_x_phase_seconds_sum{call=\"run\",phase=\"vm\"} 0.004\n"
        "ak_x_phase_seconds_count{call=\"run\",phase=\"vm\"} 2\n"
        "ak_other_seconds_sum{call=\"run\",phase=\"vm\"} 9\n";

const char kAfter[] =
        "ak_x_phase_seconds_sum{call=\"run\",phase=\"vm\"} 0.010\n"
        "ak_x_phase_seconds_count{call=\"run\",phase=\"vm\"} 4\n"
        "ak_x_phase_seconds_sum{phase=\"total\",call=\"exec\"} 1.5e-2\n"
        "ak_x_phase_seconds_count{phase=\"total\",call=\"exec\"} 3\n"
        "ak_x_phase_seconds_sum{call=\"exec\",phase=\"q\\\"x\"} 1\n"       // an escape: skipped
        "ak_x_phase_seconds_sum{call=\"exec\",phase=\"nan\"} NaN\n"         // not a number >= 0: skipped
        "ak_x_phase_seconds_sum{call=\"exec\",phase=\"cut\"}";              // no value: skipped

TEST(E2ePhases, MeansOfWhatCameInBetween)
{
        struct e2e_phases b, a;
        e2e_phases_parse(kBefore, strlen(kBefore), "ak_x_phase_seconds", &b);
        e2e_phases_parse(kAfter, strlen(kAfter), "ak_x_phase_seconds", &a);
        ASSERT_EQ(b.n, 1u);
        EXPECT_STREQ(b.v[0].call, "run");
        EXPECT_STREQ(b.v[0].phase, "vm");
        EXPECT_DOUBLE_EQ(b.v[0].sum, 0.004);
        EXPECT_DOUBLE_EQ(b.v[0].count, 2);
        ASSERT_EQ(a.n, 2u);
        EXPECT_NEAR(e2e_phases_mean_ms(&b, &a, "run", "vm"), 3.0, 1e-9);     // 6 ms over 2 calls
        EXPECT_NEAR(e2e_phases_mean_ms(&b, &a, "exec", "total"), 5.0, 1e-9);  // new: 15 ms over 3
        EXPECT_EQ(e2e_phases_mean_ms(&b, &a, "exec", "vm"), -1);
        EXPECT_EQ(e2e_phases_mean_ms(&a, &a, "run", "vm"), -1);              // none in between
}

TEST(E2ePhases, Bounded)
{
        std::string t;
        for (int i = 0; i < E2E_PHASES_MAX + 10; i++)
                t += "ak_x_phase_seconds_count{call=\"c\",phase=\"p" + std::to_string(i) + "\"} 1\n";
        t += "ak_x_phase_seconds_count{call=\"" + std::string(200, 'c') + "\",phase=\"p\"} 1\n";
        struct e2e_phases p;
        e2e_phases_parse(t.data(), t.size(), "ak_x_phase_seconds", &p);
        EXPECT_EQ(p.n, (size_t)E2E_PHASES_MAX);
        e2e_phases_parse("", 0, "ak_x_phase_seconds", &p);
        EXPECT_EQ(p.n, 0u);
}

}  // namespace
