/* Running a helper program (apt-get, dpkg-deb, depmod, debootstrap,
 * mkfs.ext4) to completion: posix_spawn in its own process group, stdin
 * from /dev/null, stdout+stderr captured (the last max_output bytes kept,
 * and each line handed to on_line for progress), an optional deadline
 * after which the whole group is killed. The child is always reaped.
 *
 * Safe in a multi-threaded process (posix_spawn, no fork). */
#pragma once

#include <stddef.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct proc_opts {
        const char *const *argv;    /* argv[0] is looked up with proc_which */
        const char *cwd;            /* NULL: the caller's */
        int timeout_ms;             /* <= 0: none */
        size_t max_output;          /* 0: 64 KiB */
        /* Each output line without its newline (long lines are cut). */
        void (*on_line)(void *userdata, const char *line);
        void *userdata;
};

/* Runs it. Returns 0 with *ret_status (the exit code, or 128 + signal
 * number) and, if ret_output is non-NULL, the kept output (malloc'd,
 * NUL-terminated). -ENOENT when the program is not found (err says which),
 * -ETIMEDOUT when the deadline passed (the group was killed), another
 * -errno when it could not be started. */
int proc_run(const struct proc_opts *o, int *ret_status, char **ret_output, struct ak_error *err);

/* Finds a program in PATH, then /usr/local/sbin, /usr/sbin, /sbin (and the
 * bin directories): 0 with the path in buf, or -ENOENT. */
int proc_which(const char *name, char *buf, size_t size);

/* The last max lines of text (a pointer into it). */
const char *proc_tail_lines(const char *text, unsigned max);

#ifdef __cplusplus
}
#endif
