/* bench/e2e: where the time of a Run and an Exec goes, from the services'
 * own per-phase histograms (ak_scheduler_call_phase_seconds and
 * ak_executor_call_phase_seconds{call, phase}, lib/svc/phases.h), scraped
 * from their /metrics before and after the timed CLI runs: the mean of each
 * phase over the calls made in between.
 *
 * The scrape is our own service's Prometheus text, still treated as bytes
 * from outside: every size is bounded, a line that does not parse is
 * skipped, at most E2E_PHASES_MAX series are kept (phases_fuzz). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

#define E2E_PHASES_MAX 64
#define E2E_PHASES_LABEL_MAX 32
#define E2E_SCRAPE_MAX ((size_t)4 << 20)

struct e2e_phase {
        char call[E2E_PHASES_LABEL_MAX], phase[E2E_PHASES_LABEL_MAX];
        double sum;       /* seconds */
        double count;
};

struct e2e_phases {
        struct e2e_phase v[E2E_PHASES_MAX];
        size_t n;
};

/* The _sum and _count series of histogram `family` in Prometheus text
 * (text[0..len), not NUL-terminated) with labels call and phase, in the
 * order met; other lines are ignored. Never fails: what does not parse is
 * not there. */
void e2e_phases_parse(const char *text, size_t len, const char *family, struct e2e_phases *ret);

/* GET /metrics from hostport ("127.0.0.1:PORT"), then e2e_phases_parse.
 * 0, or -errno with err naming the address. */
int e2e_phases_scrape(const char *hostport, const char *family, struct e2e_phases *ret, struct ak_error *err);

/* The mean of (call, phase) in milliseconds over what after gained since
 * before; -1 when no call of that kind came in between. */
double e2e_phases_mean_ms(const struct e2e_phases *before, const struct e2e_phases *after, const char *call,
                          const char *phase);
