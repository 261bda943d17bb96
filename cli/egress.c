#include <stdlib.h>
#include <string.h>

#include "cli/egress.h"
#include "vmm/net/secret_set.h"

int cli_egress_add(const struct cli_command *cmd, const char *opt, char *v, struct cli_egress *e)
{
        bool allow = strcmp(opt, "--egress-allow") == 0, deny = strcmp(opt, "--egress-deny") == 0;
        size_t *n = allow ? &e->n_allow : deny ? &e->n_deny : &e->n_ports;
        if (*n == CLI_EGRESS_MAX)
                return cli_usage_error(cmd, "at most %d %s", CLI_EGRESS_MAX, opt);
        if (!allow && !deny) {
                char *end;
                unsigned long p = strtoul(v, &end, 10);
                if (end == v || *end || v[0] == '-' || p < 1 || p > 65535)
                        return cli_usage_error(cmd, "--egress-port %s: want a port, 1 to 65535", v);
                e->ports[(*n)++] = (uint32_t)p;
        } else if (!*v) {
                return cli_usage_error(cmd, "%s: empty; want a CIDR such as 203.0.113.0/24", opt);
        } else {
                (allow ? e->allow : e->deny)[(*n)++] = v;
        }
        return 0;
}

Ak__V1__Egress *cli_egress_msg(struct cli_egress *e)
{
        if (!e->n_allow && !e->n_deny && !e->n_ports)
                return NULL;
        ak__v1__egress__init(&e->msg);
        e->msg.allow = e->allow;
        e->msg.n_allow = e->n_allow;
        e->msg.deny = e->deny;
        e->msg.n_deny = e->n_deny;
        e->msg.ports = e->ports;
        e->msg.n_ports = e->n_ports;
        return &e->msg;
}

int cli_egress_secret_add(const struct cli_command *cmd, const char *opt, char *v, struct cli_egress *e)
{
        struct ak_error err = { 0 };
        bool file = strcmp(opt, "--secret-file") == 0;
        size_t *n = file ? &e->n_secret_files : &e->n_secrets;
        if (*n == CLI_SECRETS_MAX)
                return cli_usage_error(cmd, "at most %d %s", CLI_SECRETS_MAX, opt);
        if (file) {
                struct secret_file f;
                if (secret_file_parse(v, &f, &err) < 0)
                        return cli_usage_error(cmd, "--secret-file: %s", err.msg);
                e->secret_files[(*n)++] = v;
                return 0;
        }
        struct secret_binding b;
        if (secret_binding_parse(v, &b, &err) < 0)
                return cli_usage_error(cmd, "--secret: %s", err.msg);
        size_t name_len = strlen(b.name);
        for (size_t i = 0; i < e->n_secrets; i++)
                if (strncmp(e->secrets[i], b.name, name_len) == 0 && e->secrets[i][name_len] == ':')
                        return cli_usage_error(cmd, "--secret %s: %s is bound already; one host per secret", v,
                                               b.name);
        e->secrets[(*n)++] = v;
        return 0;
}

void cli_egress_secrets(struct cli_egress *e, Ak__V1__SandboxSpec *spec)
{
        spec->secrets = e->secrets;
        spec->n_secrets = e->n_secrets;
        spec->secret_files = e->secret_files;
        spec->n_secret_files = e->n_secret_files;
}
