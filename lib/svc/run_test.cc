// svc_run: signals sent to the own process from another thread reach the
// callbacks in order (serving, reload + its log line, ticks, stop) and
// svc_run returns; a stop held while starting still stops; with
// SVC_STARTING_STOP_ENDS a stop while starting ends the process (unless
// it was ignored since exec).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "lib/svc/run.h"
}

namespace {

struct Recorder {
        std::mutex mu;
        std::vector<std::string> events;
        std::atomic<bool> serving{ false };
        std::atomic<int> reloads{ 0 };
        std::atomic<int> ticks{ 0 };

        void Add(const std::string &e)
        {
                std::lock_guard<std::mutex> l(mu);
                events.push_back(e);
        }
        std::vector<std::string> Events()
        {
                std::lock_guard<std::mutex> l(mu);
                return events;
        }
};

void OnLog(void *data, const char *line) { static_cast<Recorder *>(data)->Add(std::string("log ") + line); }
void OnServing(void *data)
{
        auto *r = static_cast<Recorder *>(data);
        r->Add("serving");
        r->serving = true;
}
void OnReload(void *data, char *line, size_t size)
{
        auto *r = static_cast<Recorder *>(data);
        r->Add("reload");
        snprintf(line, size, "reloaded %d", ++r->reloads);
}
void OnTick(void *data)
{
        auto *r = static_cast<Recorder *>(data);
        // Only the first tick and those right after a reload: the count of
        // timer ticks depends on the machine.
        if (r->ticks++ == 0 || r->Events().back().rfind("log ", 0) == 0)
                r->Add("tick");
}
void OnStop(void *data, int sig) { static_cast<Recorder *>(data)->Add("stop " + std::to_string(sig)); }

template <typename F> bool WaitFor(F done)
{
        for (int i = 0; i < 1000 && !done(); i++)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return done();
}

struct svc_loop Loop(Recorder *r)
{
        struct svc_loop loop = {};
        loop.data = r;
        loop.log = OnLog;
        loop.serving = OnServing;
        loop.reload = OnReload;
        loop.reload_data = r;
        loop.stop = OnStop;
        return loop;
}

// First: needs a process without the signals blocked yet (a death test
// runs in a child of its own).
TEST(SvcRunDeathTest, StopWhileStartingEndsTheProcessWithStopEnds)
{
        GTEST_FLAG_SET(death_test_style, "threadsafe");
        EXPECT_EXIT(
                {
                        ASSERT_EQ(0, svc_signals_block(SVC_STARTING_STOP_ENDS));
                        kill(getpid(), SIGHUP); // held, does not end it
                        kill(getpid(), SIGTERM);
                        sleep(10);
                        _exit(0);
                },
                ::testing::KilledBySignal(SIGTERM), "");
}

TEST(SvcRunDeathTest, AStopIgnoredSinceExecStaysIgnoredWhileStarting)
{
        GTEST_FLAG_SET(death_test_style, "threadsafe");
        EXPECT_EXIT(
                {
                        signal(SIGINT, SIG_IGN); // as nohup or a shell's background job
                        ASSERT_EQ(0, svc_signals_block(SVC_STARTING_STOP_ENDS));
                        kill(getpid(), SIGINT);
                        usleep(100 * 1000);
                        kill(getpid(), SIGTERM);
                        sleep(10);
                        _exit(0);
                },
                ::testing::KilledBySignal(SIGTERM), "");
}

TEST(SvcRun, RefusedWithoutTheSignalsBlockedOrAStop)
{
        Recorder r;
        struct svc_loop loop = Loop(&r);
        int got = 0;
        std::thread t([&] {
                sigset_t s;
                sigemptyset(&s);
                sigaddset(&s, SIGHUP);
                pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
                got = svc_run(&loop);
        });
        t.join();
        EXPECT_EQ(-EINVAL, got);
        ASSERT_EQ(0, svc_signals_block(SVC_STARTING_HOLD_STOP));
        loop.stop = nullptr;
        EXPECT_EQ(-EINVAL, svc_run(&loop));
        EXPECT_EQ(-EINVAL, svc_run(nullptr));
        EXPECT_TRUE(r.Events().empty());
}

TEST(SvcRun, ReloadOnSighupThenStopOnSigterm)
{
        ASSERT_EQ(0, svc_signals_block(SVC_STARTING_HOLD_STOP));
        Recorder r;
        struct svc_loop loop = Loop(&r);
        std::thread sender([&] {
                ASSERT_TRUE(WaitFor([&] { return r.serving.load(); }));
                kill(getpid(), SIGHUP);
                ASSERT_TRUE(WaitFor([&] { return r.reloads == 1; }));
                kill(getpid(), SIGHUP);
                ASSERT_TRUE(WaitFor([&] { return r.reloads == 2; }));
                kill(getpid(), SIGTERM);
        });
        EXPECT_EQ(0, svc_run(&loop));
        sender.join();
        EXPECT_EQ((std::vector<std::string>{ "serving", "reload", "log reloaded 1", "reload", "log reloaded 2",
                                             "stop " + std::to_string(SIGTERM) }),
                  r.Events());
}

TEST(SvcRun, TicksBetweenSignalsAndAfterEachReload)
{
        ASSERT_EQ(0, svc_signals_block(SVC_STARTING_HOLD_STOP));
        Recorder r;
        struct svc_loop loop = Loop(&r);
        loop.tick = OnTick;
        loop.tick_ms = 20;
        std::thread sender([&] {
                ASSERT_TRUE(WaitFor([&] { return r.ticks >= 2; }));
                kill(getpid(), SIGHUP);
                ASSERT_TRUE(WaitFor([&] { return r.reloads == 1 && r.Events().back() == "tick"; }));
                kill(getpid(), SIGINT);
        });
        EXPECT_EQ(0, svc_run(&loop));
        sender.join();
        EXPECT_EQ((std::vector<std::string>{ "serving", "tick", "reload", "log reloaded 1", "tick",
                                             "stop " + std::to_string(SIGINT) }),
                  r.Events());
}

TEST(SvcRun, StopAndReloadSentWhileStartingAreHeldForSvcRun)
{
        ASSERT_EQ(0, svc_signals_block(SVC_STARTING_HOLD_STOP));
        kill(getpid(), SIGHUP);
        kill(getpid(), SIGTERM);
        Recorder r;
        struct svc_loop loop = Loop(&r);
        EXPECT_EQ(0, svc_run(&loop));
        // Pending signals come lowest number first: SIGHUP before SIGTERM.
        EXPECT_EQ((std::vector<std::string>{ "serving", "reload", "log reloaded 1",
                                             "stop " + std::to_string(SIGTERM) }),
                  r.Events());
}

TEST(SvcRun, StopEndsHandsTheSignalsToSvcRun)
{
        ASSERT_EQ(0, svc_signals_block(SVC_STARTING_STOP_ENDS));
        kill(getpid(), SIGHUP); // a reload while starting is held, never fatal
        Recorder r;
        struct svc_loop loop = Loop(&r);
        std::thread sender([&] {
                ASSERT_TRUE(WaitFor([&] { return r.reloads == 1; }));
                kill(getpid(), SIGTERM);
        });
        EXPECT_EQ(0, svc_run(&loop));
        sender.join();
        EXPECT_EQ((std::vector<std::string>{ "serving", "reload", "log reloaded 1",
                                             "stop " + std::to_string(SIGTERM) }),
                  r.Events());
}

TEST(SvcRun, DefaultReloadAndLogForAServiceWithoutTokens)
{
        ASSERT_EQ(0, svc_signals_block(SVC_STARTING_HOLD_STOP));
        char line[128];
        svc_run_reload_auth(nullptr, line, sizeof(line));
        EXPECT_STREQ("SIGHUP: no --token-file to reload", line);

        Recorder r;
        struct svc_loop loop = {};
        loop.data = &r;
        loop.log = OnLog;
        loop.stop = OnStop;
        kill(getpid(), SIGHUP);
        kill(getpid(), SIGINT);
        EXPECT_EQ(0, svc_run(&loop));
        EXPECT_EQ((std::vector<std::string>{ "log SIGHUP: no --token-file to reload",
                                             "stop " + std::to_string(SIGINT) }),
                  r.Events());
}

} // namespace
