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

/* A duration as digits and one unit, s, m, h or d ("30s", "10m", "1h",
 * "2d"; bare digits are seconds), in seconds, in [min_s, max_s]. Returns 0;
 * -EINVAL for anything else; -ERANGE when it overflows or lies outside. */
int ak_parse_duration_s(const char *s, uint64_t min_s, uint64_t max_s, uint64_t *ret);

#ifdef __cplusplus
}
#endif
