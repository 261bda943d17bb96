/* Domain names in a sandbox's egress rules (SandboxSpec.egress): validation
 * and matching. A rule is an exact name ("example.com") or a wildcard
 * ("*.example.com": any name under example.com, not example.com itself).
 *
 * Pure functions, thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DOMAIN_MAX 253 /* a name's text, without the trailing dot */

/* Whether text is meant as a domain rule rather than a CIDR: it has a letter
 * or a '*' and no ':' or '/' (an IPv6 address has ':', a CIDR '/'). */
bool domain_rule_like(const char *text);

/* Checks a domain rule and writes it lowercased into out (>= DOMAIN_MAX+1):
 * RFC 1123 labels (letters, digits, '-' not at either end, 1..63 chars),
 * at most DOMAIN_MAX chars, no trailing dot, no empty label, at least two
 * labels; a wildcard only as the whole first label ("*.") and with at least
 * two labels after it ("*.com" would be a whole top-level domain). An
 * all-digit last label is refused (it reads as an IPv4 address). 0, or
 * -EINVAL with err saying what is wrong with text. */
int domain_rule_parse(const char *text, char *out, size_t size, struct ak_error *err);

/* Whether name (lowercase, no trailing dot) matches the canonical rule. */
bool domain_match(const char *rule, const char *name);

/* Whether name matches any of rules[0..n). */
bool domain_match_any(const char *const *rules, size_t n, const char *name);

#ifdef __cplusplus
}
#endif
