/* sb_record_parse on arbitrary bytes: a record it accepts formats and
 * parses back to the same record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/executor/sandbox_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct sb_record *a, const struct sb_record *b)
{
        if (a->pool != b->pool || strcmp(a->image, b->image) || strcmp(a->profile, b->profile) ||
            strcmp(a->net_ifname, b->net_ifname))
                abort();
        if (a->pool)
                return;
        if (strcmp(a->name, b->name) || strcmp(a->uuid, b->uuid) || strcmp(a->tenant, b->tenant) ||
            a->vcpus != b->vcpus || a->memory_mb != b->memory_mb || a->network != b->network ||
            a->network_req != b->network_req || a->persistent != b->persistent || a->from_pool != b->from_pool ||
            a->ttl_seconds != b->ttl_seconds || a->created_at_ms != b->created_at_ms ||
            a->expires_at_ms != b->expires_at_ms || a->n_env != b->n_env || a->n_labels != b->n_labels ||
            a->secrets != b->secrets || a->n_secrets != b->n_secrets || a->n_hooks != b->n_hooks)
                abort();
        for (size_t i = 0; i < a->n_secrets; i++)
                if (strcmp(a->secret[i].binding, b->secret[i].binding) ||
                    strcmp(a->secret[i].placeholder, b->secret[i].placeholder))
                        abort();
        for (size_t i = 0; i < a->n_hooks; i++)
                if (strcmp(a->hooks[i].name, b->hooks[i].name) || strcmp(a->hooks[i].event, b->hooks[i].event) ||
                    strcmp(a->hooks[i].type, b->hooks[i].type) || strcmp(a->hooks[i].path, b->hooks[i].path))
                        abort();
        for (size_t i = 0; i < a->n_env; i++)
                if (strcmp(a->env_keys[i], b->env_keys[i]) || strcmp(a->env_values[i], b->env_values[i]))
                        abort();
        for (size_t i = 0; i < a->n_labels; i++)
                if (strcmp(a->label_keys[i], b->label_keys[i]) || strcmp(a->label_values[i], b->label_values[i]))
                        abort();
        for (int l = 0; l < SB_EGRESS_LISTS; l++) {
                if (a->n_egress[l] != b->n_egress[l])
                        abort();
                for (size_t i = 0; i < a->n_egress[l]; i++)
                        if (strcmp(a->egress[l][i], b->egress[l][i]))
                                abort();
        }
        if (a->n_egress_ports != b->n_egress_ports ||
            memcmp(a->egress_ports, b->egress_ports, a->n_egress_ports * sizeof(a->egress_ports[0])))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sb_record a, b;
        char *text = NULL;
        size_t len;
        if (sb_record_parse((const char *)data, size, &a, NULL) < 0)
                return 0;
        if (sb_record_format(&a, &text, &len) < 0)
                abort();
        if (sb_record_parse(text, len, &b, NULL) < 0)
                abort();
        same(&a, &b);
        free(text);
        sb_record_clear(&a);
        sb_record_clear(&b);
        return 0;
}
