/* The event loop: epoll, listeners, the signalfd that reaps children, timers
 * and deferred frees. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "guest/agent_impl.h"
#include "lib/base/time.h"

struct listener {
        struct obj obj;
        struct watch w;
        struct agent *agent;
        struct listener *next;
};

void agent_log(struct agent *a, const char *fmt, ...)
{
        char buf[512];
        va_list ap;

        if (!a->opts.log)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        a->opts.log(buf);
}

void obj_kill(struct agent *a, struct obj *o)
{
        if (o->dead)
                return;
        o->dead = true;
        o->next_dead = a->dead;
        a->dead = o;
}

static void free_dead(struct agent *a)
{
        while (a->dead) {
                struct obj *o = a->dead;
                a->dead = o->next_dead;
                o->free(o);
        }
}

void watch_init(struct watch *w, int fd, struct obj *owner, void (*cb)(struct watch *, uint32_t))
{
        w->fd = fd;
        w->owner = owner;
        w->cb = cb;
        w->events = 0;
        w->added = false;
}

int watch_set(struct agent *a, struct watch *w, uint32_t events)
{
        struct epoll_event ev = { .events = events, .data.ptr = w };

        if (w->fd < 0)
                return -EBADF;
        if (w->added && w->events == events)
                return 0;
        if (!events) {
                if (w->added && epoll_ctl(a->epfd, EPOLL_CTL_DEL, w->fd, NULL) < 0)
                        return -errno;
                w->added = false;
                w->events = 0;
                return 0;
        }
        if (epoll_ctl(a->epfd, w->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->fd, &ev) < 0)
                return -errno;
        w->added = true;
        w->events = events;
        return 0;
}

void watch_close(struct agent *a, struct watch *w)
{
        if (w->fd < 0)
                return;
        if (w->added)
                epoll_ctl(a->epfd, EPOLL_CTL_DEL, w->fd, NULL);
        close(w->fd);
        w->fd = -1;
        w->added = false;
        w->events = 0;
}

int timer_arm(struct agent *a, struct watch *w, struct obj *owner, void (*cb)(struct watch *, uint32_t),
              uint64_t ms)
{
        struct itimerspec its = { 0 };

        if (w->fd < 0) {
                if (!ms)
                        return 0;
                int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
                if (fd < 0)
                        return -errno;
                watch_init(w, fd, owner, cb);
                int r = watch_set(a, w, EPOLLIN);
                if (r < 0) {
                        watch_close(a, w);
                        return r;
                }
        }
        its.it_value.tv_sec = (time_t)(ms / 1000);
        its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
        if (timerfd_settime(w->fd, 0, &its, NULL) < 0)
                return -errno;
        return 0;
}

void child_add(struct agent *a, struct child *c)
{
        c->next = a->children;
        a->children = c;
}

void child_remove(struct agent *a, struct child *c)
{
        for (struct child **p = &a->children; *p; p = &(*p)->next) {
                if (*p == c) {
                        *p = c->next;
                        c->next = NULL;
                        return;
                }
        }
}

static void reap_children(struct agent *a)
{
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);
                if (pid <= 0)
                        return;
                /* Unknown pids are orphans (init mode) or children of objects
                 * already freed: reaping them is all there is to do. */
                for (struct child *c = a->children; c; c = c->next) {
                        if (c->pid != pid)
                                continue;
                        child_remove(a, c);
                        if (!c->owner->dead)
                                c->exited(c, status);
                        break;
                }
        }
}

static void on_signal(struct watch *w, uint32_t events)
{
        struct agent *a = container_of(w, struct agent, sig);
        struct signalfd_siginfo si;
        bool chld = false;

        while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGCHLD) {
                        chld = true;
                } else if (!a->opts.init_mode) {
                        agent_log(a, "signal %u: stopping", si.ssi_signo);
                        a->quit = true;
                        a->result = 0;
                }
        }
        if (chld)
                reap_children(a);
}

static void set_listeners(struct agent *a, bool on)
{
        for (struct listener *l = a->listeners; l; l = l->next)
                watch_set(a, &l->w, on ? EPOLLIN : 0);
        a->listeners_paused = !on;
}

void agent_conn_closed(struct agent *a)
{
        a->n_conns--;
        if (a->opts.exit_when_idle && a->n_conns == 0)
                a->quit = true;
        if (a->listeners_paused)
                set_listeners(a, true);
}

static void on_accept(struct watch *w, uint32_t events)
{
        struct listener *l = container_of(w, struct listener, w);
        struct agent *a = l->agent;

        for (int i = 0; i < 64; i++) {
                if (a->n_conns >= AGENT_MAX_CONNS) {
                        set_listeners(a, false);
                        return;
                }
                int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                return;
                        agent_log(a, "accept: %s", strerror(errno));
                        /* Out of fds: stop accepting until a connection goes. */
                        if (a->n_conns > 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM))
                                set_listeners(a, false);
                        return;
                }
                int r = conn_new(a, fd);
                if (r < 0) {
                        agent_log(a, "connection: %s", strerror(-r));
                        close(fd);
                        continue;
                }
                a->n_conns++;
        }
}

static void listener_free(struct obj *o)
{
        struct listener *l = container_of(o, struct listener, obj);

        watch_close(l->agent, &l->w);
        free(l);
}

static int listen_fd(const char *spec, int *ret_fd)
{
        int fd;

        if (strncmp(spec, "vsock:", 6) == 0) {
                char *end;
                errno = 0;
                unsigned long port = strtoul(spec + 6, &end, 10);
                if (!spec[6] || *end || errno || port > UINT32_MAX)
                        return -EINVAL;
                struct sockaddr_vm addr = {
                        .svm_family = AF_VSOCK,
                        .svm_port = (unsigned)port,
                        .svm_cid = VMADDR_CID_ANY,
                };
                fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return -errno;
                if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
                        goto fail;
        } else if (strncmp(spec, "unix:", 5) == 0) {
                const char *path = spec + 5;
                struct sockaddr_un addr = { .sun_family = AF_UNIX };
                if (!*path || strlen(path) >= sizeof(addr.sun_path))
                        return -EINVAL;
                memcpy(addr.sun_path, path, strlen(path) + 1);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return -errno;
                struct stat st;
                if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                        unlink(path);
                if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
                        goto fail;
        } else {
                return -EINVAL;
        }
        if (listen(fd, 128) < 0)
                goto fail;
        *ret_fd = fd;
        return 0;
fail:;
        int e = -errno;
        close(fd);
        return e;
}

int agent_listen(struct agent *a, const char *spec)
{
        int fd, r;

        r = listen_fd(spec, &fd);
        if (r < 0)
                return r;
        struct listener *l = calloc(1, sizeof(*l));
        if (!l) {
                close(fd);
                return -ENOMEM;
        }
        l->obj.free = listener_free;
        l->agent = a;
        watch_init(&l->w, fd, &l->obj, on_accept);
        r = watch_set(a, &l->w, EPOLLIN);
        if (r < 0) {
                listener_free(&l->obj);
                return r;
        }
        l->next = a->listeners;
        a->listeners = l;
        return 0;
}

int agent_adopt(struct agent *a, int fd)
{
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;
        int r = conn_new(a, fd);
        if (r < 0)
                return r;
        a->n_conns++;
        return 0;
}

static struct obj agent_obj = { .dead = false };

int agent_new(const struct agent_options *opts, struct agent **ret)
{
        sigset_t mask;
        int r;

        struct agent *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->opts = *opts;
        a->epfd = -1;
        a->sig.fd = -1;
        a->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        a->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (a->epfd < 0) {
                r = -errno;
                goto fail;
        }
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                r = -errno;
                goto fail;
        }
        int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
                r = -errno;
                goto fail;
        }
        watch_init(&a->sig, sfd, &agent_obj, on_signal);
        r = watch_set(a, &a->sig, EPOLLIN);
        if (r < 0)
                goto fail;
        *ret = a;
        return 0;
fail:
        agent_free(a);
        return r;
}

int agent_run(struct agent *a)
{
        struct epoll_event evs[64];

        a->quit = false;
        a->result = 0;
        /* Children that exited before the loop started. */
        reap_children(a);
        while (!a->quit) {
                int timeout = -1;
                if (a->shutdown_requested) {
                        uint64_t now = ak_mono_ms();
                        if (!a->shutdown_conn || conn_queued(a->shutdown_conn) == 0 ||
                            now >= a->shutdown_deadline_ms) {
                                a->result = 1;
                                break;
                        }
                        timeout = (int)(a->shutdown_deadline_ms - now);
                        if (timeout > 10)
                                timeout = 10;
                }
                int n = epoll_wait(a->epfd, evs, 64, timeout);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < n; i++) {
                        struct watch *w = evs[i].data.ptr;
                        if (w->owner->dead)
                                continue;
                        w->cb(w, evs[i].events);
                }
                free_dead(a);
        }
        return a->result;
}

void agent_free(struct agent *a)
{
        if (!a)
                return;
        while (a->conns)
                conn_kill(a->conns);
        free_dead(a);
        while (a->listeners) {
                struct listener *l = a->listeners;
                a->listeners = l->next;
                listener_free(&l->obj);
        }
        watch_close(a, &a->sig);
        if (a->epfd >= 0)
                close(a->epfd);
        if (a->devnull >= 0)
                close(a->devnull);
        free(a);
}
