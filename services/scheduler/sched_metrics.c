#include "services/scheduler/sched_metrics.h"

#include <pthread.h>

#include "lib/metrics/metrics.h"
#include "services/scheduler/registry.h"
#include "services/scheduler/service_internal.h"

static struct metric_family *executors, *sandboxes, *lost;
static int init_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
        static const char *const state[] = { "state" };
        static const struct metric_def defs[] = {
                { "ak_scheduler_executors", "Executors the scheduler knows, by state (live or lost).",
                  METRIC_GAUGE, state, 1 },
                { "ak_scheduler_sandboxes", "Sandboxes the scheduler knows, on every executor.", METRIC_GAUGE },
                { "ak_scheduler_executors_lost_total", "Times an executor was marked lost after missed heartbeats.",
                  METRIC_COUNTER },
        };
        struct metric_family **f[] = { &executors, &sandboxes, &lost };
        for (size_t i = 0; i < 3; i++) {
                int r = metrics_register(metrics_default(), &defs[i], f[i], NULL);
                if (r < 0 && !init_error)
                        init_error = r;
        }
}

static void collect(void *data)
{
        struct scheduler *s = data;
        struct registry_stats st;
        const char *live[] = { "live" }, *gone[] = { "lost" };

        registry_stats(s->reg, &st);
        metrics_set(metrics_series(executors, live), (double)st.live);
        metrics_set(metrics_series(executors, gone), (double)(st.executors - st.live));
        metrics_set(metrics_series0(sandboxes), (double)st.sandboxes);
}

int sched_metrics_attach(struct scheduler *s)
{
        pthread_once(&once, init);
        if (init_error)
                return init_error;
        return metrics_add_collector(metrics_default(), collect, s);
}

void sched_metrics_detach(struct scheduler *s)
{
        if (s)
                metrics_remove_collector(metrics_default(), collect, s);
}

void sched_metrics_executor_lost(void)
{
        pthread_once(&once, init);
        metrics_add(metrics_series0(lost), 1);
}
