#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/base/parse.h"

int ak_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
        unsigned long long v;
        char *end;

        /* strtoull alone would take leading space, a sign (even "-1") and
         * an empty string. */
        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (*end)
                return -EINVAL;
        if (errno == ERANGE || v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int ak_parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        uint64_t v;
        int r = ak_parse_u64(s, min, max, &v);

        if (r < 0)
                return r;
        *ret = (unsigned)v;
        return 0;
}

/* Splits s into its leading digits (parsed) and the rest. */
static int digits_then_unit(const char *s, uint64_t *ret_n, const char **ret_unit)
{
        unsigned long long v;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        *ret_n = v;
        *ret_unit = end;
        return 0;
}

int ak_parse_duration(const char *s, uint64_t min_s, uint64_t max_s, uint64_t *ret_s)
{
        uint64_t n, mul;
        const char *unit;
        int r = digits_then_unit(s, &n, &unit);

        if (r < 0)
                return r;
        if (unit[0] && unit[1])
                return -EINVAL;
        switch (unit[0]) {
        case 0:
        case 's': mul = 1; break;
        case 'm': mul = 60; break;
        case 'h': mul = 3600; break;
        case 'd': mul = 86400; break;
        default: return -EINVAL;
        }
        if (n > UINT64_MAX / mul)
                return -ERANGE;
        n *= mul;
        if (n < min_s || n > max_s)
                return -ERANGE;
        *ret_s = n;
        return 0;
}

int ak_parse_memory_mb(const char *s, uint64_t min_mb, uint64_t max_mb, uint64_t *ret_mb)
{
        uint64_t n;
        const char *unit;
        int r = digits_then_unit(s, &n, &unit);
        unsigned shift; /* the unit in KiB, as a power of two */

        if (r < 0)
                return r;
        switch (unit[0] ? unit[0] | 0x20 : 'm') { /* digits alone are MiB */
        case 'k': shift = 0; break;
        case 'm': shift = 10; break;
        case 'g': shift = 20; break;
        case 't': shift = 30; break;
        default: return -EINVAL;
        }
        if (unit[0]) {
                const char *rest = unit + 1;
                if (strcasecmp(rest, "") != 0 && strcasecmp(rest, "b") != 0 && strcasecmp(rest, "ib") != 0)
                        return -EINVAL;
        }
        if (n > (UINT64_MAX >> 30))
                return -ERANGE;
        uint64_t kib = n << shift;
        if (kib % 1024 != 0)
                return -EINVAL;
        n = kib / 1024;
        if (n < min_mb || n > max_mb)
                return -ERANGE;
        *ret_mb = n;
        return 0;
}
