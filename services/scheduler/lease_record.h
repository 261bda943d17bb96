/* A coordination.k8s.io/v1 Lease as the scheduler's leader election sees it:
 * the API server's JSON read into a fixed struct (bounded: every string has
 * a size, every number a range) and the JSON written back for create/update.
 * Pure: no I/O, no clocks; thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

/* A Lease body larger than this is refused (real ones are < 1 KiB). */
#define LEASE_MAX_BODY (64u * 1024)
/* holderIdentity: a pod name (DNS-1123 subdomain, at most 253) + NUL. */
#define LEASE_HOLDER_SIZE 254
#define LEASE_VERSION_SIZE 64
#define LEASE_MAX_DURATION_S 86400u

struct lease_record {
        char resource_version[LEASE_VERSION_SIZE]; /* "" when writing a new Lease */
        char holder[LEASE_HOLDER_SIZE];            /* "" when none */
        uint32_t duration_s;                       /* 0 when absent */
        int64_t acquire_us, renew_us;              /* µs since the epoch; 0 when absent */
        uint32_t transitions;
};

/* Reads a Lease object (the body of GET/POST/PUT answers). Returns 0 and
 * fills *ret, or -EINVAL/-E2BIG with err saying what was wrong ("lease JSON:
 * spec.renewTime: ..."). Missing spec fields are zero; metadata.resourceVersion
 * is required. */
int lease_record_parse(const char *body, size_t len, struct lease_record *ret, struct ak_error *err);

/* The Lease named ns/name holding r, as JSON (malloc'd, NUL-terminated, the
 * caller frees). resourceVersion is written when r has one (an update).
 * Returns 0, -ENOMEM or -EINVAL (a string that is not valid UTF-8). */
int lease_record_write(const struct lease_record *r, const char *ns, const char *name, char **ret,
                       size_t *ret_len);

/* MicroTime: RFC 3339 with microseconds, "2006-01-02T15:04:05.000000Z".
 * format needs size >= 28; parse accepts 0-9 fraction digits and Z or
 * +hh:mm/-hh:mm, years 1970-9999. 0 or -EINVAL. */
int lease_time_format(int64_t us, char *buf, size_t size);
int lease_time_parse(const char *s, int64_t *ret_us);

/* A Kubernetes object name or namespace: 1-253 of [a-z0-9.-], starting
 * and ending alphanumeric. */
int lease_check_name(const char *s);
