#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int ak_parse_duration_s(const char *s, uint64_t min_s, uint64_t max_s, uint64_t *ret)
{
        char digits[24];
        uint64_t v, unit = 1;

        if (!s)
                return -EINVAL;
        size_t n = strlen(s);
        if (n && (s[n - 1] < '0' || s[n - 1] > '9')) {
                switch (s[--n]) {
                case 's': unit = 1; break;
                case 'm': unit = 60; break;
                case 'h': unit = 3600; break;
                case 'd': unit = 86400; break;
                default: return -EINVAL;
                }
        }
        if (n == 0)
                return -EINVAL;
        if (n >= sizeof(digits))
                return -ERANGE;
        memcpy(digits, s, n);
        digits[n] = 0;
        int r = ak_parse_u64(digits, 0, UINT64_MAX / unit, &v);
        if (r < 0)
                return r;
        v *= unit;
        if (v < min_s || v > max_s)
                return -ERANGE;
        *ret = v;
        return 0;
}
