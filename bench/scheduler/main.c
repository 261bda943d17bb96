/* bench/scheduler: placement decisions per second over simulated fleets, and
 * what forwarding through the scheduler adds to a call, each beside a
 * baseline measured in the same run.
 *
 *   bazel run -c opt //bench/scheduler -- [--seconds N] [--only placement|forward] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/scheduler/bench.h"

double bench_seconds = 2.0;

void samples_add(struct samples *s, uint64_t x)
{
        if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 4096;
                s->v = realloc(s->v, s->cap * sizeof(*s->v));
                if (!s->v)
                        abort();
        }
        s->v[s->n++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

double samples_us(struct samples *s, double q)
{
        if (s->n == 0)
                return 0;
        qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
        size_t i = (size_t)(q * (double)(s->n - 1));
        return (double)s->v[i] / 1000.0;
}

void samples_free(struct samples *s)
{
        free(s->v);
        s->v = NULL;
        s->n = s->cap = 0;
}

int main(int argc, char **argv)
{
        const char *only = NULL;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
                        bench_seconds = atof(argv[++i]);
                } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
                        only = argv[++i];
                } else {
                        fprintf(stderr, "usage: %s [--seconds N] [--only placement|forward]\n", argv[0]);
                        return 2;
                }
        }
        if (bench_seconds <= 0 || bench_seconds > 600) {
                fprintf(stderr, "--seconds: want (0, 600]\n");
                return 2;
        }
        int rc = 0;
        if (!only || strcmp(only, "placement") == 0)
                rc |= bench_placement();
        if (!only || strcmp(only, "forward") == 0)
                rc |= bench_forward();
        return rc;
}
