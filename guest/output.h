/* Fitting command output into one frame. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Chooses how much of out[0..out_len) and err[0..err_len) to keep so that
 * their two JSON strings (written with PROTO_JSON_FLAGS, quotes included)
 * together take at most budget bytes. A stream that fits in half the budget
 * is kept whole and the other gets the rest. Cuts fall on UTF-8 unit
 * boundaries, so each kept prefix converts exactly as the start of the whole
 * would. Returns true when anything was cut. budget must be at least 4 (two
 * empty strings). */
bool output_fit(const void *out, size_t out_len, const void *err, size_t err_len, size_t budget,
                size_t *ret_out_len, size_t *ret_err_len);
