/* A service's metrics endpoint (--metrics-listen, flags.h): the process's
 * registry (lib/metrics metrics_default) served at /metrics, with
 * ak_build_info{service,version,agentkernel_version} 1 and
 * ak_process_start_time_seconds added. */
#pragma once

#include "lib/base/error.h"
#include "lib/metrics/http.h"

/* Registers the build and start-time series for `service` ("ak-executor"),
 * then, when listen is non-NULL, serves metrics on it. *ret is NULL when
 * listen is; free with metrics_http_stop. Returns 0, or a negative errno
 * with err filled ("--metrics-listen ADDR: ..."). */
int svc_metrics_start(const char *listen, const char *service, struct metrics_http **ret,
                      struct ak_error *err);
