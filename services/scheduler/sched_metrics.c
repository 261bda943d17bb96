#include "services/scheduler/sched_metrics.h"

#include <pthread.h>

#include "lib/metrics/metrics.h"
#include "lib/svc/phases.h"
#include "services/scheduler/admission.h"
#include "services/scheduler/registry.h"
#include "services/scheduler/service_internal.h"

static struct metric_family *executors, *sandboxes, *lost, *queue_length, *queue_wait, *queue_rejected, *phases;
static const double wait_buckets[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800 };
static int init_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
        static const char *const state[] = { "state" };
        static const char *const reason[] = { "reason" };
        static const char *const phase[] = { "call", "phase" };
        static const struct metric_def defs[] = {
                { "ak_scheduler_executors", "Executors the scheduler knows, by state (live or lost).",
                  METRIC_GAUGE, state, 1 },
                { "ak_scheduler_sandboxes", "Sandboxes the scheduler knows, on every executor.", METRIC_GAUGE },
                { "ak_scheduler_executors_lost_total", "Times an executor was marked lost after missed heartbeats.",
                  METRIC_COUNTER },
                { "ak_scheduler_queue_length", "Creates and runs waiting in the queue for capacity.", METRIC_GAUGE },
                { "ak_scheduler_queue_wait_seconds",
                  "How long creates and runs waited in the queue, placed or not.", METRIC_HISTOGRAM, NULL, 0,
                  wait_buckets, sizeof(wait_buckets) / sizeof(wait_buckets[0]) },
                { "ak_scheduler_queue_rejected_total",
                  "Creates and runs the queue refused or gave up on, by reason (full: the queue was full; "
                  "never_fits: no executor could ever hold it; deadline: its deadline passed while it waited).",
                  METRIC_COUNTER, reason, 1 },
                { "ak_scheduler_call_phase_seconds",
                  "Where a Run's or Exec's time goes in the scheduler, by call and phase (total: all of it).",
                  METRIC_HISTOGRAM, phase, 2, metrics_latency_buckets, 0 },
        };
        struct metric_family **f[] = { &executors, &sandboxes, &lost, &queue_length, &queue_wait, &queue_rejected, &phases };
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
                struct metric_def d = defs[i];
                if (f[i] == &phases)
                        d.n_buckets = metrics_n_latency_buckets;
                int r = metrics_register(metrics_default(), &d, f[i], NULL);
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
        metrics_set(metrics_series0(queue_length), s->adm ? (double)admission_waiting(s->adm) : 0);
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

void sched_metrics_queue_waited(double seconds)
{
        pthread_once(&once, init);
        metrics_observe(metrics_series0(queue_wait), seconds);
}

void sched_metrics_queue_rejected(const char *reason)
{
        pthread_once(&once, init);
        const char *v[] = { reason };
        metrics_add(metrics_series(queue_rejected, v), 1);
}

void sched_metrics_phases(const struct svc_phases *ph)
{
        pthread_once(&once, init);
        svc_phases_finish(ph, phases);
}
