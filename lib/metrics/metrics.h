/* lib/metrics: counters, gauges and histograms with a bounded set of label
 * values, rendered in Prometheus' text exposition format 0.0.4.
 *
 * Model: a registry holds families (one name, one HELP, one TYPE, a fixed
 * list of label names and, for histograms, fixed bucket bounds). A family
 * holds series, one per combination of label values, created on first use
 * and never freed before the registry is. A family takes at most its
 * max_series combinations: past that, metrics_series returns NULL (every
 * update function takes NULL and does nothing) and the registry counts the
 * refusal in ak_metrics_series_dropped_total, so a label fed from outside
 * input cannot grow memory or scrape cost without bound.
 *
 * Names follow Prometheus' conventions and are checked at registration:
 * [a-zA-Z_:][a-zA-Z0-9_:]*, a counter's name ends in "_total", label names
 * are [a-zA-Z_][a-zA-Z0-9_]* and never start with "__", and a histogram has
 * no label "le". Values are in base units (seconds, bytes).
 *
 * Thread-safety: everything is safe from any thread. Updates to a series are
 * lock-free atomics; finding a series takes the family's mutex for a short
 * search (cache the pointer where the label values are fixed). Rendering
 * runs the collectors, then reads every value without stopping writers: a
 * histogram read during an observe may be off by that one observation
 * between its buckets and its count, which Prometheus tolerates. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 24
#define METRICS_NAME_MAX 128
#define METRICS_VALUE_MAX 128      /* one label value, longer ones are cut */
#define METRICS_MAX_FAMILIES 256
#define METRICS_DEFAULT_MAX_SERIES 256

enum metric_type {
        METRIC_COUNTER,
        METRIC_GAUGE,
        METRIC_HISTOGRAM,
};

struct metrics_registry;
struct metric_family;
struct metric_series;

struct metric_def {
        const char *name;
        const char *help;
        enum metric_type type;
        /* Label names, n_labels of them (at most METRICS_MAX_LABELS). */
        const char *const *labels;
        size_t n_labels;
        /* Histograms: upper bounds, strictly increasing, finite, at most
         * METRICS_MAX_BUCKETS; "+Inf" is added. */
        const double *buckets;
        size_t n_buckets;
        /* 0: METRICS_DEFAULT_MAX_SERIES. */
        unsigned max_series;
};

/* Bucket bounds in seconds for latencies from a millisecond to minutes. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_n_latency_buckets;

int metrics_registry_new(struct metrics_registry **ret);
/* NULL is a no-op. REQUIRES: no other thread uses it or a series of it. */
void metrics_registry_free(struct metrics_registry *reg);

/* The process's registry, created on first use and never freed: what lib/rpc
 * and the services record into and what --metrics-listen serves. */
struct metrics_registry *metrics_default(void);

/* Registers a family, or returns the one already registered under that name
 * when its definition is the same (type, labels, buckets): two modules may
 * both ask. Returns 0; -EINVAL for a bad name, label or bucket list (why in
 * *ret_why when non-NULL, static text); -EEXIST when the name is taken by a
 * different definition; -ENOSPC past METRICS_MAX_FAMILIES; -ENOMEM. The
 * family lives as long as the registry. */
int metrics_register(struct metrics_registry *reg, const struct metric_def *def,
                     struct metric_family **ret, const char **ret_why);

/* The series for these label values (n_labels of them, in the family's
 * order; NULL values read as ""), created at 0 on first use. NULL when the
 * family is NULL, the values do not match, or max_series is reached. */
struct metric_series *metrics_series(struct metric_family *f, const char *const *values);
/* The same for a family without labels. */
struct metric_series *metrics_series0(struct metric_family *f);

/* Counters: add n (>= 0). Gauges: add or set (any sign). Histograms:
 * observe one value. Calls of the wrong kind for the family are ignored.
 * NULL series: no-op. metrics_set on a counter is for collectors that
 * mirror a count kept elsewhere (a pool's hits): the caller keeps it
 * monotonic. */
void metrics_add(struct metric_series *s, double n);
void metrics_set(struct metric_series *s, double v);
void metrics_observe(struct metric_series *s, double v);

/* Every series of a gauge family back to 0 (a collector that sets
 * "sandboxes by state" calls this first so states that emptied read 0). */
void metrics_family_zero(struct metric_family *f);

/* A function run at the start of every render, to set gauges that are read
 * from state rather than counted (sandboxes by state, queue length). It
 * runs on the rendering thread, must not render, and must stay until
 * metrics_remove_collector (or the registry's end). Returns 0, -ENOSPC past
 * 32 collectors. */
typedef void (*metrics_collect_fn)(void *data);
int metrics_add_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *data);
/* Removes every registration of (fn, data); waits for a render that runs it. */
void metrics_remove_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *data);

/* The whole registry in text format 0.0.4 into a new NUL-terminated buffer
 * (*ret, freed by the caller; its length in *ret_len). Returns 0 or
 * -ENOMEM. Families appear in registration order, series in creation
 * order. */
int metrics_render(struct metrics_registry *reg, char **ret, size_t *ret_len);

/* The current value of a counter or gauge series, the count of a histogram
 * series (tests and collectors). 0 for NULL. */
double metrics_value(const struct metric_series *s);

/* The content type /metrics answers with. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#ifdef __cplusplus
}
#endif
