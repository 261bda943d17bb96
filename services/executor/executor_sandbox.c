/* A sandbox's record: its name rule, references, and its protobuf form. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/receipt/receipt.h"
#include "services/executor/executor_netaudit.h"
#include "services/executor/executor_hooks.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"

int sandbox_name_check(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > SANDBOX_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
                return -EINVAL;
        for (size_t i = 1; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' ||
                      s[i] == '-'))
                        return -EINVAL;
        return 0;
}

int tenant_check(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 63)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
                        return -EINVAL;
        }
        return 0;
}

void sandbox_free(struct sandbox *sb)
{
        receipt_strv_free(sb->env_keys, sb->n_env);
        receipt_strv_free(sb->env_values, sb->n_env);
        receipt_strv_free(sb->label_keys, sb->n_labels);
        receipt_strv_free(sb->label_values, sb->n_labels);
        secret_set_free(sb->secrets);
        hooks_free(sb->hooks);
        free(sb);
}

struct sandbox *sandbox_get(struct executor *ex, const char *name)
{
        struct sandbox *found = NULL;
        pthread_mutex_lock(&ex->lock);
        for (size_t i = 0; i < ex->n_sandboxes; i++)
                if (strcmp(ex->sandboxes[i]->name, name) == 0) {
                        found = ex->sandboxes[i];
                        found->refs++;
                        break;
                }
        pthread_mutex_unlock(&ex->lock);
        return found;
}

void sandbox_put(struct executor *ex, struct sandbox *sb)
{
        if (!sb)
                return;
        pthread_mutex_lock(&ex->lock);
        bool last = --sb->refs == 0;
        pthread_mutex_unlock(&ex->lock);
        if (last)
                sandbox_free(sb);
}

int sandbox_running_uds(struct executor *ex, struct sandbox *sb, char uds[108])
{
        int r = 0;
        pthread_mutex_lock(&ex->lock);
        if (sb->removed)
                r = -ENOENT;
        else if (sb->state != AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING || (!sb->box && !sb->test_guest))
                r = -ESRCH;
        else
                memcpy(uds, sb->uds, 108);
        pthread_mutex_unlock(&ex->lock);
        return r;
}

Ak__V1__Sandbox *sandbox_to_proto(struct executor *ex, struct sandbox *sb)
{
        Ak__V1__Sandbox *m = calloc(1, sizeof(*m));
        Ak__V1__SandboxSpec *sp = calloc(1, sizeof(*sp));
        if (!m || !sp) {
                free(m);
                free(sp);
                return NULL;
        }
        ak__v1__sandbox__init(m);
        ak__v1__sandbox_spec__init(sp);
        sp->name = strdup(sb->name);
        sp->image = strdup(sb->image);
        sp->vcpus = sb->vcpus;
        sp->memory_mb = sb->memory_mb;
        sp->profile = strdup(sb->profile->name);
        sp->tenant = strdup(sb->tenant);
        sp->network = sb->network ? AK__V1__NETWORK__NETWORK_ON : AK__V1__NETWORK__NETWORK_OFF;
        sp->ttl_seconds = sb->ttl_seconds;
        sp->persistent = sb->persistent;
        const struct vmm_net_egress *g = &sb->egress;
        if (g->n_allow || g->n_deny || g->n_ports || g->n_allow_names || g->n_deny_names) {
                Ak__V1__Egress *e = calloc(1, sizeof(*e));
                if (e) {
                        ak__v1__egress__init(e);
                        e->allow = calloc(g->n_allow + g->n_allow_names + 1, sizeof(char *));
                        e->deny = calloc(g->n_deny + g->n_deny_names + 1, sizeof(char *));
                        e->ports = calloc(sb->egress.n_ports + 1, sizeof(uint32_t));
                        for (size_t i = 0; e->allow && i < sb->egress.n_allow; i++)
                                if ((e->allow[e->n_allow] = strdup(sb->egress_allow[i])))
                                        e->n_allow++;
                        for (size_t i = 0; e->allow && i < g->n_allow_names; i++)
                                if ((e->allow[e->n_allow] = strdup(g->allow_names[i])))
                                        e->n_allow++;
                        for (size_t i = 0; e->deny && i < sb->egress.n_deny; i++)
                                if ((e->deny[e->n_deny] = strdup(sb->egress_deny[i])))
                                        e->n_deny++;
                        for (size_t i = 0; e->deny && i < g->n_deny_names; i++)
                                if ((e->deny[e->n_deny] = strdup(g->deny_names[i])))
                                        e->n_deny++;
                        for (size_t i = 0; e->ports && i < sb->egress.n_ports; i++)
                                e->ports[e->n_ports++] = sb->egress_ports[i];
                }
                sp->egress = e;
        }
        sp->secrets = calloc(sb->n_secrets + 1, sizeof(char *));
        for (size_t i = 0; sp->secrets && i < sb->n_secrets; i++)
                if ((sp->secrets[sp->n_secrets] = strdup(sb->secret_specs[i])))
                        sp->n_secrets++;
        sp->secret_files = calloc(sb->n_secret_files + 1, sizeof(char *));
        for (size_t i = 0; sp->secret_files && i < sb->n_secret_files; i++)
                if (asprintf(&sp->secret_files[sp->n_secret_files], "%s:%s", sb->secret_files[i].name,
                             sb->secret_files[i].path) >= 0)
                        sp->n_secret_files++;
        sp->env = calloc(sb->n_env + 1, sizeof(*sp->env));
        sp->labels = calloc(sb->n_labels + 1, sizeof(*sp->labels));
        for (size_t i = 0; sp->env && i < sb->n_env; i++) {
                Ak__V1__SandboxSpec__EnvEntry *e = calloc(1, sizeof(*e));
                if (!e)
                        break;
                ak__v1__sandbox_spec__env_entry__init(e);
                e->key = strdup(sb->env_keys[i]);
                e->value = strdup(sb->env_values[i]);
                sp->env[sp->n_env++] = e;
        }
        for (size_t i = 0; sp->labels && i < sb->n_labels; i++) {
                Ak__V1__SandboxSpec__LabelsEntry *e = calloc(1, sizeof(*e));
                if (!e)
                        break;
                ak__v1__sandbox_spec__labels_entry__init(e);
                e->key = strdup(sb->label_keys[i]);
                e->value = strdup(sb->label_values[i]);
                sp->labels[sp->n_labels++] = e;
        }
        m->spec = sp;
        m->state = sb->state;
        m->executor_id = strdup(ex->node.id);
        m->created_at_ms = sb->created_at_ms;
        m->expires_at_ms = sb->expires_at_ms;
        m->uuid = strdup(sb->uuid);
        m->error = strdup(sb->error);
        m->from_pool = sb->from_pool;
        m->net_denied = net_audit_denied_locked(ex, sb->name, &m->net_log_overruns);
        if (sb->network && ex->cfg.n_deny_cidrs &&
            (m->net_deny_cidrs = calloc(ex->cfg.n_deny_cidrs, sizeof(char *))))
                for (size_t i = 0; i < ex->cfg.n_deny_cidrs; i++)
                        if ((m->net_deny_cidrs[m->n_net_deny_cidrs] = strdup(ex->cfg.deny_cidrs[i])))
                                m->n_net_deny_cidrs++;
        m->backend = strdup(ex->node.backend);
        return m;
}

/* Everything in m is malloc'd (strings copied): protobuf-c frees it. */
void sandbox_proto_free(Ak__V1__Sandbox *m)
{
        if (m)
                protobuf_c_message_free_unpacked(&m->base, NULL);
}
