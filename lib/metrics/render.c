/* Text exposition format 0.0.4:
 * https://prometheus.io/docs/instrumenting/exposition_formats/ */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/metrics/metrics_internal.h"

struct buf {
        char *p;
        size_t len, cap;
        bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
        if (b->oom)
                return;
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                while (b->len + n + 1 > cap)
                        cap *= 2;
                char *p = realloc(b->p, cap);
                if (!p) {
                        b->oom = true;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
        put(b, s, strlen(s));
}

/* HELP escapes \ and newline; label values also escape ". */
static void put_escaped(struct buf *b, const char *s, bool quote)
{
        const char *run = s;
        for (; *s; s++) {
                const char *esc = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : quote && *s == '"' ? "\\\"" : NULL;
                if (!esc)
                        continue;
                put(b, run, (size_t)(s - run));
                puts_(b, esc);
                run = s + 1;
        }
        put(b, run, (size_t)(s - run));
}

/* Digits of v, backwards from end; returns the first. */
static char *u64_digits(uint64_t v, char *end)
{
        *--end = '\0';
        do {
                *--end = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        return end;
}

size_t metrics_format_double(double v, char *buf, size_t size)
{
        int n;
        if (isnan(v))
                n = snprintf(buf, size, "NaN");
        else if (isinf(v))
                n = snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
        else if (v == (double)(int64_t)v && fabs(v) < 9007199254740992.0) {
                /* Whole numbers (counts, bytes, most gauges): no printf. */
                char tmp[24], *d = u64_digits((uint64_t)(v < 0 ? -v : v), tmp + sizeof(tmp));
                n = snprintf(buf, size, "%s%s", v < 0 ? "-" : "", d);
        } else {
                /* Shortest of %.15g/%.17g that reads back as v. */
                n = snprintf(buf, size, "%.15g", v);
                if (strtod(buf, NULL) != v)
                        n = snprintf(buf, size, "%.17g", v);
        }
        return n > 0 ? (size_t)n : 0;
}

static void put_double(struct buf *b, double v)
{
        char s[40];
        put(b, s, metrics_format_double(v, s, sizeof(s)));
}

static void put_u64(struct buf *b, uint64_t v)
{
        char s[24];
        puts_(b, u64_digits(v, s + sizeof(s)));
}

/* name{l1="v1",...[,le="x"]} */
static void put_sample_name(struct buf *b, const struct metric_series *s, const char *suffix,
                            const char *le)
{
        const struct metric_family *f = s->family;
        puts_(b, f->name);
        puts_(b, suffix);
        if (f->n_labels == 0 && !le)
                return;
        puts_(b, "{");
        for (size_t i = 0; i < f->n_labels; i++) {
                if (i)
                        puts_(b, ",");
                puts_(b, f->labels[i]);
                puts_(b, "=\"");
                put_escaped(b, s->values[i], true);
                puts_(b, "\"");
        }
        if (le) {
                puts_(b, f->n_labels ? ",le=\"" : "le=\"");
                puts_(b, le);
                puts_(b, "\"");
        }
        puts_(b, "}");
}

static void render_histogram(struct buf *b, struct metric_series *s)
{
        const struct metric_family *f = s->family;
        uint64_t cum = 0;
        for (size_t i = 0; i <= f->n_buckets; i++) {
                cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
                put_sample_name(b, s, "_bucket", f->le[i]);
                puts_(b, " ");
                put_u64(b, cum);
                puts_(b, "\n");
        }
        put_sample_name(b, s, "_sum", NULL);
        puts_(b, " ");
        put_double(b, metrics_bits_value(&s->bits));
        puts_(b, "\n");
        /* The count is the +Inf bucket, so the two always agree. */
        put_sample_name(b, s, "_count", NULL);
        puts_(b, " ");
        put_u64(b, cum);
        puts_(b, "\n");
}

static void render_family(struct buf *b, struct metric_family *f)
{
        static const char *const types[] = { "counter", "gauge", "histogram" };
        puts_(b, "# HELP ");
        puts_(b, f->name);
        puts_(b, " ");
        put_escaped(b, f->help, false);
        puts_(b, "\n# TYPE ");
        puts_(b, f->name);
        puts_(b, " ");
        puts_(b, types[f->type]);
        puts_(b, "\n");
        for (struct metric_series *s = atomic_load(&f->first); s; s = atomic_load(&s->next)) {
                if (f->type == METRIC_HISTOGRAM) {
                        render_histogram(b, s);
                        continue;
                }
                put_sample_name(b, s, "", NULL);
                puts_(b, " ");
                put_double(b, metrics_bits_value(&s->bits));
                puts_(b, "\n");
        }
}

int metrics_render(struct metrics_registry *reg, char **ret, size_t *ret_len)
{
        struct buf b = { 0 };

        pthread_mutex_lock(&reg->collect_lock);
        for (size_t i = 0; i < reg->n_collectors; i++)
                reg->collectors[i].fn(reg->collectors[i].data);
        pthread_mutex_unlock(&reg->collect_lock);

        pthread_mutex_lock(&reg->lock);
        size_t n = reg->n_families;
        pthread_mutex_unlock(&reg->lock);
        for (size_t i = 0; i < n; i++)
                render_family(&b, reg->families[i]);
        put(&b, "", 0);
        if (b.oom) {
                free(b.p);
                return -ENOMEM;
        }
        *ret = b.p;
        *ret_len = b.len;
        return 0;
}
