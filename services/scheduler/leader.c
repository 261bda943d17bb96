/* --leader-elect wiring (leader.h). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/parse.h"
#include "lib/base/time.h"
#include "services/scheduler/leader.h"
#include "services/scheduler/lease_record.h"

struct leader {
        struct lease_config cfg;
        rpc_authorize_fn inner;
        void *inner_data;
        pthread_mutex_t mu;
        struct rpc_server *srv, *health; /* under mu; NULL once stopped */
        struct lease_elector *elector;   /* set by start, read by authorize */
        bool stopped;
        unsigned warmup_ms;
        int64_t leading_since_ms;        /* under mu; 0 while not leading */
        char identity[LEASE_HOLDER_SIZE]; /* ours, once leading */
};

int leader_flags_take(struct leader_flags *f, int opt, const char *arg, struct ak_error *err)
{
        struct lease_config *c = &f->lease;
        switch (opt) {
        case LEADER_OPT_ELECT: f->elect = true; return 1;
        case LEADER_OPT_NAME: c->name = arg; return 1;
        case LEADER_OPT_NAMESPACE: c->ns = arg; return 1;
        case LEADER_OPT_IDENTITY: c->identity = arg; return 1;
        case LEADER_OPT_API: c->api_server = arg; return 1;
        case LEADER_OPT_TOKEN: c->token_file = arg; return 1;
        case LEADER_OPT_CA: c->ca_file = arg; return 1;
        case LEADER_OPT_DURATION:
                if (ak_parse_uint(arg, 1, 3600, &c->duration_s) < 0) {
                        ak_error_set(err, -EINVAL, "--lease-duration-s %s: want a whole number from 1 to 3600", arg);
                        return -1;
                }
                return 1;
        default: return 0;
        }
}

const char *leader_flags_problem(const struct leader_flags *f)
{
        const struct lease_config *c = &f->lease;
        if (!f->elect && (c->name || c->ns || c->identity || c->api_server || c->token_file || c->ca_file ||
                          c->duration_s))
                return "--lease-*/--api-* need --leader-elect";
        return NULL;
}

/* On the elector's thread: health follows leadership. */
static void on_change(void *data, bool leading, const char *holder)
{
        struct leader *l = data;
        pthread_mutex_lock(&l->mu);
        if (leading && !l->leading_since_ms)
                snprintf(l->identity, sizeof(l->identity), "%s", holder);
        l->leading_since_ms = leading ? (l->leading_since_ms ? l->leading_since_ms : ak_mono_ms()) : 0;
        if (l->srv)
                rpc_server_set_serving(l->srv, leading);
        if (l->health)
                rpc_server_set_serving(l->health, leading);
        pthread_mutex_unlock(&l->mu);
}

int leader_new(const struct leader_flags *f, rpc_authorize_fn inner, void *inner_data,
               void (*log)(void *data, const char *line), struct leader **ret, struct ak_error *err)
{
        struct leader *l = calloc(1, sizeof(*l));
        if (!l)
                return ak_error_set(err, -ENOMEM, "out of memory");
        l->cfg = f->lease;
        l->cfg.on_change = on_change;
        l->cfg.log = log;
        l->cfg.data = l;
        l->inner = inner;
        l->inner_data = inner_data;
        l->warmup_ms = f->warmup_ms;
        pthread_mutex_init(&l->mu, NULL);
        *ret = l;
        return 0;
}

/* An executor's own call, which a new leader takes during its warm-up. */
static bool executor_call(struct rpc_call *call)
{
        const char *m = rpc_call_method(call);
        return strcmp(m, "/ak.v1.Scheduler/RegisterExecutor") == 0 || strcmp(m, "/ak.v1.Scheduler/Heartbeat") == 0;
}

int leader_authorize(struct rpc_call *call, void *data)
{
        struct leader *l = data;
        char holder[LEASE_HOLDER_SIZE] = "";

        pthread_mutex_lock(&l->mu);
        struct lease_elector *e = l->stopped ? NULL : l->elector;
        bool leading = e && lease_elector_is_leader(e);
        if (e && !leading)
                lease_elector_holder(e, holder, sizeof(holder));
        int64_t since = l->leading_since_ms;
        if (leading)
                snprintf(holder, sizeof(holder), "%s", l->identity);
        pthread_mutex_unlock(&l->mu);
        /* since 0: leading, but on_change has not run yet: warming up too. */
        if (leading && (!since || ak_mono_ms() - since < l->warmup_ms) && !executor_call(call))
                return rpc_call_refuse_elsewhere(call, holder,
                                                 "this scheduler became leader %lld ms ago and waits %u ms for "
                                                 "executors to register again: retry shortly",
                                                 (long long)(ak_mono_ms() - since), l->warmup_ms);
        if (leading)
                return l->inner ? l->inner(call, l->inner_data) : RPC_OK;
        /* Refused before the request is read: the trailer tells lib/rpc's
         * client it may send the call again, whatever it is. */
        if (!e)
                return rpc_call_refuse_elsewhere(call, "", "this scheduler is shutting down: retry through the "
                                                           "Service");
        if (!*holder)
                return rpc_call_refuse_elsewhere(call, "", "no scheduler leads yet (Lease %s): retry shortly",
                                                 lease_elector_lease(e));
        return rpc_call_refuse_elsewhere(call, holder,
                                         "this scheduler is a follower; the leader is %s (Lease %s): retry "
                                         "through the Service",
                                         holder, lease_elector_lease(e));
}

int leader_start(struct leader *l, struct rpc_server *srv, struct rpc_server *health, struct ak_error *err)
{
        struct lease_elector *e;
        pthread_mutex_lock(&l->mu);
        l->srv = srv;
        l->health = health;
        rpc_server_set_serving(srv, false);
        if (health)
                rpc_server_set_serving(health, false);
        pthread_mutex_unlock(&l->mu);
        int r = lease_elector_new(&l->cfg, &e, err);
        if (r < 0)
                return ak_error_wrap(err, "--leader-elect");
        pthread_mutex_lock(&l->mu);
        l->elector = e;
        pthread_mutex_unlock(&l->mu);
        return 0;
}

void leader_stop(struct leader *l)
{
        if (!l)
                return;
        pthread_mutex_lock(&l->mu);
        bool was = l->stopped;
        l->stopped = true;
        pthread_mutex_unlock(&l->mu);
        if (was)
                return;
        /* authorize refuses from here on and health says NOT_SERVING before
         * the release below lets another replica lead at once. */
        pthread_mutex_lock(&l->mu);
        if (l->srv)
                rpc_server_set_serving(l->srv, false);
        if (l->health)
                rpc_server_set_serving(l->health, false);
        l->srv = l->health = NULL;
        pthread_mutex_unlock(&l->mu);
        lease_elector_stop(l->elector);
}

void leader_free(struct leader *l)
{
        if (!l)
                return;
        leader_stop(l);
        lease_elector_free(l->elector);
        pthread_mutex_destroy(&l->mu);
        free(l);
}
