#include <errno.h>
#include <stdlib.h>

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
