#include "lib/svc/phases.h"

#include <stdio.h>
#include <string.h>

#include "lib/base/time.h"
#include "lib/svc/log.h"

void svc_phases_start(struct svc_phases *p, const char *call)
{
        if (!p)
                return;
        memset(p, 0, sizeof(*p));
        p->call = call;
        p->start_ns = p->last_ns = ak_mono_ns();
}

void svc_phases_mark(struct svc_phases *p, const char *phase)
{
        if (!p)
                return;
        uint64_t now = ak_mono_ns();
        uint64_t d = now - p->last_ns;
        p->last_ns = now;
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->name[i], phase) == 0) {
                        p->ns[i] += d;
                        return;
                }
        if (p->n < SVC_PHASES_MAX) {
                p->name[p->n] = phase;
                p->ns[p->n++] = d;
        }
}

uint64_t svc_phases_ns(const struct svc_phases *p, const char *phase)
{
        for (size_t i = 0; p && i < p->n; i++)
                if (strcmp(p->name[i], phase) == 0)
                        return p->ns[i];
        return 0;
}

uint64_t svc_phases_total_ns(const struct svc_phases *p)
{
        return p ? p->last_ns - p->start_ns : 0;
}

void svc_phases_finish(const struct svc_phases *p, struct metric_family *hist)
{
        if (!p)
                return;
        if (hist) {
                for (size_t i = 0; i < p->n; i++) {
                        const char *lv[] = { p->call, p->name[i] };
                        metrics_observe(metrics_series(hist, lv), (double)p->ns[i] / 1e9);
                }
                const char *lv[] = { p->call, "total" };
                metrics_observe(metrics_series(hist, lv), (double)svc_phases_total_ns(p) / 1e9);
        }
        if (!svc_log_enabled(SVC_LOG_DEBUG))
                return;
        struct svc_log_field f[SVC_PHASES_MAX + 2];
        char keys[SVC_PHASES_MAX + 1][48];
        size_t n = 0;
        f[n++] = SVC_LOG_S("call", p->call);
        for (size_t i = 0; i < p->n; i++) {
                snprintf(keys[i], sizeof(keys[i]), "%.44s_us", p->name[i]);
                f[n++] = SVC_LOG_I(keys[i], p->ns[i] / 1000);
        }
        f[n++] = SVC_LOG_I("total_us", svc_phases_total_ns(p) / 1000);
        svc_log(SVC_LOG_DEBUG, "phases", f, n);
}
