/* See netloop.h. Registrations live in an array indexed by fd, each with a
 * generation that epoll carries back (data.u64 = generation << 32 | fd), so
 * an event that epoll_wait returned before a netloop_del is recognised as
 * stale and dropped, even if the fd number has been reused since. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "vmm/net/netloop.h"

#define MAX_EVENTS 64

struct reg {
        netloop_fn fn;
        void *ctx;
        uint32_t gen;
        bool active;
};

struct netloop {
        int epfd, stopfd;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t idle; /* signalled when a handler returns */
        struct reg *regs;
        size_t n_regs;
        int running_fd; /* the fd whose handler runs now, -1 none */
        uint32_t running_gen;
};

static void *loop_main(void *arg)
{
        struct netloop *l = arg;
        struct epoll_event ev[MAX_EVENTS];
        for (;;) {
                int n = epoll_wait(l->epfd, ev, MAX_EVENTS, -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return NULL; /* EBADF/EINVAL: cannot happen while the loop lives */
                }
                for (int i = 0; i < n; i++) {
                        if (ev[i].data.u64 == UINT64_MAX)
                                return NULL; /* netloop_free */
                        int fd = (int)(uint32_t)ev[i].data.u64;
                        uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
                        pthread_mutex_lock(&l->lock);
                        struct reg *r = (size_t)fd < l->n_regs ? &l->regs[fd] : NULL;
                        if (!r || !r->active || r->gen != gen) {
                                pthread_mutex_unlock(&l->lock);
                                continue;
                        }
                        netloop_fn fn = r->fn;
                        void *ctx = r->ctx;
                        l->running_fd = fd;
                        l->running_gen = gen;
                        pthread_mutex_unlock(&l->lock);
                        fn(ctx, fd, ev[i].events);
                        pthread_mutex_lock(&l->lock);
                        l->running_fd = -1;
                        pthread_cond_broadcast(&l->idle);
                        pthread_mutex_unlock(&l->lock);
                }
        }
}

int netloop_new(struct netloop **ret, struct ak_error *err)
{
        struct netloop *l = calloc(1, sizeof(*l));
        if (!l)
                return ak_error_set(err, -ENOMEM, "out of memory");
        l->running_fd = -1;
        l->stopfd = -1;
        pthread_mutex_init(&l->lock, NULL);
        pthread_cond_init(&l->idle, NULL);
        int r;
        if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
            (l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
                r = ak_error_errno(err, -errno, "network loop: epoll/eventfd");
                goto fail;
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stopfd, &ev) < 0) {
                r = ak_error_errno(err, -errno, "network loop: epoll_ctl");
                goto fail;
        }
        if ((r = pthread_create(&l->thread, NULL, loop_main, l)) != 0) {
                r = ak_error_errno(err, -r, "network loop: thread");
                goto fail;
        }
        pthread_setname_np(l->thread, "ak-netloop");
        *ret = l;
        return 0;
fail:
        if (l->epfd >= 0)
                close(l->epfd);
        if (l->stopfd >= 0)
                close(l->stopfd);
        free(l);
        return r;
}

static struct netloop *shared_loop;
static int shared_err;
static struct ak_error shared_error;

static void shared_init(void)
{
        shared_err = netloop_new(&shared_loop, &shared_error);
}

int netloop_shared(struct netloop **ret, struct ak_error *err)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, shared_init);
        if (shared_err < 0)
                return ak_error_set(err, shared_err, "%s", shared_error.msg);
        *ret = shared_loop;
        return 0;
}

int netloop_add(struct netloop *l, int fd, uint32_t events, netloop_fn fn, void *ctx)
{
        if (fd < 0 || !fn)
                return -EINVAL;
        pthread_mutex_lock(&l->lock);
        int r = 0;
        if ((size_t)fd >= l->n_regs) {
                size_t n = (size_t)fd + 64;
                struct reg *regs = realloc(l->regs, n * sizeof(*regs));
                if (!regs) {
                        r = -ENOMEM;
                        goto out;
                }
                memset(regs + l->n_regs, 0, (n - l->n_regs) * sizeof(*regs));
                l->regs = regs;
                l->n_regs = n;
        }
        struct reg *reg = &l->regs[fd];
        if (reg->active) {
                r = -EEXIST;
                goto out;
        }
        reg->gen++;
        struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)reg->gen << 32 | (uint32_t)fd };
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                r = -errno;
                goto out;
        }
        reg->fn = fn;
        reg->ctx = ctx;
        reg->active = true;
out:
        pthread_mutex_unlock(&l->lock);
        return r;
}

int netloop_mod(struct netloop *l, int fd, uint32_t events)
{
        pthread_mutex_lock(&l->lock);
        int r = -ENOENT;
        if (fd >= 0 && (size_t)fd < l->n_regs && l->regs[fd].active) {
                struct epoll_event ev = { .events = events,
                                          .data.u64 = (uint64_t)l->regs[fd].gen << 32 | (uint32_t)fd };
                r = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
        }
        pthread_mutex_unlock(&l->lock);
        return r;
}

void netloop_del(struct netloop *l, int fd)
{
        pthread_mutex_lock(&l->lock);
        if (fd < 0 || (size_t)fd >= l->n_regs || !l->regs[fd].active) {
                pthread_mutex_unlock(&l->lock);
                return;
        }
        struct reg *reg = &l->regs[fd];
        uint32_t gen = reg->gen;
        (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        reg->active = false;
        /* Another thread waits out the handler; the loop's own thread is
         * the handler (or between handlers) and must not wait for itself. */
        if (!pthread_equal(pthread_self(), l->thread))
                while (l->running_fd == fd && l->running_gen == gen)
                        pthread_cond_wait(&l->idle, &l->lock);
        pthread_mutex_unlock(&l->lock);
}

void netloop_free(struct netloop *l)
{
        if (!l)
                return;
        uint64_t one = 1;
        if (write(l->stopfd, &one, sizeof(one)) == sizeof(one))
                pthread_join(l->thread, NULL);
        close(l->epfd);
        close(l->stopfd);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->idle);
        free(l->regs);
        free(l);
}

struct ns_call {
        int netns_fd;
        int (*fn)(void *);
        void *arg;
        int result;
};

static void *ns_call_main(void *p)
{
        struct ns_call *c = p;
        c->result = setns(c->netns_fd, CLONE_NEWNET) < 0 ? -errno : c->fn(c->arg);
        return NULL;
}

int netns_call(int netns_fd, int (*fn)(void *arg), void *arg)
{
        struct ns_call c = { netns_fd, fn, arg, -EIO };
        pthread_t t;
        int r = pthread_create(&t, NULL, ns_call_main, &c);
        if (r != 0)
                return -r;
        pthread_join(t, NULL);
        return c.result;
}

struct ns_socket {
        int domain, type, protocol;
};

static int ns_socket_main(void *p)
{
        struct ns_socket *s = p;
        int fd = socket(s->domain, s->type | SOCK_CLOEXEC, s->protocol);
        return fd < 0 ? -errno : fd;
}

int netns_socket(int netns_fd, int domain, int type, int protocol)
{
        struct ns_socket s = { domain, type, protocol };
        return netns_call(netns_fd, ns_socket_main, &s);
}
