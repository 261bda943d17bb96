/* UTF-8 units: the one scanner in the tree. lib/json's reader refuses
 * invalid ones, its writer replaces them (JSON_WRITER_LOSSY), lib/rpc refuses
 * requests whose strings are not UTF-8.
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
bool utf8_unit(const unsigned char *s, size_t len, size_t *ret_len);

/* True when all of s[0..len) is valid UTF-8. */
bool utf8_valid(const void *s, size_t len);

/* Makes text from a hostile source (a guest's error message, its console)
 * safe for a terminal, a log line or a status message, in place: drops
 * every control character but \n and \t — C0 (0x00..0x1f, so ESC and CR),
 * DEL (0x7f) and C1 (U+0080..U+009F, whose CSI starts escape sequences on
 * some terminals) — and turns each invalid UTF-8 unit (a lone 0x9b is CSI
 * on 8-bit terminals) into '?'. Reads s[0..len), which may hold NULs;
 * returns the new length (<= len) and NUL-terminates s at it, so s needs
 * len + 1 bytes. */
size_t utf8_sanitize(char *s, size_t len);

/* utf8_sanitize on a NUL-terminated string; returns s. NULL is returned
 * as is. */
char *utf8_sanitize_str(char *s);
