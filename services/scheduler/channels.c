#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "services/scheduler/channels.h"
#include "services/scheduler/strmap.h"

struct entry {
        struct rpc_channel *ch;
        int refs;
        int64_t last_used_ms;
};

struct channels {
        pthread_mutex_t lock;
        struct strmap *by_address;
        bool tls_on;
        struct rpc_tls tls;
        char *ca, *cert, *key, *server_name;
};

static char *dup_or_null(const char *s, bool *failed)
{
        if (!s)
                return NULL;
        char *d = strdup(s);
        if (!d)
                *failed = true;
        return d;
}

int channels_new(const struct rpc_tls *tls, struct channels **ret, struct ak_error *err)
{
        struct channels *c = calloc(1, sizeof(*c));
        if (!c)
                return ak_error_errno(err, -ENOMEM, "channel cache");
        pthread_mutex_init(&c->lock, NULL);
        c->by_address = strmap_new();
        bool failed = !c->by_address;
        if (tls) {
                c->tls_on = true;
                c->ca = dup_or_null(tls->ca_file, &failed);
                c->cert = dup_or_null(tls->cert_file, &failed);
                c->key = dup_or_null(tls->key_file, &failed);
                c->server_name = dup_or_null(tls->server_name, &failed);
                c->tls = (struct rpc_tls){ .ca_file = c->ca, .cert_file = c->cert, .key_file = c->key,
                                           .server_name = c->server_name };
        }
        if (failed) {
                channels_free(c);
                return ak_error_errno(err, -ENOMEM, "channel cache");
        }
        *ret = c;
        return 0;
}

void channels_free(struct channels *c)
{
        if (!c)
                return;
        if (c->by_address) {
                size_t pos = 0;
                void *v;
                while (strmap_next(c->by_address, &pos, NULL, NULL, &v)) {
                        struct entry *e = v;
                        rpc_channel_free(e->ch);
                        free(e);
                }
                strmap_free(c->by_address);
        }
        free(c->ca);
        free(c->cert);
        free(c->key);
        free(c->server_name);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

int channels_get(struct channels *c, const char *address, int64_t now_ms, struct rpc_channel **ret,
                 struct ak_error *err)
{
        int r = 0;
        pthread_mutex_lock(&c->lock);
        struct entry *e = strmap_get(c->by_address, address, strlen(address));
        if (!e) {
                e = calloc(1, sizeof(*e));
                if (!e) {
                        r = ak_error_errno(err, -ENOMEM, "channel to %s", address);
                        goto out;
                }
                r = rpc_channel_new(address, c->tls_on ? &c->tls : NULL, &e->ch, err);
                if (r == 0 && strmap_put(c->by_address, address, strlen(address), e) < 0) {
                        rpc_channel_free(e->ch);
                        r = ak_error_errno(err, -ENOMEM, "channel to %s", address);
                }
                if (r < 0) {
                        free(e);
                        goto out;
                }
        }
        e->refs++;
        e->last_used_ms = now_ms;
        *ret = e->ch;
out:
        pthread_mutex_unlock(&c->lock);
        return r;
}

void channels_put(struct channels *c, struct rpc_channel *ch, int64_t now_ms)
{
        const char *address = rpc_channel_target(ch);
        pthread_mutex_lock(&c->lock);
        struct entry *e = strmap_get(c->by_address, address, strlen(address));
        if (e && e->ch == ch) {
                e->refs--;
                e->last_used_ms = now_ms;
        }
        pthread_mutex_unlock(&c->lock);
}

int channels_prune(struct channels *c, int64_t now_ms, int64_t idle_ms)
{
        int n = 0;
        pthread_mutex_lock(&c->lock);
        for (bool again = true; again;) {
                again = false;
                size_t pos = 0;
                const char *key;
                size_t len;
                void *v;
                while (strmap_next(c->by_address, &pos, &key, &len, &v)) {
                        struct entry *e = v;
                        if (e->refs > 0 || now_ms - e->last_used_ms <= idle_ms)
                                continue;
                        /* Deleting reorders the table: start over. */
                        strmap_del(c->by_address, key, len);
                        rpc_channel_free(e->ch);
                        free(e);
                        n++;
                        again = true;
                        break;
                }
        }
        pthread_mutex_unlock(&c->lock);
        return n;
}
