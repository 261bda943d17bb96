#include "lib/svc/metrics.h"

#include "lib/base/time.h"
#include "lib/base/version.h"
#include "lib/svc/log.h"

static void http_line(const char *line)
{
        SVC_LOG(SVC_LOG_WARN, line, SVC_LOG_S("source", "metrics listener"));
}

int svc_metrics_start(const char *listen, const char *service, struct metrics_http **ret,
                      struct ak_error *err)
{
        static const char *const info_labels[] = { "service", "version", "agentkernel_version" };
        static const struct metric_def info = {
                "ak_build_info", "Always 1: the running binary's name and version.", METRIC_GAUGE,
                info_labels, 3, NULL, 0, 4,
        };
        static const struct metric_def start = {
                "ak_process_start_time_seconds", "When the service started, in seconds since the epoch.",
                METRIC_GAUGE,
        };
        struct metrics_registry *reg = metrics_default();
        struct metric_family *f;
        const char *why = NULL;
        int r;

        *ret = NULL;
        if ((r = metrics_register(reg, &info, &f, &why)) < 0)
                return ak_error_set(err, r, "ak_build_info: %s", why ? why : "out of memory");
        const char *values[] = { service, AK_VERSION, AK_AGENTKERNEL_COMPAT };
        metrics_set(metrics_series(f, values), 1);
        if ((r = metrics_register(reg, &start, &f, &why)) < 0)
                return ak_error_set(err, r, "ak_process_start_time_seconds: %s", why ? why : "out of memory");
        metrics_set(metrics_series0(f), (double)ak_real_ms() / 1000.0);
        if (!listen)
                return 0;
        metrics_http_set_log(http_line);
        if ((r = metrics_http_start(reg, listen, ret, err)) < 0) {
                ak_error_wrap(err, "--metrics-listen %s", listen);
                return r;
        }
        SVC_LOG(SVC_LOG_INFO, "serving metrics", SVC_LOG_S("metrics_listen", listen),
                SVC_LOG_I("port", metrics_http_port(*ret)));
        return 0;
}
