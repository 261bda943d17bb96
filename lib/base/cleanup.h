/* Scope-bound cleanup (systemd, crun, bubblewrap): a variable declared
 * `_cleanup_free_ char *p = NULL;` is freed when it goes out of scope;
 * TAKE_PTR(p) / TAKE_FD(fd) hand ownership on and leave NULL / -1 behind. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void ak_freep(void *p)
{
        free(*(void **)p);
}

static inline void ak_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(ak_freep)
#define _cleanup_close_ _cleanup_(ak_closep)

#define TAKE_PTR(p)                               \
        ({                                        \
                __typeof__(p) _taken_ = (p);      \
                (p) = NULL;                       \
                _taken_;                          \
        })

#define TAKE_FD(fd)                               \
        ({                                        \
                int _taken_ = (fd);               \
                (fd) = -1;                        \
                _taken_;                          \
        })

#define AK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
