/* Who is calling (caller.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "services/scheduler/caller.h"

static bool listed(const char *const *v, size_t n, const char *s)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

static bool executor_auth(const struct caller_config *cfg)
{
        return cfg->executors || cfg->n_executor_cns;
}

const char *caller_check(const struct caller_config *cfg)
{
        if ((cfg->clients || cfg->client_certs) && !executor_auth(cfg))
                return "clients authenticate (--token-file or --tls-ca) but executors have no credential of "
                       "their own: give them --registration-token-file tokens (or --executor-cn for their "
                       "certificates); a client's token never registers an executor";
        if (cfg->n_admin_cns && !cfg->client_certs)
                return "--admin-cn needs --tls-ca (client certificates)";
        return NULL;
}

/* A tenant name from a certificate: what token files allow. */
static bool tenant_name_ok(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > TOKEN_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
                        return false;
        }
        return true;
}

static int identify(const struct caller_config *cfg, struct rpc_call *call, struct caller *ret)
{
        const char *auth = rpc_call_metadata(call, "authorization");
        struct svc_who who;
        char cn[256];
        int cn_r = cfg->client_certs ? rpc_call_peer_cn(call, cn, sizeof(cn)) : -ENOENT;

        memset(ret, 0, sizeof(*ret));
        if (auth && cfg->executors && svc_auth_who(cfg->executors, auth, &who) == 0) {
                ret->executor = true;
                snprintf(ret->identity, sizeof(ret->identity), "token/%s", *who.executor ? who.executor : "executor");
                return RPC_OK;
        }
        if (auth && cfg->clients && svc_auth_who(cfg->clients, auth, &who) == 0) {
                if (!*who.tenant)
                        return rpc_call_fail(call, RPC_UNAUTHENTICATED,
                                             "%s: the bearer token is an executor= line of the scheduler's "
                                             "--token-file; executors' tokens go in --registration-token-file",
                                             rpc_call_method(call));
                ret->client = true;
                snprintf(ret->tenant, sizeof(ret->tenant), "%s", who.tenant);
                ret->admin = who.admin;
                return RPC_OK;
        }
        if (cn_r == 0 && listed(cfg->executor_cns, cfg->n_executor_cns, cn)) {
                ret->executor = true;
                snprintf(ret->identity, sizeof(ret->identity), "cert/%.*s", CALLER_IDENTITY_MAX - 6, cn);
                return RPC_OK;
        }
        if (cfg->clients)
                return rpc_call_fail(call, RPC_UNAUTHENTICATED,
                                     auth ? "%s: the bearer token is not one of the scheduler's (--token-file, "
                                            "or --registration-token-file for executors)"
                                          : "%s: no bearer token: send \"authorization: Bearer <token>\" with a "
                                            "token from the scheduler's --token-file",
                                     rpc_call_method(call));
        if (cfg->client_certs) {
                if (cn_r < 0)
                        return rpc_call_fail(call, RPC_UNAUTHENTICATED,
                                             "%s: no client certificate with a subject CN: the CN names the "
                                             "tenant (the scheduler has --tls-ca and no --token-file)",
                                             rpc_call_method(call));
                if (!tenant_name_ok(cn))
                        return rpc_call_fail(call, RPC_UNAUTHENTICATED,
                                             "%s: the client certificate's CN is not a tenant name (1 to %d of "
                                             "A-Z a-z 0-9 . _ -)",
                                             rpc_call_method(call), TOKEN_NAME_MAX);
                ret->client = true;
                snprintf(ret->tenant, sizeof(ret->tenant), "%.63s", cn);
                ret->admin = listed(cfg->admin_cns, cfg->n_admin_cns, cn);
                return RPC_OK;
        }
        /* No client authentication: one tenant, and whoever calls is it. */
        ret->client = true;
        ret->admin = true;
        snprintf(ret->tenant, sizeof(ret->tenant), "%s", TOKEN_DEFAULT_TENANT);
        if (!executor_auth(cfg)) {
                ret->executor = true;
                snprintf(ret->identity, sizeof(ret->identity), "anonymous");
        }
        return RPC_OK;
}

/* x-ak-tenant: an admin acts for that one tenant (scoped as that tenant's
 * own credential would be); anyone else may name only their own tenant. */
static int act_for(struct rpc_call *call, struct caller *c)
{
        const char *t = rpc_call_metadata(call, CALLER_TENANT_METADATA);
        if (!t)
                return RPC_OK;
        if (!tenant_name_ok(t))
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                     "%s: " CALLER_TENANT_METADATA " \"%.80s\" is not a tenant name (1 to %d of "
                                     "A-Z a-z 0-9 . _ -)",
                                     rpc_call_method(call), t, TOKEN_NAME_MAX);
        if (c->admin) {
                snprintf(c->tenant, sizeof(c->tenant), "%s", t);
                c->admin = false;
                return RPC_OK;
        }
        if (strcmp(t, c->tenant) == 0)
                return RPC_OK;
        return rpc_call_fail(call, RPC_PERMISSION_DENIED,
                             "%s: " CALLER_TENANT_METADATA " names tenant %s, but the credential is tenant %s's "
                             "and not an admin's: only an admin may act for another tenant",
                             rpc_call_method(call), t, c->tenant);
}

int caller_identify(const struct caller_config *cfg, struct rpc_call *call, struct caller *ret)
{
        int r = identify(cfg, call, ret);
        if (r != RPC_OK || !ret->client)
                return r;
        return act_for(call, ret);
}

static bool executor_method(const char *path)
{
        return strcmp(path, "/ak.v1.Scheduler/RegisterExecutor") == 0 ||
               strcmp(path, "/ak.v1.Scheduler/Heartbeat") == 0;
}

int caller_authorize(const struct caller_config *cfg, struct rpc_call *call)
{
        struct caller c;
        int r = caller_identify(cfg, call, &c);
        if (r != RPC_OK)
                return r;
        const char *m = rpc_call_method(call);
        if (executor_method(m) && !c.executor)
                return rpc_call_fail(call, RPC_PERMISSION_DENIED,
                                     "%s: the credential is a client's (tenant %s), not an executor's: "
                                     "executors present a --registration-token-file token or an "
                                     "--executor-cn certificate",
                                     m, c.tenant);
        if (!executor_method(m) && !c.client)
                return rpc_call_fail(call, RPC_PERMISSION_DENIED,
                                     "%s: the credential is executor %s's; it may only register and heartbeat",
                                     m, c.identity);
        return RPC_OK;
}
