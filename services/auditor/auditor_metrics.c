#include "services/auditor/auditor_metrics.h"

#include <pthread.h>

#include "lib/metrics/metrics.h"
#include "services/auditor/auditor.h"

enum { F_SPOOL_BYTES, F_SPOOL_MAX, F_SPOOL_RECORDS, F_STORED, F_BROKEN, F_DELIVERED, F_DEAD, F_BACKLOG, F_N };

static const char *const dest_l[] = { "destination" };
static const struct metric_def defs[F_N] = {
        [F_SPOOL_BYTES] = { "ak_auditor_spool_bytes", "Bytes the spool holds on disk.", METRIC_GAUGE },
        [F_SPOOL_MAX] = { "ak_auditor_spool_max_bytes", "The spool's size limit in bytes.", METRIC_GAUGE },
        [F_SPOOL_RECORDS] = { "ak_auditor_spool_records", "Events the spool holds (delivered ones until released).",
                              METRIC_GAUGE },
        [F_STORED] = { "ak_auditor_stored_events_total", "Events stored durably since the auditor started.",
                       METRIC_COUNTER },
        [F_BROKEN] = { "ak_auditor_spool_broken", "1 while the spool refuses appends (disk full or failing).",
                       METRIC_GAUGE },
        [F_DELIVERED] = { "ak_auditor_delivered_events_total", "Events delivered since start, by destination.",
                          METRIC_COUNTER, dest_l, 1, NULL, 0, 64 },
        [F_DEAD] = { "ak_auditor_dead_letters_total", "Events given up on and written to the dead-letter file.",
                     METRIC_COUNTER, dest_l, 1, NULL, 0, 64 },
        [F_BACKLOG] = { "ak_auditor_delivery_backlog_events", "Events stored but not yet delivered, by destination.",
                        METRIC_GAUGE, dest_l, 1, NULL, 0, 64 },
};

static struct metric_family *fam[F_N];
static int init_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
        for (size_t i = 0; i < F_N; i++) {
                int r = metrics_register(metrics_default(), &defs[i], &fam[i], NULL);
                if (r < 0 && !init_error)
                        init_error = r;
        }
}

static void set0(int f, double v)
{
        metrics_set(metrics_series0(fam[f]), v);
}

static void collect(void *data)
{
        struct auditor_status st;
        if (auditor_status(data, &st) < 0)
                return;
        set0(F_SPOOL_BYTES, (double)st.spool.bytes);
        set0(F_SPOOL_MAX, (double)st.spool.max_bytes);
        set0(F_SPOOL_RECORDS, (double)(st.spool.next_position - st.spool.oldest_position));
        set0(F_STORED, (double)st.spool.committed_records);
        set0(F_BROKEN, st.spool.broken ? 1 : 0);
        /* Positions start at 1: the last stored is next_position - 1. */
        uint64_t last = st.spool.next_position ? st.spool.next_position - 1 : 0;
        for (size_t i = 0; i < st.n_dests; i++) {
                const struct delivery_status *d = &st.dests[i];
                const char *v[] = { d->name };
                metrics_set(metrics_series(fam[F_DELIVERED], v), (double)d->delivered_events);
                metrics_set(metrics_series(fam[F_DEAD], v), (double)d->dead_lettered);
                uint64_t done = d->delivered_position > last ? last : d->delivered_position;
                metrics_set(metrics_series(fam[F_BACKLOG], v), (double)(last - done));
        }
        auditor_status_free(&st);
}

int auditor_metrics_attach(struct auditor *a)
{
        pthread_once(&once, init);
        if (init_error)
                return init_error;
        return metrics_add_collector(metrics_default(), collect, a);
}

void auditor_metrics_detach(struct auditor *a)
{
        if (a)
                metrics_remove_collector(metrics_default(), collect, a);
}
