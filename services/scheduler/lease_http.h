/* The few API server calls leader election makes (lease.c), over libcurl:
 * a bearer token reread from its file for every request, the cluster CA,
 * a time limit per request and a bound on every answer's size. */
#pragma once

#include <stddef.h>

#include "lib/base/error.h"

#define LEASE_TOKEN_MAX (64u * 1024)

struct lease_http {
        const char *token_file;
        const char *ca_file;   /* NULL: the system's CAs */
        long timeout_ms;
};

/* Process-wide libcurl setup; call before any thread exists or once from
 * main. 0 or -EIO. */
int lease_http_init(struct ak_error *err);

/* method (GET/POST/PUT) url with an optional JSON body. On 0, *ret_status
 * is the HTTP status and *ret_body (malloc'd, NUL-terminated, at most
 * LEASE_MAX_BODY bytes) the answer, for the caller to free. -EIO/-E2BIG/
 * -ETIMEDOUT with err naming the URL when no answer came. */
int lease_http_call(const struct lease_http *h, const char *method, const char *url, const char *json,
                    long *ret_status, char **ret_body, size_t *ret_len, struct ak_error *err);
