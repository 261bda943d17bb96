/* Every server call counted and timed once, here, into the process's
 * metrics registry (lib/metrics): grpc-prometheus' series under ak's
 * prefix. Labels come from the method table, never from the client's path:
 * a call to an unknown method is counted as service "unknown". */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lib/metrics/metrics.h"
#include "lib/rpc/internal.h"

static struct metric_family *handled, *handling, *in_flight_f;
static struct metric_series *in_flight;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
        static const char *const smc[] = { "service", "method", "code" };
        static const struct metric_def defs[] = {
                { "ak_rpc_server_handled_total", "gRPC calls this server finished, by method and status code.",
                  METRIC_COUNTER, smc, 3, NULL, 0, 1024 },
                { "ak_rpc_server_in_flight", "gRPC calls being served now.", METRIC_GAUGE },
        };
        struct metrics_registry *reg = metrics_default();
        /* Registration fails only on a definition bug or out of memory;
         * then the series are NULL and updates do nothing. */
        metrics_register(reg, &defs[0], &handled, NULL);
        metrics_register(reg, &defs[1], &in_flight_f, NULL);
        struct metric_def h = { "ak_rpc_server_handling_seconds",
                                "Time from a call's arrival to its status, by method.",
                                METRIC_HISTOGRAM, smc, 2, metrics_latency_buckets,
                                metrics_n_latency_buckets, 512 };
        metrics_register(reg, &h, &handling, NULL);
        in_flight = metrics_series0(in_flight_f);
}

void rpc_metrics_begin(void)
{
        pthread_once(&once, init);
        metrics_add(in_flight, 1);
}

void rpc_metrics_end(const struct rpc_call *call, int code, uint64_t ns)
{
        char service[128] = "unknown";
        const char *method = "unknown";
        const char *path = call->method ? call->method->path : NULL;

        metrics_add(in_flight, -1);
        if (path && path[0] == '/') {
                const char *slash = strchr(path + 1, '/');
                if (slash) {
                        snprintf(service, sizeof(service), "%.*s", (int)(slash - path - 1), path + 1);
                        method = slash + 1;
                }
        }
        const char *values[] = { service, method, rpc_code_name(code) };
        metrics_add(metrics_series(handled, values), 1);
        metrics_observe(metrics_series(handling, values), (double)ns / 1e9);
}
