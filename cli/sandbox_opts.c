#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/sandbox_opts.h"
#include "lib/base/parse.h"
#include "vmm/net/secret_set.h"

#define TTL_MAX_S (30u * 86400)   /* the executor's limit */

const struct cli_option sandbox_options[] = {
        { "image", 0, true, SO_IMAGE },
        { "profile", 0, true, SO_PROFILE },
        { "no-network", 0, false, SO_NO_NETWORK },
        { "vcpus", 0, true, SO_VCPUS },
        { "memory", 0, true, SO_MEMORY },
        { "label", 0, true, SO_LABEL },
        { "node-selector", 0, true, SO_NODE_SELECTOR },
        { "ttl", 0, true, SO_TTL },
        { "env", 'e', true, SO_ENV },
        { "env-file", 0, true, SO_ENV_FILE },
        { "config", 'c', true, SO_CONFIG },
        { "egress-allow", 0, true, SO_EGRESS_ALLOW },
        { "egress-deny", 0, true, SO_EGRESS_DENY },
        { "egress-port", 0, true, SO_EGRESS_PORT },
        { "secret", 0, true, SO_SECRET },
        { "secret-file", 0, true, SO_SECRET_FILE },
        { NULL, 0, false, 0 },
};

void sandbox_opts_init(struct sandbox_opts *o)
{
        memset(o, 0, sizeof(*o));
        o->network = -1;
}

static void kv_free(struct sandbox_kv *kv, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(kv[i].key); /* value points into the same block */
}

void sandbox_opts_free(struct sandbox_opts *o)
{
        kv_free(o->labels, o->n_labels);
        kv_free(o->selector, o->n_selector);
        envlist_free(&o->env);
        envlist_free(&o->merged_env);
        for (size_t i = 0; i < ENVLIST_MAX; i++)
                free(o->env_keys[i]);
        for (size_t i = 0; i < o->n_cfg_secrets; i++)
                free(o->cfg_secrets[i]);
        o->n_cfg_secrets = 0;
        config_free(o->cfg);
        o->cfg = NULL;
}

int sandbox_kv_parse(const char *arg, struct sandbox_kv *kv)
{
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg)
                return -EINVAL;
        char *k = strdup(arg);
        if (!k)
                return -ENOMEM;
        k[eq - arg] = 0;
        kv->key = k;
        kv->value = k + (eq - arg) + 1;
        return 0;
}

static int add_kv(const struct cli_opts *p, struct sandbox_kv *list, size_t *n)
{
        if (*n == SANDBOX_OPTS_MAX_KV)
                return cli_opts_bad_value(p, "at most %d", SANDBOX_OPTS_MAX_KV);
        if (sandbox_kv_parse(p->arg, &list[*n]) < 0)
                return cli_opts_bad_value(p, "want KEY=VALUE");
        for (size_t i = 0; i < *n; i++)
                if (strcmp(list[i].key, list[*n].key) == 0) {
                        free(list[*n].key);
                        return cli_opts_bad_value(p, "%s given twice", list[i].key);
                }
        (*n)++;
        return 0;
}

int sandbox_opts_flag(struct sandbox_opts *o, const struct cli_opts *p, int id)
{
        struct ak_error err = { 0 };
        uint64_t v;
        switch (id) {
        case SO_IMAGE: o->image = p->arg; return 0;
        case SO_PROFILE: o->profile = p->arg; return 0;
        case SO_NO_NETWORK: o->network = 0; return 0;
        case SO_CONFIG: o->config_path = p->arg; return 0;
        case SO_VCPUS:
                if (ak_parse_u64(p->arg, 1, 64, &v) < 0)
                        return cli_opts_bad_value(p, "want 1 to 64 vCPUs");
                o->vcpus = (unsigned)v;
                return 0;
        case SO_MEMORY:
                if (ak_parse_memory_mb(p->arg, 64, 262144, &v) < 0)
                        return cli_opts_bad_value(p, "want 64m to 256g, as 512m, 1g, 2GiB (digits alone: MiB)");
                o->memory_mb = (unsigned)v;
                return 0;
        case SO_TTL:
                if (ak_parse_duration(p->arg, 1, TTL_MAX_S, &v) < 0)
                        return cli_opts_bad_value(p, "want 30s, 10m, 1h or 2d (digits alone: seconds), at most 30d");
                o->ttl_seconds = (uint32_t)v;
                o->have_ttl = true;
                return 0;
        case SO_LABEL: return add_kv(p, o->labels, &o->n_labels);
        case SO_NODE_SELECTOR: return add_kv(p, o->selector, &o->n_selector);
        case SO_ENV:
                if (envlist_arg(&o->env, p->arg, &err) < 0)
                        return cli_usage_error(p->cmd, "%s", err.msg);
                return 0;
        case SO_ENV_FILE:
                if (envlist_file(&o->env, p->arg, &err) < 0)
                        return cli_usage_error(p->cmd, "%s", err.msg);
                return 0;
        case SO_EGRESS_ALLOW:
        case SO_EGRESS_DENY:
        case SO_EGRESS_PORT:
                return cli_egress_add(p->cmd, p->spelled, (char *)p->arg, &o->egress);
        case SO_SECRET:
        case SO_SECRET_FILE:
                return cli_egress_secret_add(p->cmd, p->spelled, (char *)p->arg, &o->egress);
        }
        return cli_usage_error(p->cmd, "option %s is not handled here", p->spelled);
}

/* AK_* under the flags. */
static int layer_environ(struct sandbox_opts *o, const char *verb)
{
        const char *s;
        uint64_t v;
        if (!o->image && (s = getenv("AK_IMAGE")) && *s)
                o->image = s;
        if (!o->profile && (s = getenv("AK_PROFILE")) && *s)
                o->profile = s;
        if (!o->vcpus && (s = getenv("AK_VCPUS")) && *s) {
                if (ak_parse_u64(s, 1, 64, &v) < 0) {
                        fprintf(stderr, "ak %s: AK_VCPUS=%s: want 1 to 64\n", verb, s);
                        return 1;
                }
                o->vcpus = (unsigned)v;
        }
        if (!o->memory_mb && (s = getenv("AK_MEMORY")) && *s) {
                if (ak_parse_memory_mb(s, 64, 262144, &v) < 0) {
                        fprintf(stderr, "ak %s: AK_MEMORY=%s: want 64m to 256g, as 512m or 1g\n", verb, s);
                        return 1;
                }
                o->memory_mb = (unsigned)v;
        }
        return 0;
}

/* The config's [secrets] under the flags' --secret: a NAME bound by a flag
 * keeps the flag's host. 0, or 1 after printing the error. */
static int layer_secrets(struct sandbox_opts *o, const char *verb)
{
        const struct config *c = o->cfg;
        struct cli_egress *e = &o->egress;
        for (size_t i = 0; i < c->n_secrets; i++) {
                const struct config_secret *cs = &c->secrets[i];
                struct ak_error err = { 0 };
                struct secret_binding b;
                char *v = NULL;
                if (asprintf(&v, "%s:%s", cs->name, cs->host) < 0) {
                        fprintf(stderr, "ak %s: out of memory\n", verb);
                        return 1;
                }
                if (secret_binding_parse(v, &b, &err) < 0) {
                        fprintf(stderr, "ak %s: %s:%u: [secrets] %s: %s\n", verb, o->cfg_path, cs->line, cs->name,
                                err.msg);
                        free(v);
                        return 1;
                }
                size_t name_len = strlen(b.name);
                bool by_flag = false;
                for (size_t k = 0; k < e->n_secrets; k++)
                        by_flag |= strncmp(e->secrets[k], b.name, name_len) == 0 && e->secrets[k][name_len] == ':';
                if (by_flag) {
                        free(v);
                        continue;
                }
                if (e->n_secrets == CLI_SECRETS_MAX) {
                        fprintf(stderr, "ak %s: %s:%u: [secrets] %s: at most %d secrets with the --secret flags\n",
                                verb, o->cfg_path, cs->line, cs->name, CLI_SECRETS_MAX);
                        free(v);
                        return 1;
                }
                o->cfg_secrets[o->n_cfg_secrets++] = v;
                e->secrets[e->n_secrets++] = v;
        }
        return 0;
}

static int layer_config(struct sandbox_opts *o, const char *verb)
{
        struct ak_error err = { 0 };
        const char *path = o->config_path;
        if (!path) {
                if (access(CONFIG_FILE_NAME, F_OK) < 0)
                        return 0;
                path = CONFIG_FILE_NAME;
        }
        if (config_load(path, &o->cfg, &err) < 0) {
                fprintf(stderr, "ak %s: %s\n", verb, err.msg);
                return 1;
        }
        struct config *c = o->cfg;
        o->cfg_path = path;
        for (size_t i = 0; i < c->n_warnings; i++)
                fprintf(stderr, "ak %s: warning: %s\n", verb, c->warnings[i]);
        if (!o->image && c->image)
                o->image = c->image;
        if (!o->profile && c->profile)
                o->profile = c->profile;
        if (o->network < 0)
                o->network = c->network;
        if (!o->vcpus)
                o->vcpus = c->vcpus;
        if (!o->memory_mb)
                o->memory_mb = c->memory_mb;
        int r = 0;
        for (size_t i = 0; i < c->n_allow && r == 0; i++)
                r = cli_egress_add(&(struct cli_command){ verb, "", NULL, "" }, "--egress-allow", c->allow[i],
                                   &o->egress);
        for (size_t i = 0; i < c->n_deny && r == 0; i++)
                r = cli_egress_add(&(struct cli_command){ verb, "", NULL, "" }, "--egress-deny", c->deny[i],
                                   &o->egress);
        if (c->allowlist_only && r == 0) {
                static char v4[] = "0.0.0.0/0", v6[] = "::/0";
                r = cli_egress_add(&(struct cli_command){ verb, "", NULL, "" }, "--egress-deny", v4, &o->egress);
                if (r == 0)
                        r = cli_egress_add(&(struct cli_command){ verb, "", NULL, "" }, "--egress-deny", v6,
                                           &o->egress);
        }
        if (r == 0)
                r = layer_secrets(o, verb);
        return r ? 1 : 0;
}

int sandbox_opts_layers(struct sandbox_opts *o, const char *verb)
{
        if (layer_environ(o, verb) || layer_config(o, verb))
                return 1;
        struct ak_error err = { 0 };
        for (size_t i = 0; o->cfg && i < o->cfg->n_env; i++)
                if (envlist_set(&o->merged_env, o->cfg->env[i], &err) < 0)
                        goto fail;
        for (size_t i = 0; i < o->env.n; i++)
                if (envlist_set(&o->merged_env, o->env.kv[i], &err) < 0)
                        goto fail;
        return 0;
fail:
        fprintf(stderr, "ak %s: %s\n", verb, err.msg);
        return 1;
}

const char *sandbox_opts_config_name(const struct sandbox_opts *o)
{
        return o->cfg && o->cfg->name && *o->cfg->name ? o->cfg->name : NULL;
}

int sandbox_opts_spec(struct sandbox_opts *o, const char *verb, Ak__V1__SandboxSpec *spec)
{
        if (o->image)
                spec->image = (char *)o->image;
        if (o->profile)
                spec->profile = (char *)o->profile;
        if (o->network == 0)
                spec->network = AK__V1__NETWORK__NETWORK_OFF;
        spec->vcpus = o->vcpus;
        spec->memory_mb = o->memory_mb;
        if (o->have_ttl)
                spec->ttl_seconds = o->ttl_seconds;
        for (size_t k = 0; k < o->merged_env.n; k++) {
                char *kv = o->merged_env.kv[k], *eq = strchr(kv, '=');
                Ak__V1__SandboxSpec__EnvEntry e = AK__V1__SANDBOX_SPEC__ENV_ENTRY__INIT;
                free(o->env_keys[k]);
                if (!(o->env_keys[k] = strndup(kv, (size_t)(eq - kv)))) {
                        fprintf(stderr, "ak %s: out of memory\n", verb);
                        return 1;
                }
                e.key = o->env_keys[k];
                e.value = eq + 1;
                o->env_e[k] = e;
                o->env_p[k] = &o->env_e[k];
        }
        spec->n_env = o->merged_env.n;
        spec->env = o->env_p;
        for (size_t k = 0; k < o->n_labels; k++) {
                Ak__V1__SandboxSpec__LabelsEntry e = AK__V1__SANDBOX_SPEC__LABELS_ENTRY__INIT;
                e.key = o->labels[k].key;
                e.value = o->labels[k].value;
                o->lab_e[k] = e;
                o->lab_p[k] = &o->lab_e[k];
        }
        spec->n_labels = o->n_labels;
        spec->labels = o->lab_p;
        for (size_t k = 0; k < o->n_selector; k++) {
                Ak__V1__SandboxSpec__NodeSelectorEntry e = AK__V1__SANDBOX_SPEC__NODE_SELECTOR_ENTRY__INIT;
                e.key = o->selector[k].key;
                e.value = o->selector[k].value;
                o->sel_e[k] = e;
                o->sel_p[k] = &o->sel_e[k];
        }
        spec->n_node_selector = o->n_selector;
        spec->node_selector = o->sel_p;
        spec->egress = cli_egress_msg(&o->egress);
        cli_egress_secrets(&o->egress, spec);
        for (size_t k = 0; o->cfg && k < o->cfg->n_hooks; k++) {
                const struct config_hook *h = &o->cfg->hooks[k];
                Ak__V1__ProxyHook e = AK__V1__PROXY_HOOK__INIT;
                e.name = h->name;
                e.event = h->event;
                e.type = h->type;
                if (h->path)
                        e.path = h->path;
                o->hook_e[k] = e;
                o->hook_p[k] = &o->hook_e[k];
        }
        spec->n_proxy_hooks = o->cfg ? o->cfg->n_hooks : 0;
        spec->proxy_hooks = o->hook_p;
        return 0;
}
