/* Channels: a target, its credentials and the current connection (one
 * grpc_channel), which failover replaces by a fresh one (rpc.h, "Failover"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rpc/internal.h"

/* One grpc_channel with a count of who uses it: the rpc_channel while it is
 * current, and every call or wait on it; destroyed at zero, so replacing it
 * never pulls it from under a thread that is creating a call on it. */
struct rpc_conn {
        grpc_channel *ch;
        atomic_int refs;
        atomic_bool stale;  /* a refusal said "retry elsewhere": replace before the next call */
};

struct rpc_channel {
        pthread_mutex_t mu;
        struct rpc_conn *conn;              /* under mu */
        grpc_channel_credentials *creds;
        char *server_name;                  /* the TLS name override, or NULL */
        char *target;
        char *bearer_token;                 /* sent when a call's options carry none */
        bool failover;
        struct rpc_failover fo;             /* with defaults filled in */
        atomic_uint reopened;
};

/* fresh: its own subchannel pool, so the new grpc_channel opens a new
 * connection instead of sharing the one a previous channel holds. */
static struct rpc_conn *conn_new(const struct rpc_channel *c, bool fresh)
{
        grpc_arg args[4];
        size_t n = 0;
        args[n].type = GRPC_ARG_INTEGER;
        args[n].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
        args[n++].value.integer = (int)RPC_DEFAULT_MAX_MESSAGE_BYTES;
        /* Fail fast when the server is down instead of backing off for minutes. */
        args[n].type = GRPC_ARG_INTEGER;
        args[n].key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
        args[n++].value.integer = 1000;
        if (c->server_name) {
                args[n].type = GRPC_ARG_STRING;
                args[n].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
                args[n++].value.string = c->server_name;
        }
        if (fresh) {
                args[n].type = GRPC_ARG_INTEGER;
                args[n].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
                args[n++].value.integer = 1;
        }
        grpc_channel_args cargs = { .num_args = n, .args = args };
        struct rpc_conn *k = calloc(1, sizeof(*k));
        if (!k)
                return NULL;
        k->ch = grpc_channel_create(c->target, c->creds, &cargs);
        atomic_init(&k->refs, 1);
        atomic_init(&k->stale, false);
        return k;
}

void rpc_conn_release(struct rpc_conn *k)
{
        if (k && atomic_fetch_sub(&k->refs, 1) == 1) {
                grpc_channel_destroy(k->ch);
                free(k);
        }
}

struct rpc_conn *rpc_conn_hold(struct rpc_conn *k)
{
        atomic_fetch_add(&k->refs, 1);
        return k;
}

grpc_channel *rpc_conn_grpc(const struct rpc_conn *k)
{
        return k->ch;
}

void rpc_conn_mark_stale(struct rpc_conn *k)
{
        atomic_store(&k->stale, true);
}

/* Under mu: swaps in a fresh connection (keeps the old one when memory is short). */
static void replace_locked(struct rpc_channel *c)
{
        struct rpc_conn *k = conn_new(c, true);
        if (!k)
                return;
        rpc_conn_release(c->conn);
        c->conn = k;
        atomic_fetch_add(&c->reopened, 1);
}

struct rpc_conn *rpc_conn_acquire(struct rpc_channel *c)
{
        pthread_mutex_lock(&c->mu);
        if (c->failover && atomic_load(&c->conn->stale))
                replace_locked(c);
        struct rpc_conn *k = c->conn;
        atomic_fetch_add(&k->refs, 1);
        pthread_mutex_unlock(&c->mu);
        return k;
}

void rpc_channel_reopen(struct rpc_channel *c, struct rpc_conn *seen)
{
        pthread_mutex_lock(&c->mu);
        if (c->conn == seen) /* else another thread has already */
                replace_locked(c);
        pthread_mutex_unlock(&c->mu);
}

int rpc_conn_wait_ready(struct rpc_conn *k, gpr_timespec deadline)
{
        grpc_connectivity_state s = grpc_channel_check_connectivity_state(k->ch, 1);
        if (s == GRPC_CHANNEL_READY)
                return 0;
        grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
        int r = 0;
        while (s != GRPC_CHANNEL_READY) {
                /* A fresh connection that failed goes to TRANSIENT_FAILURE and
                 * stays there through its back-off: say so at once. */
                if (s == GRPC_CHANNEL_TRANSIENT_FAILURE || s == GRPC_CHANNEL_SHUTDOWN) {
                        r = -ECONNREFUSED;
                        break;
                }
                grpc_channel_watch_connectivity_state(k->ch, s, deadline, cq, RPC_TAG(1));
                grpc_event ev = grpc_completion_queue_pluck(cq, RPC_TAG(1), gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
                        r = -ETIMEDOUT;
                        break;
                }
                s = grpc_channel_check_connectivity_state(k->ch, 1);
        }
        grpc_completion_queue_shutdown(cq);
        while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(cq);
        return r;
}

const struct rpc_failover *rpc_channel_failover(const struct rpc_channel *c)
{
        return c->failover ? &c->fo : NULL;
}

const char *rpc_channel_bearer(const struct rpc_channel *c)
{
        return c->bearer_token;
}

int rpc_channel_new(const char *target, const struct rpc_tls *tls, struct rpc_channel **ret,
                    struct ak_error *err)
{
        if (!target || !*target)
                return ak_error_set(err, -EINVAL, "empty target (want HOST:PORT or unix:PATH)");
        grpc_channel_credentials *creds;
        rpc_grpc_ref();
        if (tls) {
                int r = rpc_tls_channel_creds(tls, &creds, err);
                if (r < 0) {
                        rpc_grpc_unref();
                        return ak_error_wrap(err, "channel to %s", target);
                }
        } else {
                creds = grpc_insecure_credentials_create();
        }
        struct rpc_channel *c = calloc(1, sizeof(*c));
        if (c) {
                c->creds = creds;
                c->target = strdup(target);
                c->server_name = tls && tls->server_name ? strdup(tls->server_name) : NULL;
                pthread_mutex_init(&c->mu, NULL);
        }
        if (!c || !c->target || (tls && tls->server_name && !c->server_name) || !(c->conn = conn_new(c, false))) {
                if (c) {
                        free(c->target);
                        free(c->server_name);
                        pthread_mutex_destroy(&c->mu);
                }
                free(c);
                grpc_channel_credentials_release(creds);
                rpc_grpc_unref();
                return ak_error_errno(err, -ENOMEM, "channel to %s", target);
        }
        *ret = c;
        return 0;
}

void rpc_channel_free(struct rpc_channel *ch)
{
        if (!ch)
                return;
        rpc_conn_release(ch->conn);
        grpc_channel_credentials_release(ch->creds);
        free(ch->target);
        free(ch->server_name);
        rpc_channel_set_bearer_token(ch, NULL);
        pthread_mutex_destroy(&ch->mu);
        free(ch);
        rpc_grpc_unref();
}

const char *rpc_channel_target(const struct rpc_channel *ch)
{
        return ch->target;
}

int rpc_channel_set_bearer_token(struct rpc_channel *ch, const char *token)
{
        char *copy = NULL;
        if (token && !(copy = strdup(token)))
                return -ENOMEM;
        if (ch->bearer_token) {
                explicit_bzero(ch->bearer_token, strlen(ch->bearer_token));
                free(ch->bearer_token);
        }
        ch->bearer_token = copy;
        return 0;
}

int rpc_channel_set_failover(struct rpc_channel *ch, const struct rpc_failover *fo)
{
        if (fo && (fo->max_attempts > RPC_FAILOVER_MAX_ATTEMPTS || fo->first_backoff_ms < 0 ||
                   fo->max_backoff_ms < 0 || fo->budget_ms < 0))
                return -EINVAL;
        ch->failover = fo != NULL;
        if (!fo)
                return 0;
        ch->fo = *fo;
        if (!ch->fo.max_attempts)
                ch->fo.max_attempts = RPC_FAILOVER_DEFAULT_ATTEMPTS;
        if (!ch->fo.first_backoff_ms)
                ch->fo.first_backoff_ms = RPC_FAILOVER_DEFAULT_FIRST_BACKOFF_MS;
        if (!ch->fo.max_backoff_ms)
                ch->fo.max_backoff_ms = RPC_FAILOVER_DEFAULT_MAX_BACKOFF_MS;
        if (!ch->fo.budget_ms)
                ch->fo.budget_ms = RPC_FAILOVER_DEFAULT_BUDGET_MS;
        return 0;
}

unsigned rpc_channel_reopened(const struct rpc_channel *ch)
{
        return atomic_load(&((struct rpc_channel *)ch)->reopened);
}
