/* Per-tenant quotas (quota.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/parse.h"
#include "services/scheduler/quota.h"

#define SYNTAX "want TENANT:sandboxes=N,vcpus=N,memory-mb=N (any of the three; TENANT * for every other tenant)"

static bool tenant_ok(const char *p, size_t n)
{
        if (n == 1 && p[0] == '*')
                return true;
        if (n == 0 || n > SPEC_TENANT_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = p[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
                        return false;
        }
        return true;
}

static int take(struct registry_quota *q, const char *kv, size_t n, const char *text, struct ak_error *err)
{
        char buf[64];
        const char *eq = memchr(kv, '=', n);
        if (!eq || n >= sizeof(buf))
                return ak_error_set(err, -EINVAL, "%s: %s", text, SYNTAX);
        memcpy(buf, kv, n);
        buf[n] = '\0';
        size_t klen = (size_t)(eq - kv);
        const char *val = buf + klen + 1;
        uint32_t v32;
        if (klen == 9 && memcmp(kv, "sandboxes", 9) == 0 && ak_parse_uint(val, 1, 1000000, &v32) == 0)
                q->sandboxes = v32;
        else if (klen == 5 && memcmp(kv, "vcpus", 5) == 0 && ak_parse_uint(val, 1, 1000000, &v32) == 0)
                q->vcpus = v32;
        else if (klen == 9 && memcmp(kv, "memory-mb", 9) == 0 && ak_parse_uint(val, 1, 4000000000u, &v32) == 0)
                q->memory_mb = v32;
        else
                return ak_error_set(err, -EINVAL, "%s: \"%s\": %s, N a whole number from 1", text, buf, SYNTAX);
        return 0;
}

int quota_add(struct quota_table *t, const char *text, struct ak_error *err)
{
        const char *colon = strchr(text, ':');
        if (!colon || !tenant_ok(text, (size_t)(colon - text)))
                return ak_error_set(err, -EINVAL, "%s: %s", text, SYNTAX);
        struct quota_entry e = { 0 };
        memcpy(e.tenant, text, (size_t)(colon - text));
        for (const char *p = colon + 1;;) {
                const char *comma = strchr(p, ',');
                size_t n = comma ? (size_t)(comma - p) : strlen(p);
                int r = take(&e.q, p, n, text, err);
                if (r < 0)
                        return r;
                if (!comma)
                        break;
                p = comma + 1;
        }
        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->v[i].tenant, e.tenant) == 0) {
                        t->v[i] = e;
                        return 0;
                }
        if (t->n == QUOTA_MAX_TENANTS)
                return ak_error_set(err, -ENOSPC, "%s: more than %d tenants with quotas", text, QUOTA_MAX_TENANTS);
        t->v[t->n++] = e;
        return 0;
}

const struct registry_quota *quota_for(const struct quota_table *t, const char *tenant)
{
        const struct registry_quota *any = NULL;
        for (size_t i = 0; i < t->n; i++) {
                if (strcmp(t->v[i].tenant, tenant) == 0)
                        return &t->v[i].q;
                if (strcmp(t->v[i].tenant, "*") == 0)
                        any = &t->v[i].q;
        }
        return any;
}
