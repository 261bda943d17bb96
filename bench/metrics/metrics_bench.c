/* bench/metrics: what a Prometheus scrape of /metrics costs, beside a
 * baseline measured in the same run (an empty registry):
 *   empty      the registry alone (ak_metrics_series_dropped_total)
 *   executor   an executor's real shape with 1,000 sandboxes: RPC series for
 *              25 methods x 2 codes, the ak_executor_* families, and the
 *              collector walking 1,000 sandboxes under a mutex to count
 *              them by state (series stay bounded: no per-sandbox label)
 *   per-sbx    an upper bound: the executor shape plus a gauge and a
 *              16-bucket histogram per sandbox (1,000 of each)
 * For each: render p50/p99 in process, and p50 of a whole HTTP GET over
 * loopback through the --metrics-listen server, with the body's size. Also
 * the hot-path costs: metrics_add on a cached series, and a lookup by
 * labels + observe (what lib/rpc does per call), beside a bare atomic add. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "lib/metrics/http.h"
#include "lib/metrics/metrics.h"

#define SANDBOXES 1000

static unsigned rounds = 200;

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static struct metric_family *reg_def(struct metrics_registry *reg, const char *name, enum metric_type t,
                                     const char *const *labels, size_t n, unsigned max)
{
        struct metric_def d = { name, "bench.", t, labels, n, NULL, 0, max };
        struct metric_family *f = NULL;
        if (t == METRIC_HISTOGRAM) {
                d.buckets = metrics_latency_buckets;
                d.n_buckets = metrics_n_latency_buckets;
        }
        if (metrics_register(reg, &d, &f, NULL) < 0) {
                fprintf(stderr, "register %s failed\n", name);
                exit(1);
        }
        return f;
}

/* The executor's collector, in shape: sandboxes by state under a lock. */
struct fake_executor {
        pthread_mutex_t lock;
        int state[SANDBOXES];
        struct metric_family *by_state;
};

static void collect(void *data)
{
        struct fake_executor *ex = data;
        static const char *const states[] = { "creating", "running", "stopped", "error" };
        double n[4] = { 0 };
        pthread_mutex_lock(&ex->lock);
        for (size_t i = 0; i < SANDBOXES; i++)
                n[ex->state[i]]++;
        pthread_mutex_unlock(&ex->lock);
        for (size_t k = 0; k < 4; k++) {
                const char *v[] = { states[k] };
                metrics_set(metrics_series(ex->by_state, v), n[k]);
        }
}

static void executor_shape(struct metrics_registry *reg, struct fake_executor *ex)
{
        static const char *const smc[] = { "service", "method", "code" };
        static const char *const st[] = { "state" };
        struct metric_family *handled = reg_def(reg, "ak_rpc_server_handled_total", METRIC_COUNTER, smc, 3, 1024);
        struct metric_family *secs = reg_def(reg, "ak_rpc_server_handling_seconds", METRIC_HISTOGRAM, smc, 2, 512);
        for (int m = 0; m < 25; m++) {
                char method[32];
                snprintf(method, sizeof(method), "Method%02d", m);
                for (int c = 0; c < 2; c++) {
                        const char *v[] = { "ak.v1.Executor", method, c ? "NOT_FOUND" : "OK" };
                        metrics_add(metrics_series(handled, v), 10);
                }
                const char *v[] = { "ak.v1.Executor", method };
                metrics_observe(metrics_series(secs, v), 0.01 * m);
        }
        static const char *const names[] = { "ak_executor_capacity_vcpus", "ak_executor_allocated_vcpus",
                                              "ak_executor_audit_queued_events", "ak_auditor_spool_bytes" };
        for (size_t i = 0; i < 4; i++)
                metrics_set(metrics_series0(reg_def(reg, names[i], METRIC_GAUGE, NULL, 0, 0)), 1e6);
        metrics_observe(metrics_series0(reg_def(reg, "ak_executor_vm_boot_seconds", METRIC_HISTOGRAM, NULL, 0, 0)),
                        3.5);
        metrics_observe(metrics_series0(reg_def(reg, "ak_executor_exec_seconds", METRIC_HISTOGRAM, NULL, 0, 0)),
                        0.2);
        pthread_mutex_init(&ex->lock, NULL);
        for (size_t i = 0; i < SANDBOXES; i++)
                ex->state[i] = (int)(i % 4);
        ex->by_state = reg_def(reg, "ak_executor_sandboxes", METRIC_GAUGE, st, 1, 0);
        metrics_add_collector(reg, collect, ex);
}

static void per_sandbox(struct metrics_registry *reg)
{
        static const char *const sb[] = { "sandbox" };
        struct metric_family *g = reg_def(reg, "ak_bench_sandbox_running", METRIC_GAUGE, sb, 1, 2 * SANDBOXES);
        struct metric_family *h = reg_def(reg, "ak_bench_sandbox_exec_seconds", METRIC_HISTOGRAM, sb, 1, 2 * SANDBOXES);
        for (int i = 0; i < SANDBOXES; i++) {
                char name[32];
                snprintf(name, sizeof(name), "sandbox-%04d", i);
                const char *v[] = { name };
                metrics_set(metrics_series(g, v), 1);
                metrics_observe(metrics_series(h, v), 0.001 * i);
        }
}

/* One HTTP/1.0 GET /metrics over loopback; the bytes received. */
static size_t http_get(uint16_t port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                perror("connect");
                exit(1);
        }
        static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
                perror("write");
                exit(1);
        }
        char buf[65536];
        size_t total = 0;
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                total += (size_t)n;
        close(fd);
        return total;
}

static void measure(const char *label, struct metrics_registry *reg, double base_p50)
{
        uint64_t *render = calloc(rounds, sizeof(uint64_t)), *get = calloc(rounds, sizeof(uint64_t));
        size_t bytes = 0, http_bytes = 0, series_lines = 0;
        struct metrics_http *h = NULL;
        struct ak_error err = { 0 };

        if (!render || !get || metrics_http_start(reg, "127.0.0.1:0", &h, &err) < 0) {
                fprintf(stderr, "%s: %s\n", label, err.msg);
                exit(1);
        }
        for (unsigned i = 0; i < rounds; i++) {
                char *text;
                uint64_t t0 = ak_mono_ns();
                if (metrics_render(reg, &text, &bytes) < 0)
                        exit(1);
                render[i] = ak_mono_ns() - t0;
                if (i == 0)
                        for (char *p = text; *p; p++)
                                series_lines += *p == '\n' && p[1] && p[1] != '#';
                free(text);
                t0 = ak_mono_ns();
                http_bytes = http_get(metrics_http_port(h));
                get[i] = ak_mono_ns() - t0;
        }
        metrics_http_stop(h);
        qsort(render, rounds, sizeof(uint64_t), cmp_u64);
        qsort(get, rounds, sizeof(uint64_t), cmp_u64);
        double p50 = (double)render[rounds / 2] / 1e3;
        printf("%-9s %7zu samples %8zu B  render p50 %8.1f us p99 %8.1f us  HTTP GET p50 %8.1f us (%zu B)",
               label, series_lines, bytes, p50, (double)render[rounds * 99 / 100] / 1e3,
               (double)get[rounds / 2] / 1e3, http_bytes);
        if (base_p50 > 0)
                printf("  render %.0fx empty", p50 / base_p50);
        printf("\n");
        free(render);
        free(get);
}

static double render_p50(struct metrics_registry *reg)
{
        uint64_t *v = calloc(rounds, sizeof(uint64_t));
        for (unsigned i = 0; i < rounds; i++) {
                char *text;
                size_t n;
                uint64_t t0 = ak_mono_ns();
                metrics_render(reg, &text, &n);
                v[i] = ak_mono_ns() - t0;
                free(text);
        }
        qsort(v, rounds, sizeof(uint64_t), cmp_u64);
        double r = (double)v[rounds / 2] / 1e3;
        free(v);
        return r;
}

static void hot_paths(void)
{
        struct metrics_registry *reg;
        static const char *const smc[] = { "service", "method", "code" };
        const unsigned n = 2000000;
        _Atomic uint64_t bare = 0;

        metrics_registry_new(&reg);
        struct metric_family *c = reg_def(reg, "ak_bench_total", METRIC_COUNTER, smc, 3, 1024);
        struct metric_family *h = reg_def(reg, "ak_bench_seconds", METRIC_HISTOGRAM, smc, 2, 512);
        for (int m = 0; m < 25; m++) { /* a realistic table to search */
                char method[32];
                snprintf(method, sizeof(method), "Method%02d", m);
                const char *v[] = { "ak.v1.Executor", method, "OK" };
                metrics_series(c, v);
                metrics_series(h, v);
        }
        const char *v[] = { "ak.v1.Executor", "Method24", "OK" };
        struct metric_series *s = metrics_series(c, v);

        uint64_t t0 = ak_mono_ns();
        for (unsigned i = 0; i < n; i++)
                atomic_fetch_add_explicit(&bare, 1, memory_order_relaxed);
        double t_bare = (double)(ak_mono_ns() - t0) / n;
        t0 = ak_mono_ns();
        for (unsigned i = 0; i < n; i++)
                metrics_add(s, 1);
        double t_add = (double)(ak_mono_ns() - t0) / n;
        t0 = ak_mono_ns();
        for (unsigned i = 0; i < n / 10; i++) {
                metrics_add(metrics_series(c, v), 1);
                metrics_observe(metrics_series(h, v), 0.001);
        }
        double t_rpc = (double)(ak_mono_ns() - t0) / (n / 10);
        printf("hot path: bare atomic add %.1f ns; metrics_add (cached series) %.1f ns; "
               "per-RPC lookup+add+observe (25 methods) %.1f ns\n",
               t_bare, t_add, t_rpc);
        metrics_registry_free(reg);
}

int main(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
                        rounds = (unsigned)strtoul(argv[++i], NULL, 10);
                else {
                        fprintf(stderr, "usage: metrics [--rounds N]\n");
                        return 2;
                }
        }
        if (rounds < 10)
                rounds = 10;
        struct metrics_registry *empty, *exec, *wide;
        struct fake_executor ex1, ex2;
        metrics_registry_new(&empty);
        metrics_registry_new(&exec);
        metrics_registry_new(&wide);
        executor_shape(exec, &ex1);
        executor_shape(wide, &ex2);
        per_sandbox(wide);

        printf("/metrics scrape cost, %u rounds each, %d sandboxes\n", rounds, SANDBOXES);
        double base = render_p50(empty);
        measure("empty", empty, 0);
        measure("executor", exec, base);
        measure("per-sbx", wide, base);
        hot_paths();
        metrics_registry_free(empty);
        metrics_registry_free(exec);
        metrics_registry_free(wide);
        return 0;
}
