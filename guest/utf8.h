/* UTF-8 scanning with the "substitution of maximal subparts" rule.
 *
 * Rust's String::from_utf8_lossy (which agentkernel's guest applies to command
 * output) replaces each maximal invalid subsequence with one U+FFFD, as the
 * Unicode standard (ch. 3, "U+FFFD Substitution of Maximal Subparts") and
 * WHATWG's decoder do. utf8_unit() splits bytes into the units that rule works
 * on, so callers can convert, measure and cut on unit boundaries. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length in bytes of the unit at s[0..len) (len > 0): either one valid
 * character (returns true) or one maximal invalid subpart that becomes one
 * U+FFFD (returns false). The length is always >= 1 and <= len. */
bool utf8_unit(const uint8_t *s, size_t len, size_t *ret_unit_len);

/* True when s[0..len) is entirely valid UTF-8. */
bool utf8_valid(const void *s, size_t len);
