/* Reloadable token sets (auth.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/svc/auth.h"
#include "lib/svc/tokens.h"

struct svc_auth {
        pthread_rwlock_t lock;
        struct tokens *tokens;  /* under lock */
        char *path;
        char *service;
};

int svc_auth_load(const char *path, const char *service, struct svc_auth **ret, struct ak_error *err)
{
        struct tokens *t = NULL;
        int r = tokens_load(path, &t, err);
        if (r < 0)
                return r;
        struct svc_auth *a = calloc(1, sizeof(*a));
        if (!a || !(a->path = strdup(path)) || !(a->service = strdup(service))) {
                if (a)
                        free(a->path);
                free(a);
                tokens_free(t);
                return ak_error_errno(err, -ENOMEM, "token file %s", path);
        }
        pthread_rwlock_init(&a->lock, NULL);
        a->tokens = t;
        *ret = a;
        return 0;
}

void svc_auth_free(struct svc_auth *a)
{
        if (!a)
                return;
        tokens_free(a->tokens);
        pthread_rwlock_destroy(&a->lock);
        free(a->path);
        free(a->service);
        free(a);
}

int svc_auth_reload(struct svc_auth *a, size_t *ret_count, struct ak_error *err)
{
        struct tokens *t = NULL, *old;
        int r = tokens_load(a->path, &t, err);
        if (r < 0)
                return r;
        size_t n = tokens_count(t);
        pthread_rwlock_wrlock(&a->lock);
        old = a->tokens;
        a->tokens = t;
        pthread_rwlock_unlock(&a->lock);
        tokens_free(old);
        *ret_count = n;
        return 0;
}

void svc_auth_reload_line(struct svc_auth *a, char *buf, size_t size)
{
        struct ak_error err = { 0 };
        size_t n = 0;
        if (svc_auth_reload(a, &n, &err) == 0)
                snprintf(buf, size, "reloaded %s: %zu token%s", a->path, n, n == 1 ? "" : "s");
        else {
                n = svc_auth_count(a);
                snprintf(buf, size, "reload %s: %s; still using the %zu token%s loaded before", a->path,
                         err.msg, n, n == 1 ? "" : "s");
        }
}

size_t svc_auth_count(struct svc_auth *a)
{
        pthread_rwlock_rdlock(&a->lock);
        size_t n = tokens_count(a->tokens);
        pthread_rwlock_unlock(&a->lock);
        return n;
}

const char *svc_auth_path(const struct svc_auth *a)
{
        return a->path;
}

int svc_auth_who(struct svc_auth *a, const char *authorization, struct svc_who *ret)
{
        size_t i;
        struct token_who who;
        pthread_rwlock_rdlock(&a->lock);
        int r = tokens_find(a->tokens, authorization, &i);
        if (r == 0) {
                tokens_who(a->tokens, i, &who);
                snprintf(ret->tenant, sizeof(ret->tenant), "%s", who.tenant ? who.tenant : "");
                snprintf(ret->executor, sizeof(ret->executor), "%s", who.executor ? who.executor : "");
                ret->admin = who.admin;
        }
        pthread_rwlock_unlock(&a->lock);
        return r;
}

int svc_auth_authorize(struct rpc_call *call, void *data)
{
        struct svc_auth *a = data;
        if (!a)
                return RPC_OK;
        const char *auth = rpc_call_metadata(call, "authorization");
        pthread_rwlock_rdlock(&a->lock);
        bool ok = tokens_check(a->tokens, auth);
        pthread_rwlock_unlock(&a->lock);
        if (ok)
                return RPC_OK;
        return rpc_call_fail(call, RPC_UNAUTHENTICATED,
                             auth ? "%s: the bearer token is not one of the %s's (--token-file)"
                                  : "%s: no bearer token: send \"authorization: Bearer <token>\" with a "
                                    "token from the %s's --token-file",
                             rpc_call_method(call), a->service);
}
