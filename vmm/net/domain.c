#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/net/domain.h"

bool domain_rule_like(const char *text)
{
        bool alpha = false;
        for (const char *p = text; *p; p++) {
                if (*p == ':' || *p == '/')
                        return false;
                if (isalpha((unsigned char)*p) || *p == '*')
                        alpha = true;
        }
        return alpha;
}

/* One label [s, s+len): 0 or -EINVAL with why. */
static int label_check(const char *s, size_t len, const char *text, struct ak_error *err)
{
        if (len == 0)
                return ak_error_set(err, -EINVAL, "%s: empty label (two dots in a row, or a leading or trailing "
                                    "dot); write names as example.com", text);
        if (len > 63)
                return ak_error_set(err, -EINVAL, "%s: a label longer than 63 characters", text);
        if (s[0] == '-' || s[len - 1] == '-')
                return ak_error_set(err, -EINVAL, "%s: a label starts or ends with '-'", text);
        for (size_t i = 0; i < len; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '-')
                        return ak_error_set(err, -EINVAL, "%s: '%c' is not allowed in a domain name (letters, "
                                            "digits and '-'; a wildcard only as a leading \"*.\")", text, s[i]);
        return 0;
}

int domain_rule_parse(const char *text, char *out, size_t size, struct ak_error *err)
{
        const char *p = text;
        size_t total = strlen(text);
        bool wild = false;
        int r;
        if (total == 0)
                return ak_error_set(err, -EINVAL, "an empty domain name");
        if (total > DOMAIN_MAX)
                return ak_error_set(err, -EINVAL, "%.40s...: longer than %d characters", text, DOMAIN_MAX);
        if (total + 1 > size)
                return ak_error_set(err, -ENAMETOOLONG, "%s: too long", text);
        if (strcmp(text, "*") == 0)
                return ak_error_set(err, -EINVAL, "*: a wildcard for every name; deny 0.0.0.0/0 and ::/0 and "
                                    "allow the names you want instead");
        if (strncmp(p, "*.", 2) == 0) {
                wild = true;
                p += 2;
        }
        size_t labels = 0;
        const char *last = p;
        for (const char *s = p;;) {
                const char *dot = strchr(s, '.');
                size_t len = dot ? (size_t)(dot - s) : strlen(s);
                if ((r = label_check(s, len, text, err)) < 0)
                        return r;
                labels++;
                last = s;
                if (!dot)
                        break;
                s = dot + 1;
        }
        if (labels < 2)
                return ak_error_set(err, -EINVAL, "%s: %s", text, wild ? "a wildcard over a whole top-level "
                                    "domain; name at least the registered domain (*.example.com)" :
                                    "a single label; name a full domain (example.com)");
        bool digits = true;
        for (const char *s = last; *s; s++)
                if (!isdigit((unsigned char)*s))
                        digits = false;
        if (digits)
                return ak_error_set(err, -EINVAL, "%s: the last label is all digits (an IPv4 address? write "
                                    "it as a CIDR)", text);
        for (size_t i = 0; i <= total; i++)
                out[i] = (char)tolower((unsigned char)text[i]);
        return 0;
}

bool domain_match(const char *rule, const char *name)
{
        if (strncmp(rule, "*.", 2) != 0)
                return strcmp(rule, name) == 0;
        const char *suffix = rule + 1; /* ".example.com" */
        size_t ls = strlen(suffix), ln = strlen(name);
        return ln > ls && strcmp(name + ln - ls, suffix) == 0;
}

bool domain_match_any(const char *const *rules, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (domain_match(rules[i], name))
                        return true;
        return false;
}
