#include <stdlib.h>
#include <string.h>

#include "cli/egress.h"

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
