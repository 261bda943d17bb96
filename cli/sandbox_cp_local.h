/* The client-side parsers of what a sandbox sends for `ak sandbox cp`
 * (cli/sandbox_cp.h): the copy-out head line and the directory's tar. Both
 * take hostile bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

/* The largest copy either way. */
#define SANDBOX_CP_MAX_BYTES (64ull << 30)

/* The guest's head line (copy-out), untrusted bytes. */
struct sandbox_cp_head {
        bool dir;
        unsigned long long size;
        char sha256[65];
        unsigned mode;
        char path[4096]; /* what the pieces are read from */
};
/* 0, or -EINVAL with err naming what was wrong. */
int sandbox_cp_parse_head(const char *s, size_t n, struct sandbox_cp_head *h, struct ak_error *err);

/* Unpacks the tar read from fd into dir (made if missing): modes and times
 * kept (less set-uid/set-gid bits), owners too when root; symlinks made as
 * symlinks, whatever they point at, and never written through; an entry (or
 * hard link target) that is absolute or has a ".." part, and a device or
 * fifo, are refused (-EPERM), as is anything that is not tar. what names the source in errors. */
int sandbox_cp_unpack(int fd, const char *dir, const char *what, struct ak_error *err);
