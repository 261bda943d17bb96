#include "vmm/net/net_event.h"

#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace {

struct Sink {
        std::vector<net_event> events;
};

void Collect(void *ctx, const net_event *ev)
{
        static_cast<Sink *>(ctx)->events.push_back(*ev);
}

TEST(NetReporter, PassesABurstThenCountsWhatItHolds)
{
        Sink sink;
        net_reporter r;
        net_reporter_init(&r, Collect, &sink, 10, 5);
        int passed = 0;
        for (int i = 0; i < 1000; i++) {
                net_event ev = {};
                ev.kind = NET_EVENT_CONNECT;
                passed += net_report(&r, &ev);
        }
        EXPECT_EQ(net_reporter_denied(&r), 1000u);
        EXPECT_GE(passed, 5);
        EXPECT_LE(passed, 7) << "a burst of 5 and a rate of 10/s cannot pass more in a tight loop";
        EXPECT_EQ(sink.events.size(), (size_t)passed);
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        net_event ev = {};
        ASSERT_EQ(net_report(&r, &ev), 1) << "the bucket refills at the rate";
        EXPECT_EQ(sink.events.back().suppressed, 1000u - passed)
                << "the next event passed on carries the count of those held back";
        net_reporter_destroy(&r);
}

TEST(NetReporter, WithoutACallbackOnlyCounts)
{
        net_reporter r;
        net_reporter_init(&r, nullptr, nullptr, 0, 0);
        net_event ev = {};
        EXPECT_EQ(net_report(&r, &ev), 0);
        EXPECT_EQ(net_reporter_denied(&r), 1u);
        net_reporter_destroy(&r);
}

// A source that lost events (nflog's ENOBUFS) says so: the count is then a
// lower bound, and the overruns say how often.
TEST(NetReporter, CountsOverruns)
{
        net_reporter r;
        net_reporter_init(&r, nullptr, nullptr, 0, 0);
        EXPECT_EQ(net_reporter_overruns(&r), 0u);
        net_reporter_overrun(&r);
        net_reporter_overrun(&r);
        EXPECT_EQ(net_reporter_overruns(&r), 2u);
        EXPECT_EQ(net_reporter_denied(&r), 0u);
        net_reporter_destroy(&r);
}

}  // namespace
