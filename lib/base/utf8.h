/* UTF-8 units, shared by the reader (which refuses invalid ones) and the
 * writer (which replaces them under JSON_WRITER_LOSSY). Internal to lib/json.
 *
 * An invalid unit is a "maximal subpart" (Unicode ch. 3, "U+FFFD Substitution
 * of Maximal Subparts"): the longest prefix of a would-be sequence that is
 * still valid so far, or one byte. Rust's String::from_utf8_lossy, Python's
 * errors="replace" and the WHATWG decoder turn each into one U+FFFD. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Splits off the unit at s[0..len) (REQUIRES: len > 0): returns true for one
 * valid character (no overlong forms, surrogates or code points above
 * U+10FFFF), false for one maximal invalid subpart. *ret_len gets its length
 * in bytes, always 1..len. */
bool json_utf8_unit(const unsigned char *s, size_t len, size_t *ret_len);
