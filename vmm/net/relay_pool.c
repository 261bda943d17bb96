/* Idle upstream connections of the secrets' relay; see relay_pool.h. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "vmm/net/relay_pool.h"

struct idle {
        struct idle *next;
        char key[RELAY_POOL_KEY_MAX];
        SSL *ssl;
        int fd;
        int64_t deadline_ms; /* ak_mono_ms at which the reaper closes it */
};

struct relay_pool {
        unsigned per_key, total, count;
        int idle_ms;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool closing;
        pthread_t reaper;
        struct idle *list; /* newest first */
        int64_t wake_ms;   /* when the reaper wakes next (it is told only of earlier deadlines) */
};

static void idle_close(struct idle *i)
{
        SSL_free(i->ssl);
        close(i->fd);
        free(i);
}

/* Closes every entry of a list unlink_if made (outside the pool's lock). */
static void idle_close_all(struct idle *dead)
{
        while (dead) {
                struct idle *i = dead;
                dead = i->next;
                idle_close(i);
        }
        ERR_clear_error();
}

/* Unlinks from the list every entry for which pick is true into *out. */
static void unlink_if(struct relay_pool *p, bool (*pick)(const struct idle *, const void *), const void *arg,
                      struct idle **out)
{
        for (struct idle **pp = &p->list; *pp;) {
                struct idle *i = *pp;
                if (!pick(i, arg)) {
                        pp = &i->next;
                        continue;
                }
                *pp = i->next;
                i->next = *out;
                *out = i;
                p->count--;
        }
}

static bool expired(const struct idle *i, const void *now)
{
        return i->deadline_ms <= *(const int64_t *)now;
}

static void *reaper_main(void *arg)
{
        struct relay_pool *p = arg;

        pthread_mutex_lock(&p->lock);
        while (!p->closing) {
                int64_t now = ak_mono_ms(), next = now + 3600 * 1000;
                struct idle *dead = NULL;
                unlink_if(p, expired, &now, &dead);
                for (struct idle *i = p->list; i; i = i->next)
                        next = i->deadline_ms < next ? i->deadline_ms : next;
                pthread_mutex_unlock(&p->lock);
                idle_close_all(dead);
                pthread_mutex_lock(&p->lock);
                if (p->closing)
                        break;
                p->wake_ms = next;
                struct timespec ts = ak_timespec_after(CLOCK_MONOTONIC, next - ak_mono_ms() + 1);
                pthread_cond_timedwait(&p->wake, &p->lock, &ts);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int relay_pool_new(unsigned per_key, unsigned total, int idle_ms, struct relay_pool **ret)
{
        pthread_condattr_t ca;
        struct relay_pool *p;
        int r;

        if (per_key < 1 || total < per_key || idle_ms < 1)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->per_key = per_key;
        p->total = total;
        p->idle_ms = idle_ms;
        pthread_mutex_init(&p->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->wake, &ca);
        pthread_condattr_destroy(&ca);
        r = pthread_create(&p->reaper, NULL, reaper_main, p);
        if (r != 0) {
                pthread_cond_destroy(&p->wake);
                pthread_mutex_destroy(&p->lock);
                free(p);
                return -r;
        }
        *ret = p;
        return 0;
}

void relay_pool_free(struct relay_pool *p)
{
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        p->closing = true;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->reaper, NULL);
        while (p->list) {
                struct idle *i = p->list;
                p->list = i->next;
                idle_close(i);
        }
        ERR_clear_error();
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        free(p);
}

/* Whether an idle connection is still fit: nothing to read, or only TLS
 * records that carry no data (a late session ticket). */
static bool fit(SSL *ssl, int fd)
{
        struct pollfd pfd = { fd, POLLIN, 0 };
        uint8_t b;
        size_t got = 0;

        if (SSL_pending(ssl))
                return false;
        if (poll(&pfd, 1, 0) == 0)
                return true;
        if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
                return false;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return false;
        int r = SSL_read_ex(ssl, &b, 1, &got);
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
        ERR_clear_error();
        if (fcntl(fd, F_SETFL, fl) < 0)
                return false;
        return r != 1 && e == SSL_ERROR_WANT_READ;
}

bool relay_pool_take(struct relay_pool *p, const char *key, SSL **ret_ssl, int *ret_fd)
{
        for (;;) {
                struct idle *found = NULL;
                pthread_mutex_lock(&p->lock);
                for (struct idle **pp = &p->list; *pp; pp = &(*pp)->next)
                        if (strcmp((*pp)->key, key) == 0) {
                                found = *pp;
                                *pp = found->next;
                                p->count--;
                                break;
                        }
                pthread_mutex_unlock(&p->lock);
                if (!found)
                        return false;
                if (fit(found->ssl, found->fd)) {
                        *ret_ssl = found->ssl;
                        *ret_fd = found->fd;
                        free(found);
                        return true;
                }
                idle_close(found);
        }
}

static bool same_key(const struct idle *i, const void *key)
{
        return strcmp(i->key, key) == 0;
}

void relay_pool_put(struct relay_pool *p, const char *key, SSL *ssl, int fd)
{
        struct idle *i = strlen(key) < RELAY_POOL_KEY_MAX ? calloc(1, sizeof(*i)) : NULL, *evict = NULL;

        if (!i) {
                SSL_free(ssl);
                close(fd);
                return;
        }
        memcpy(i->key, key, strlen(key) + 1);
        i->ssl = ssl;
        i->fd = fd;
        i->deadline_ms = ak_mono_ms() + p->idle_ms;
        pthread_mutex_lock(&p->lock);
        if (p->closing) {
                pthread_mutex_unlock(&p->lock);
                idle_close(i);
                return;
        }
        /* room for one more of this key and in all: the oldest go (the list
         * is newest first, so the last matching entries) */
        unsigned mine = 0;
        for (struct idle *x = p->list; x; x = x->next)
                mine += same_key(x, key);
        while (mine >= p->per_key || p->count >= p->total) {
                struct idle **last = NULL;
                for (struct idle **pp = &p->list; *pp; pp = &(*pp)->next)
                        if (mine < p->per_key || same_key(*pp, key))
                                last = pp;
                struct idle *x = *last;
                *last = x->next;
                x->next = evict;
                evict = x;
                p->count--;
                mine -= same_key(x, key);
        }
        i->next = p->list;
        p->list = i;
        p->count++;
        if (i->deadline_ms < p->wake_ms)
                pthread_cond_broadcast(&p->wake); /* else the reaper is due before this one expires: a
                                                   * wake-up per request would cost a context switch */
        pthread_mutex_unlock(&p->lock);
        while (evict) {
                struct idle *x = evict;
                evict = x->next;
                idle_close(x);
        }
}

static bool any(const struct idle *i, const void *arg)
{
        (void)i;
        (void)arg;
        return true;
}

void relay_pool_flush(struct relay_pool *p)
{
        struct idle *dead = NULL;

        pthread_mutex_lock(&p->lock);
        unlink_if(p, any, NULL, &dead);
        pthread_mutex_unlock(&p->lock);
        idle_close_all(dead);
}

unsigned relay_pool_idle(struct relay_pool *p)
{
        pthread_mutex_lock(&p->lock);
        unsigned n = p->count;
        pthread_mutex_unlock(&p->lock);
        return n;
}
