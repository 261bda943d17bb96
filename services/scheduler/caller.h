/* Who is calling the scheduler: an executor (RegisterExecutor, Heartbeat)
 * or a client acting for a tenant (everything else). The two never share a
 * credential:
 *
 *   executors  a --registration-token-file token (identity "token/NAME",
 *              NAME from its executor= word, else "executor"), or a
 *              verified client certificate whose CN is one of --executor-cn
 *              (identity "cert/CN");
 *   clients    a --token-file token (tenant from its tenant= word, else
 *              "default"; admin from its admin word); without --token-file
 *              but with --tls-ca, a verified client certificate whose CN
 *              names the tenant (admin when the CN is one of --admin-cn);
 *              with neither, everyone is tenant "default" and admin (no
 *              client authentication at all: one tenant).
 *
 * A client call may carry metadata x-ak-tenant: NAME. From an admin it acts
 * for tenant NAME alone (no longer admin: every call scoped to NAME, another
 * tenant's sandbox NOT_FOUND), which is how ak-gateway serves its API keys'
 * tenants over one admin credential; from anyone else it must name their own
 * tenant (PERMISSION_DENIED otherwise).
 *
 * Without executor credentials configured, an unauthenticated scheduler lets
 * anyone register (the local, one-user stack); a scheduler that
 * authenticates clients refuses to start without them (caller_check). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/rpc/rpc.h"
#include "lib/svc/auth.h"

#define CALLER_IDENTITY_MAX 80
#define CALLER_TENANT_METADATA "x-ak-tenant"

struct caller_config {
        struct svc_auth *clients;     /* --token-file, or NULL */
        struct svc_auth *executors;   /* --registration-token-file, or NULL */
        bool client_certs;            /* --tls-ca: client certificates are verified */
        const char *const *executor_cns;
        size_t n_executor_cns;
        const char *const *admin_cns;
        size_t n_admin_cns;
};

struct caller {
        bool executor;                /* may call RegisterExecutor/Heartbeat */
        bool client;                  /* may call the client API */
        char identity[CALLER_IDENTITY_MAX];  /* executors: what executor_ids bind to */
        char tenant[TOKEN_NAME_MAX + 1];     /* clients */
        bool admin;                   /* clients: sees and acts on every tenant */
};

/* NULL when the combination can serve, else what is wrong (static text). */
const char *caller_check(const struct caller_config *cfg);

/* Identifies the call, applying x-ak-tenant. Returns RPC_OK with *ret
 * filled, or RPC_UNAUTHENTICATED (rpc_call_fail says what was missing),
 * INVALID_ARGUMENT (x-ak-tenant is not a tenant name) or PERMISSION_DENIED
 * (x-ak-tenant names another tenant and the credential is not an admin's). */
int caller_identify(const struct caller_config *cfg, struct rpc_call *call, struct caller *ret);

/* For rpc_server_options.authorize: identifies, then PERMISSION_DENIED when
 * a client calls an executor method or an executor a client method. */
int caller_authorize(const struct caller_config *cfg, struct rpc_call *call);
