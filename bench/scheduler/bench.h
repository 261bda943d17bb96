/* bench/scheduler: shared helpers of the placement and forwarding benches. */
#pragma once

#include <stddef.h>
#include <stdint.h>

extern double bench_seconds;

struct samples {
        uint64_t *v;
        size_t n, cap;
};

void samples_add(struct samples *s, uint64_t x);
/* Sorts, then the q-quantile (0..1) in microseconds. */
double samples_us(struct samples *s, double q);
void samples_free(struct samples *s);

int bench_placement(void);
int bench_forward(void);
