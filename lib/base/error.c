#include "lib/base/error.h"

#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 0)))
static void error_vset(struct ak_error *err, int code, const char *fmt, va_list ap)
{
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        if (!err->msg[0])
                snprintf(err->msg, sizeof(err->msg), "error %d", code);
}

int ak_error_set(struct ak_error *err, int code, const char *fmt, ...)
{
        if (!err)
                return code;
        va_list ap;
        va_start(ap, fmt);
        error_vset(err, code, fmt, ap);
        va_end(ap);
        return code;
}

int ak_error_errno(struct ak_error *err, int code, const char *fmt, ...)
{
        if (!err)
                return code;
        va_list ap;
        va_start(ap, fmt);
        error_vset(err, code, fmt, ap);
        va_end(ap);
        if (code < 0) {
                size_t n = strlen(err->msg);
                snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(-code));
        }
        return code;
}

int ak_error_wrap(struct ak_error *err, const char *fmt, ...)
{
        if (!err)
                return 0;
        char prefix[AK_ERROR_MAX];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        size_t plen = n < 0 ? 0 : strlen(prefix);
        size_t room = sizeof(err->msg) - 1;
        size_t head = plen + 2 < room ? plen + 2 : room;     /* "prefix: " cut to fit */
        size_t keep = strnlen(err->msg, room);
        if (keep > room - head)
                keep = room - head;
        memmove(err->msg + head, err->msg, keep);
        memcpy(err->msg, prefix, head < plen ? head : plen);
        if (head > plen)
                memcpy(err->msg + plen, ": ", head - plen);
        err->msg[head + keep] = '\0';
        return err->code;
}

void ak_error_clear(struct ak_error *err)
{
        if (!err)
                return;
        err->code = 0;
        err->msg[0] = '\0';
}
