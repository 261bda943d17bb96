/* snprintf for paths: 0, or -ENAMETOOLONG when the result did not fit
 * (buf then holds a truncated string that must not be used). */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

__attribute__((format(printf, 3, 4))) static inline int pathfmt(char *buf, size_t size, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
