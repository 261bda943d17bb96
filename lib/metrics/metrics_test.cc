#include "lib/metrics/metrics.h"

#include <gtest/gtest.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace {

struct Reg {
        metrics_registry *r = nullptr;
        Reg() { EXPECT_EQ(metrics_registry_new(&r), 0); }
        ~Reg() { metrics_registry_free(r); }
};

std::string Render(metrics_registry *r)
{
        char *p = nullptr;
        size_t n = 0;
        EXPECT_EQ(metrics_render(r, &p, &n), 0);
        std::string s(p, n);
        EXPECT_EQ(strlen(p), n);
        free(p);
        return s;
}

metric_family *Register(metrics_registry *r, const metric_def &d)
{
        metric_family *f = nullptr;
        const char *why = nullptr;
        EXPECT_EQ(metrics_register(r, &d, &f, &why), 0) << d.name << ": " << (why ? why : "");
        return f;
}

/* Runs check_exposition.sh on text: 0 both parsers accept, 1 refused,
 * 77 a parser is missing. */
int Check(const std::string &text, std::string *why)
{
        char path[] = "/tmp/ak_metrics_test_XXXXXX";
        int fd = mkstemp(path);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(write(fd, text.data(), text.size()), (ssize_t)text.size());
        close(fd);
        std::string cmd = "lib/metrics/check_exposition.sh " + std::string(path) + " 2>&1";
        FILE *p = popen(cmd.c_str(), "r");
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                why->append(buf, n);
        int st = pclose(p);
        unlink(path);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *const kMethodCode[] = { "method", "code" };
const char *const kMethod[] = { "method" };

TEST(Metrics, CounterGaugeRendered)
{
        Reg r;
        metric_family *c = Register(r.r, { "ak_test_calls_total", "Calls.", METRIC_COUNTER, kMethodCode, 2 });
        metric_family *g = Register(r.r, { "ak_test_ready", "Ready VMs.", METRIC_GAUGE });
        const char *v1[] = { "Exec", "OK" };
        metrics_add(metrics_series(c, v1), 1);
        metrics_add(metrics_series(c, v1), 2);
        metrics_set(metrics_series0(g), -3.5);
        std::string s = Render(r.r);
        EXPECT_NE(s.find("# HELP ak_test_calls_total Calls.\n# TYPE ak_test_calls_total counter\n"
                         "ak_test_calls_total{method=\"Exec\",code=\"OK\"} 3\n"),
                  std::string::npos)
                << s;
        EXPECT_NE(s.find("# TYPE ak_test_ready gauge\nak_test_ready -3.5\n"), std::string::npos) << s;
        EXPECT_NE(s.find("ak_metrics_series_dropped_total 0\n"), std::string::npos) << s;
        EXPECT_EQ(metrics_value(metrics_series(c, v1)), 3);
        /* A counter never goes down; a NaN changes nothing. */
        metrics_add(metrics_series(c, v1), -1);
        metrics_add(metrics_series(c, v1), NAN);
        EXPECT_EQ(metrics_value(metrics_series(c, v1)), 3);
}

TEST(Metrics, HistogramCumulativeBuckets)
{
        Reg r;
        const double b[] = { 0.1, 1, 10 };
        metric_family *h = Register(r.r, { "ak_test_seconds", "Durations.", METRIC_HISTOGRAM, kMethod, 1, b, 3 });
        const char *v[] = { "Run" };
        metric_series *s = metrics_series(h, v);
        for (double x : { 0.05, 0.1, 0.5, 5.0, 50.0 })
                metrics_observe(s, x);
        std::string out = Render(r.r);
        EXPECT_NE(out.find("ak_test_seconds_bucket{method=\"Run\",le=\"0.1\"} 2\n"
                           "ak_test_seconds_bucket{method=\"Run\",le=\"1\"} 3\n"
                           "ak_test_seconds_bucket{method=\"Run\",le=\"10\"} 4\n"
                           "ak_test_seconds_bucket{method=\"Run\",le=\"+Inf\"} 5\n"
                           "ak_test_seconds_sum{method=\"Run\"} 55.65\n"
                           "ak_test_seconds_count{method=\"Run\"} 5\n"),
                  std::string::npos)
                << out;
}

TEST(Metrics, EscapingOfHelpAndLabelValues)
{
        Reg r;
        metric_family *c = Register(r.r, { "ak_test_escape_total", "a \\ back\nslash \"q\"", METRIC_COUNTER, kMethod, 1 });
        const char *v[] = { "x\"y\\z\nw\xff" };
        metrics_add(metrics_series(c, v), 1);
        std::string s = Render(r.r);
        EXPECT_NE(s.find("# HELP ak_test_escape_total a \\\\ back\\nslash \"q\"\n"), std::string::npos) << s;
        /* Invalid UTF-8 becomes '?': both parsers insist on UTF-8. */
        EXPECT_NE(s.find("ak_test_escape_total{method=\"x\\\"y\\\\z\\nw?\"} 1\n"), std::string::npos) << s;
        std::string why;
        int rc = Check(s, &why);
        if (rc == 77)
                GTEST_SKIP() << why;
        EXPECT_EQ(rc, 0) << why << "\n" << s;
}

TEST(Metrics, RefusesBadDefinitions)
{
        Reg r;
        metric_family *f;
        const char *why;
        metric_def d = { "ak_calls", "no _total", METRIC_COUNTER };
        EXPECT_EQ(metrics_register(r.r, &d, &f, &why), -EINVAL);
        EXPECT_STREQ(why, "a counter's name ends in _total");
        d = { "1bad", "h", METRIC_GAUGE };
        EXPECT_EQ(metrics_register(r.r, &d, &f, &why), -EINVAL);
        const char *const le[] = { "le" };
        const double b[] = { 1 };
        d = { "ak_h_seconds", "h", METRIC_HISTOGRAM, le, 1, b, 1 };
        EXPECT_EQ(metrics_register(r.r, &d, &f, &why), -EINVAL);
        const double unsorted[] = { 1, 0.5 };
        d = { "ak_h_seconds", "h", METRIC_HISTOGRAM, nullptr, 0, unsorted, 2 };
        EXPECT_EQ(metrics_register(r.r, &d, &f, &why), -EINVAL);
        const char *const dunder[] = { "__x" };
        d = { "ak_g", "h", METRIC_GAUGE, dunder, 1 };
        EXPECT_EQ(metrics_register(r.r, &d, &f, &why), -EINVAL);
        /* The same definition twice is the same family; another is refused. */
        d = { "ak_g", "h", METRIC_GAUGE, kMethod, 1 };
        metric_family *a = nullptr, *b2 = nullptr;
        EXPECT_EQ(metrics_register(r.r, &d, &a, &why), 0);
        EXPECT_EQ(metrics_register(r.r, &d, &b2, &why), 0);
        EXPECT_EQ(a, b2);
        d = { "ak_g", "h", METRIC_COUNTER };
        EXPECT_EQ(metrics_register(r.r, &d, &f, &why), -EINVAL); /* no _total */
        d = { "ak_g", "h", METRIC_GAUGE };
        EXPECT_EQ(metrics_register(r.r, &d, &f, &why), -EEXIST);
}

TEST(Metrics, SeriesLimitDropsAndCounts)
{
        Reg r;
        metric_def d = { "ak_test_lim_total", "h", METRIC_COUNTER, kMethod, 1, nullptr, 0, 3 };
        metric_family *f = Register(r.r, d);
        for (int i = 0; i < 10; i++) {
                std::string v = "m" + std::to_string(i);
                const char *vals[] = { v.c_str() };
                metric_series *s = metrics_series(f, vals);
                EXPECT_EQ(s != nullptr, i < 3) << i;
                metrics_add(s, 1); /* NULL: no-op */
        }
        std::string s = Render(r.r);
        EXPECT_NE(s.find("ak_metrics_series_dropped_total 7\n"), std::string::npos) << s;
        EXPECT_EQ(s.find("m3"), std::string::npos) << s;
}

void Collect(void *data)
{
        metric_family *f = static_cast<metric_family *>(data);
        metrics_family_zero(f);
        const char *v[] = { "running" };
        metrics_set(metrics_series(f, v), 7);
}

TEST(Metrics, CollectorsRunAtRender)
{
        Reg r;
        const char *const st[] = { "state" };
        metric_family *f = Register(r.r, { "ak_test_sandboxes", "By state.", METRIC_GAUGE, st, 1 });
        const char *v[] = { "creating" };
        metrics_set(metrics_series(f, v), 2);
        ASSERT_EQ(metrics_add_collector(r.r, Collect, f), 0);
        std::string s = Render(r.r);
        EXPECT_NE(s.find("ak_test_sandboxes{state=\"creating\"} 0\n"), std::string::npos) << s;
        EXPECT_NE(s.find("ak_test_sandboxes{state=\"running\"} 7\n"), std::string::npos) << s;
        metrics_remove_collector(r.r, Collect, f);
        metrics_set(metrics_series(f, v), 2);
        s = Render(r.r);
        EXPECT_NE(s.find("ak_test_sandboxes{state=\"creating\"} 2\n"), std::string::npos) << s;
}

TEST(Metrics, ConcurrentUpdatesAreExact)
{
        Reg r;
        metric_family *c = Register(r.r, { "ak_test_par_total", "h", METRIC_COUNTER, kMethod, 1 });
        metric_family *h = Register(r.r, { "ak_test_par_seconds", "h", METRIC_HISTOGRAM, nullptr, 0,
                                          metrics_latency_buckets, metrics_n_latency_buckets });
        std::vector<std::thread> ts;
        for (int t = 0; t < 4; t++)
                ts.emplace_back([&, t] {
                        std::string v = "m" + std::to_string(t % 2);
                        const char *vals[] = { v.c_str() };
                        for (int i = 0; i < 20000; i++) {
                                metrics_add(metrics_series(c, vals), 1);
                                metrics_observe(metrics_series0(h), 0.5);
                                if (i % 1000 == 0)
                                        Render(r.r);
                        }
                });
        for (auto &t : ts)
                t.join();
        const char *m0[] = { "m0" }, *m1[] = { "m1" };
        EXPECT_EQ(metrics_value(metrics_series(c, m0)), 40000);
        EXPECT_EQ(metrics_value(metrics_series(c, m1)), 40000);
        EXPECT_EQ(metrics_value(metrics_series0(h)), 80000);
        std::string s = Render(r.r);
        EXPECT_NE(s.find("ak_test_par_seconds_sum 40000\n"), std::string::npos) << s;
}

TEST(Metrics, WholeRegistryPassesPromtoolAndPythonParser)
{
        Reg r;
        metric_family *c = Register(r.r, { "ak_rpc_server_handled_total", "RPCs finished.", METRIC_COUNTER, kMethodCode, 2 });
        metric_family *h = Register(r.r, { "ak_rpc_server_handling_seconds", "RPC latency.", METRIC_HISTOGRAM, kMethod, 1,
                                          metrics_latency_buckets, metrics_n_latency_buckets });
        metric_family *g = Register(r.r, { "ak_spool_bytes", "Spool size in bytes.", METRIC_GAUGE });
        const char *v[] = { "Exec", "NOT_FOUND" };
        metrics_add(metrics_series(c, v), 1);
        metrics_observe(metrics_series(h, v), 0.0123);
        metrics_set(metrics_series0(g), 1e300);
        std::string why;
        int rc = Check(Render(r.r), &why);
        if (rc == 77)
                GTEST_SKIP() << why;
        EXPECT_EQ(rc, 0) << why;
        /* And the check can fail: a counter without _total written by hand. */
        why.clear();
        EXPECT_EQ(Check("# HELP x_calls c\n# TYPE x_calls counter\nx_calls 1\n", &why), 1) << why;
}

TEST(Metrics, DefaultRegistryIsOne)
{
        EXPECT_EQ(metrics_default(), metrics_default());
        EXPECT_NE(metrics_default(), nullptr);
}

} // namespace

namespace {

TEST(Metrics, NumbersAsTheFormatSpellsThem)
{
        Reg r;
        metric_family *g = Register(r.r, { "ak_test_num", "n", METRIC_GAUGE, kMethod, 1 });
        struct {
                const char *label;
                double v;
                const char *want;
        } cases[] = {
                { "neg", -5, "-5" },         { "tenth", 0.1, "0.1" },       { "big", 9007199254740993.0, "9007199254740992" },
                { "huge", 1e300, "1e+300" }, { "ninf", -INFINITY, "-Inf" }, { "nan", NAN, "NaN" },
                { "third", 1.0 / 3, "0.33333333333333331" },
        };
        for (auto &c : cases) {
                const char *v[] = { c.label };
                metrics_set(metrics_series(g, v), c.v);
        }
        std::string s = Render(r.r);
        for (auto &c : cases)
                EXPECT_NE(s.find("ak_test_num{method=\"" + std::string(c.label) + "\"} " + c.want + "\n"),
                          std::string::npos)
                        << c.label << "\n" << s;
}

} // namespace
