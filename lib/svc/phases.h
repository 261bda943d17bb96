/* Per-phase timings of one request (where a Run's or an Exec's time goes):
 * the handler marks the end of each phase as it passes it, and at the end
 * one debug log line names every phase with its microseconds and the total,
 * and each phase is observed (in seconds) in a histogram family labelled
 * {call, phase}.
 *
 *   struct svc_phases ph;
 *   svc_phases_start(&ph, "run");
 *   ... place ...            svc_phases_mark(&ph, "place");
 *   ... forward ...          svc_phases_mark(&ph, "forward");
 *   svc_phases_finish(&ph, fam);   // "phases call=run place_us=210 forward_us=43100 total_us=43310"
 *
 * Cheap enough to be always on: a mark is one clock_gettime(CLOCK_MONOTONIC)
 * (vDSO); the line is only formatted when debug logging is on. Phase names
 * must be string literals (they become label values and field keys): a
 * bounded set chosen by the code, never by a client. A phase marked twice
 * adds up; past SVC_PHASES_MAX distinct phases further marks count only in
 * the total.
 *
 * Thread-safety: a struct svc_phases belongs to the one thread that handles
 * the request; svc_phases_finish may run on any thread. NULL-safe: every
 * function takes p == NULL and does nothing, so code shared by callers that
 * time and callers that do not passes NULL. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/metrics/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SVC_PHASES_MAX 13 /* + call + total within SVC_LOG_MAX_FIELDS */

struct svc_phases {
        const char *call;
        uint64_t start_ns, last_ns;
        size_t n;
        const char *name[SVC_PHASES_MAX];
        uint64_t ns[SVC_PHASES_MAX];
};

/* Starts the clock for one request of kind `call` ("run", "exec"). */
void svc_phases_start(struct svc_phases *p, const char *call);

/* The time since the last mark (or the start) belongs to `phase`. */
void svc_phases_mark(struct svc_phases *p, const char *phase);

/* Nanoseconds recorded for `phase` so far (0: none). */
uint64_t svc_phases_ns(const struct svc_phases *p, const char *phase);

/* Nanoseconds since the start, up to the last mark. */
uint64_t svc_phases_total_ns(const struct svc_phases *p);

/* The debug line ("phases": call, <phase>_us..., total_us) and, with a
 * family (a histogram with the labels call and phase), one observation per
 * phase and one for phase "total". */
void svc_phases_finish(const struct svc_phases *p, struct metric_family *hist);

#ifdef __cplusplus
}
#endif
