/* Integer parsing for flags, environment variables and config values.
 *
 * Accepted: one or more decimal digits and nothing else (no sign, no leading
 * or trailing space, no "0x"). The result is written only on success. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* s as an unsigned decimal in [min, max]. Returns 0; -EINVAL when s is NULL,
 * empty or not all digits; -ERANGE when the value overflows or lies outside
 * [min, max]. */
int ak_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* The same for an unsigned int (max must fit one). */
int ak_parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret);

/* A duration: digits with one unit, s, m, h or d ("30s", "10m", "1h",
 * "2d"); digits alone are seconds. In [min_s, max_s] seconds. Returns 0;
 * -EINVAL for anything else (no sign, no space, no fractions, one unit);
 * -ERANGE when it overflows or lies outside the range. */
int ak_parse_duration(const char *s, uint64_t min_s, uint64_t max_s, uint64_t *ret_s);

/* A memory size in MiB, docker style: digits with an optional unit k, m, g
 * or t (any case, optionally followed by "b" or "ib": 512m, 1g, 2GiB, 1024k);
 * digits alone are MiB (agentkernel's memory_mb). Sizes under one MiB or
 * not a whole number of MiB are -EINVAL; outside [min_mb, max_mb] -ERANGE. */
int ak_parse_memory_mb(const char *s, uint64_t min_mb, uint64_t max_mb, uint64_t *ret_mb);

#ifdef __cplusplus
}
#endif
