/* Registry, families and series; rendering is in render.c. */
#include "lib/metrics/metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utf8.h"
#include "lib/metrics/metrics_internal.h"

const double metrics_latency_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5,   1,      2.5,   5,    10,    30,    60,  120 };
const size_t metrics_n_latency_buckets = sizeof(metrics_latency_buckets) / sizeof(double);

static bool name_char(char c, bool first, bool colon)
{
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
                return true;
        if (colon && c == ':')
                return true;
        return !first && c >= '0' && c <= '9';
}

static bool valid_name(const char *s, bool colon)
{
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > METRICS_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!name_char(s[i], i == 0, colon))
                        return false;
        return true;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && !strcmp(s + n - m, suffix);
}

static int check_def(const struct metric_def *d, const char **why)
{
        if (!valid_name(d->name, true)) {
                *why = "metric name must match [a-zA-Z_:][a-zA-Z0-9_:]* (at most 128 bytes)";
                return -EINVAL;
        }
        if (d->type != METRIC_COUNTER && d->type != METRIC_GAUGE && d->type != METRIC_HISTOGRAM) {
                *why = "unknown metric type";
                return -EINVAL;
        }
        if (d->type == METRIC_COUNTER && !ends_with(d->name, "_total")) {
                *why = "a counter's name ends in _total";
                return -EINVAL;
        }
        if (d->n_labels > METRICS_MAX_LABELS || (d->n_labels && !d->labels)) {
                *why = "too many labels (at most 4)";
                return -EINVAL;
        }
        for (size_t i = 0; i < d->n_labels; i++) {
                const char *l = d->labels[i];
                if (!valid_name(l, false) || !strncmp(l, "__", 2) ||
                    (d->type == METRIC_HISTOGRAM && !strcmp(l, "le"))) {
                        *why = "label names match [a-zA-Z_][a-zA-Z0-9_]*, not __*, and not le on a histogram";
                        return -EINVAL;
                }
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(l, d->labels[j])) {
                                *why = "a label name appears twice";
                                return -EINVAL;
                        }
        }
        if (d->type != METRIC_HISTOGRAM)
                return 0;
        if (d->n_buckets == 0 || d->n_buckets > METRICS_MAX_BUCKETS || !d->buckets) {
                *why = "a histogram has 1 to 24 bucket bounds";
                return -EINVAL;
        }
        for (size_t i = 0; i < d->n_buckets; i++)
                if (!isfinite(d->buckets[i]) || (i && d->buckets[i] <= d->buckets[i - 1])) {
                        *why = "bucket bounds are finite and strictly increasing";
                        return -EINVAL;
                }
        return 0;
}

static bool same_def(const struct metric_family *f, const struct metric_def *d)
{
        if (f->type != d->type || f->n_labels != d->n_labels || f->n_buckets != d->n_buckets)
                return false;
        for (size_t i = 0; i < d->n_labels; i++)
                if (strcmp(f->labels[i], d->labels[i]))
                        return false;
        for (size_t i = 0; i < d->n_buckets; i++)
                if (f->buckets[i] != d->buckets[i])
                        return false;
        return true;
}

static void series_free(struct metric_series *s)
{
        for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
                free(s->values[i]);
        free(s);
}

static void family_free(struct metric_family *f)
{
        if (!f)
                return;
        struct metric_series *s = atomic_load(&f->first);
        while (s) {
                struct metric_series *next = atomic_load(&s->next);
                series_free(s);
                s = next;
        }
        for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
                free(f->labels[i]);
        free(f->name);
        free(f->help);
        pthread_mutex_destroy(&f->lock);
        free(f);
}

static struct metric_series *series_new(struct metric_family *f, const char *const *values)
{
        size_t nb = f->type == METRIC_HISTOGRAM ? f->n_buckets + 1 : 0;
        struct metric_series *s = calloc(1, sizeof(*s) + nb * sizeof(s->buckets[0]));
        if (!s)
                return NULL;
        s->family = f;
        for (size_t i = 0; i < f->n_labels; i++) {
                const char *v = values && values[i] ? values[i] : "";
                s->values[i] = strndup(v, METRICS_VALUE_MAX);
                if (!s->values[i]) {
                        series_free(s);
                        return NULL;
                }
                utf8_sanitize_str(s->values[i]);
        }
        return s;
}

/* FNV-1a over the values as stored (cut to METRICS_VALUE_MAX), with a
 * separator so ("ab","c") and ("a","bc") differ. */
static uint64_t values_hash(size_t n, const char *const *values)
{
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < n; i++) {
                const char *v = values && values[i] ? values[i] : "";
                for (size_t k = 0; k < METRICS_VALUE_MAX && v[k]; k++)
                        h = (h ^ (unsigned char)v[k]) * 0x100000001b3ull;
                h = (h ^ 0xff) * 0x100000001b3ull;
        }
        return h;
}

static bool series_matches(const struct metric_series *s, const char *const *values)
{
        for (size_t i = 0; i < s->family->n_labels; i++) {
                const char *v = values && values[i] ? values[i] : "";
                if (strncmp(s->values[i], v, METRICS_VALUE_MAX))
                        return false;
        }
        return true;
}

struct metric_series *metrics_series(struct metric_family *f, const char *const *values)
{
        if (!f)
                return NULL;
        uint64_t h = values_hash(f->n_labels, values);
        pthread_mutex_lock(&f->lock);
        struct metric_series *s;
        for (s = atomic_load(&f->first); s; s = atomic_load(&s->next))
                if (s->hash == h && series_matches(s, values))
                        goto out;
        if (f->n_series >= f->max_series || !(s = series_new(f, values))) {
                s = NULL;
                if (f->reg->dropped)
                        metrics_add(f->reg->dropped, 1);
                goto out;
        }
        s->hash = h;
        /* Appended last, published by the atomic store: render walks the
         * list without the lock. */
        if (f->tail)
                atomic_store(&f->tail->next, s);
        else
                atomic_store(&f->first, s);
        f->tail = s;
        f->n_series++;
out:
        pthread_mutex_unlock(&f->lock);
        return s;
}

struct metric_series *metrics_series0(struct metric_family *f)
{
        return metrics_series(f, NULL);
}

static void add_bits(_Atomic uint64_t *bits, double n)
{
        uint64_t old = atomic_load_explicit(bits, memory_order_relaxed), next;
        do {
                double v;
                memcpy(&v, &old, sizeof(v));
                v += n;
                memcpy(&next, &v, sizeof(next));
        } while (!atomic_compare_exchange_weak_explicit(bits, &old, next, memory_order_relaxed,
                                                        memory_order_relaxed));
}

double metrics_bits_value(const _Atomic uint64_t *bits)
{
        uint64_t b = atomic_load_explicit((_Atomic uint64_t *)bits, memory_order_relaxed);
        double v;
        memcpy(&v, &b, sizeof(v));
        return v;
}

void metrics_add(struct metric_series *s, double n)
{
        if (!s || s->family->type == METRIC_HISTOGRAM || isnan(n))
                return;
        if (s->family->type == METRIC_COUNTER && n < 0)
                return;
        add_bits(&s->bits, n);
}

void metrics_set(struct metric_series *s, double v)
{
        if (!s || s->family->type == METRIC_HISTOGRAM)
                return;
        uint64_t b;
        memcpy(&b, &v, sizeof(b));
        atomic_store_explicit(&s->bits, b, memory_order_relaxed);
}

void metrics_observe(struct metric_series *s, double v)
{
        if (!s || s->family->type != METRIC_HISTOGRAM || isnan(v))
                return;
        const struct metric_family *f = s->family;
        size_t i = 0;
        while (i < f->n_buckets && v > f->buckets[i])
                i++;
        /* Per-bucket counts (not cumulative): render sums them. */
        atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
        add_bits(&s->bits, v);
        atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

double metrics_value(const struct metric_series *s)
{
        if (!s)
                return 0;
        if (s->family->type == METRIC_HISTOGRAM)
                return (double)atomic_load(&((struct metric_series *)s)->count);
        return metrics_bits_value(&s->bits);
}

void metrics_family_zero(struct metric_family *f)
{
        if (!f || f->type != METRIC_GAUGE)
                return;
        for (struct metric_series *s = atomic_load(&f->first); s; s = atomic_load(&s->next))
                metrics_set(s, 0);
}

static struct metric_family *family_new(struct metrics_registry *reg, const struct metric_def *d)
{
        struct metric_family *f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        pthread_mutex_init(&f->lock, NULL);
        f->reg = reg;
        f->type = d->type;
        f->n_labels = d->n_labels;
        f->n_buckets = d->type == METRIC_HISTOGRAM ? d->n_buckets : 0;
        if (f->n_buckets)
                memcpy(f->buckets, d->buckets, f->n_buckets * sizeof(double));
        for (size_t i = 0; i < f->n_buckets; i++)
                metrics_format_double(f->buckets[i], f->le[i], sizeof(f->le[i]));
        snprintf(f->le[f->n_buckets], sizeof(f->le[0]), "+Inf");
        f->max_series = d->max_series ? d->max_series : METRICS_DEFAULT_MAX_SERIES;
        f->name = strdup(d->name);
        f->help = strdup(d->help ? d->help : "");
        bool ok = f->name && f->help;
        for (size_t i = 0; i < d->n_labels; i++)
                ok = ok && (f->labels[i] = strdup(d->labels[i]));
        if (!ok || (d->n_labels == 0 && !metrics_series0(f))) {
                family_free(f);
                return NULL;
        }
        if (f->help)
                utf8_sanitize_str(f->help);
        return f;
}

int metrics_register(struct metrics_registry *reg, const struct metric_def *def,
                     struct metric_family **ret, const char **ret_why)
{
        const char *why = NULL;
        int r = 0;

        if (!reg || !def)
                return -EINVAL;
        if ((r = check_def(def, &why)) < 0)
                goto out;
        pthread_mutex_lock(&reg->lock);
        struct metric_family *f = NULL;
        for (size_t i = 0; i < reg->n_families; i++)
                if (!strcmp(reg->families[i]->name, def->name)) {
                        f = reg->families[i];
                        break;
                }
        if (f && !same_def(f, def)) {
                why = "the name is registered with another type, labels or buckets";
                r = -EEXIST;
        } else if (!f && reg->n_families >= METRICS_MAX_FAMILIES) {
                why = "too many metric families";
                r = -ENOSPC;
        } else if (!f) {
                if ((f = family_new(reg, def)))
                        reg->families[reg->n_families++] = f;
                else
                        r = -ENOMEM;
        }
        pthread_mutex_unlock(&reg->lock);
        if (r == 0 && ret)
                *ret = f;
out:
        if (ret_why)
                *ret_why = why;
        return r;
}

int metrics_registry_new(struct metrics_registry **ret)
{
        struct metrics_registry *reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        pthread_mutex_init(&reg->lock, NULL);
        pthread_mutex_init(&reg->collect_lock, NULL);
        static const struct metric_def dropped = {
                .name = "ak_metrics_series_dropped_total",
                .help = "Label combinations refused because their family reached its series limit.",
                .type = METRIC_COUNTER,
        };
        struct metric_family *f;
        if (metrics_register(reg, &dropped, &f, NULL) < 0) {
                metrics_registry_free(reg);
                return -ENOMEM;
        }
        reg->dropped = metrics_series0(f);
        *ret = reg;
        return 0;
}

void metrics_registry_free(struct metrics_registry *reg)
{
        if (!reg)
                return;
        for (size_t i = 0; i < reg->n_families; i++)
                family_free(reg->families[i]);
        pthread_mutex_destroy(&reg->lock);
        pthread_mutex_destroy(&reg->collect_lock);
        free(reg);
}

static struct metrics_registry *default_reg;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
        if (metrics_registry_new(&default_reg) < 0)
                abort(); /* out of memory before main's work began */
}

struct metrics_registry *metrics_default(void)
{
        pthread_once(&default_once, default_init);
        return default_reg;
}

int metrics_add_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *data)
{
        int r = -ENOSPC;
        pthread_mutex_lock(&reg->collect_lock);
        if (reg->n_collectors < METRICS_MAX_COLLECTORS) {
                reg->collectors[reg->n_collectors].fn = fn;
                reg->collectors[reg->n_collectors].data = data;
                reg->n_collectors++;
                r = 0;
        }
        pthread_mutex_unlock(&reg->collect_lock);
        return r;
}

void metrics_remove_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *data)
{
        pthread_mutex_lock(&reg->collect_lock);
        size_t k = 0;
        for (size_t i = 0; i < reg->n_collectors; i++)
                if (reg->collectors[i].fn != fn || reg->collectors[i].data != data)
                        reg->collectors[k++] = reg->collectors[i];
        reg->n_collectors = k;
        pthread_mutex_unlock(&reg->collect_lock);
}
