#include "lib/base/error.h"

#include <stdio.h>
#include <string.h>

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
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        char old[AK_ERROR_MAX];
        memcpy(old, err->msg, sizeof(old));
        snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
        return err->code;
}

void ak_error_clear(struct ak_error *err)
{
        if (!err)
                return;
        err->code = 0;
        err->msg[0] = '\0';
}
