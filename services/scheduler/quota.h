/* Per-tenant quotas (--tenant-quota TENANT:sandboxes=N,vcpus=N,memory-mb=N):
 * what one tenant's sandboxes may hold at once. The registry counts and
 * refuses (registry_place); this holds the table. */
#pragma once

#include <stddef.h>

#include "lib/base/error.h"
#include "services/scheduler/registry.h"
#include "services/scheduler/spec.h"

#define QUOTA_MAX_TENANTS 256

struct quota_table {
        struct quota_entry {
                char tenant[SPEC_TENANT_MAX + 1];   /* "*": every tenant without its own */
                struct registry_quota q;
        } v[QUOTA_MAX_TENANTS];
        size_t n;
};

/* Parses "TENANT:key=N[,key=N]..." (keys sandboxes, vcpus, memory-mb; at
 * least one; TENANT a tenant name or "*") and adds or replaces the tenant's
 * entry. Returns 0 or -EINVAL / -ENOSPC (err says what, with the syntax). */
int quota_add(struct quota_table *t, const char *text, struct ak_error *err);

/* The tenant's quota, else the "*" entry's, else NULL (no limit). */
const struct registry_quota *quota_for(const struct quota_table *t, const char *tenant);
