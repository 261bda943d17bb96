/* Shared between lib/metrics' files; nothing outside lib/metrics includes this. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "lib/metrics/metrics.h"

#define METRICS_MAX_COLLECTORS 32

struct metric_series {
        struct metric_family *family;
        char *values[METRICS_MAX_LABELS];       /* n_labels of them, UTF-8 */
        _Atomic(struct metric_series *) next;   /* creation order */
        uint64_t hash;                          /* of the values (metrics_values_hash) */
        _Atomic uint64_t bits;                  /* the value, or a histogram's sum (double) */
        _Atomic uint64_t count;                 /* histograms: observations */
        _Atomic uint64_t buckets[];             /* histograms: n_buckets + 1, not cumulative */
};

struct metric_family {
        struct metrics_registry *reg;
        char *name, *help;
        enum metric_type type;
        char *labels[METRICS_MAX_LABELS];
        size_t n_labels;
        double buckets[METRICS_MAX_BUCKETS];
        char le[METRICS_MAX_BUCKETS + 1][32];   /* the bounds as rendered, "+Inf" last */
        size_t n_buckets;
        unsigned max_series;

        pthread_mutex_t lock;                   /* creating series */
        _Atomic(struct metric_series *) first;  /* read without the lock */
        struct metric_series *tail;
        unsigned n_series;
};

struct metrics_registry {
        pthread_mutex_t lock;                   /* registering families */
        struct metric_family *families[METRICS_MAX_FAMILIES];
        size_t n_families;                      /* entries below it never change */
        struct metric_series *dropped;

        pthread_mutex_t collect_lock;           /* held while collectors run */
        struct {
                metrics_collect_fn fn;
                void *data;
        } collectors[METRICS_MAX_COLLECTORS];
        size_t n_collectors;
};

double metrics_bits_value(const _Atomic uint64_t *bits);

/* v as the exposition format spells it (shortest form that reads back,
 * "+Inf", "-Inf", "NaN") into buf[size >= 32]; returns its length. */
size_t metrics_format_double(double v, char *buf, size_t size);
