#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/time.h"
#include "vmm/virtio/vhost_user.h"
#include "vmm/virtio/vsock_bridge.h"

#define LINE_MAX_LEN 32

enum watch_kind {
        W_STOP,
        W_VHOST_LISTEN,
        W_VHOST_CONN,
        W_KICK_RX,
        W_KICK_TX,
        W_UDS_LISTEN,
        W_DEV,
        W_LINE,
};

struct watch {
        enum watch_kind kind;
};

/* A host connection that has not sent its whole CONNECT line yet. */
struct line_conn {
        struct watch w;
        int fd;
        char buf[LINE_MAX_LEN + 1];
        unsigned len;
        uint64_t deadline_ms;
        struct line_conn *next, *prev;
};

struct vsock_bridge {
        _Atomic pid_t tid;   /* the thread's, once it runs */
        char *vhost_path, *uds_path;
        int epfd, stop_fd, vhost_listen_fd, vhost_fd, uds_listen_fd;
        struct watch w_stop, w_vhost_listen, w_vhost_conn, w_kick[2], w_uds_listen, w_dev;
        unsigned kick_gen[2];
        int kick_watched[2];
        struct vhost_user *vu;
        struct vhost_user_backend be;
        struct vsock_dev *dev;
        struct line_conn *lines;
        unsigned n_lines;
        pthread_t thread;
        bool started;
        pthread_mutex_t lock; /* guards stats and running for other threads */
        struct vsock_dev_stats stats;
        bool running;
};

static int ep_add(struct vsock_bridge *b, int fd, uint32_t events, struct watch *w)
{
        struct epoll_event e = { .events = events, .data.ptr = w };
        return epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static int listen_unix(const char *path, int *ret_fd, struct ak_error *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof(sa.sun_path))
                return ak_error_set(err, -ENAMETOOLONG, "socket path %s: longer than %zu bytes", path,
                                    sizeof(sa.sun_path) - 1);
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return ak_error_errno(err, -errno, "socket for %s", path);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return ak_error_errno(err, -errno, "bind %s", path);
        /* vsock.sock is root in the guest: its owner only, whatever the umask. */
        int r = ak_private_file(path, err);
        if (r < 0)
                return r;
        if (listen(fd, 64) < 0)
                return ak_error_errno(err, -errno, "listen %s", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static void be_get_config(void *userdata, uint8_t *buf)
{
        struct vsock_bridge *b = userdata;
        vsock_dev_get_config(b->dev, buf);
}

static void dev_notify(void *userdata, unsigned queue)
{
        struct vsock_bridge *b = userdata;
        vhost_user_notify(b->vu, queue);
}

static int dev_connect(void *userdata, uint32_t port, int *ret_fd)
{
        struct vsock_bridge *b = userdata;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", b->uds_path, port) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

static const struct vsock_dev_ops dev_ops = {
        .connect = dev_connect,
        .notify = dev_notify,
};

int vsock_bridge_new(const struct vsock_bridge_config *cfg, struct vsock_bridge **ret, struct ak_error *err)
{
        struct vsock_bridge *b = calloc(1, sizeof(*b));
        int r;

        if (!b)
                return ak_error_set(err, -ENOMEM, "out of memory");
        b->epfd = b->stop_fd = b->vhost_listen_fd = b->vhost_fd = b->uds_listen_fd = -1;
        b->kick_watched[0] = b->kick_watched[1] = 0;
        pthread_mutex_init(&b->lock, NULL);
        b->w_stop.kind = W_STOP;
        b->w_vhost_listen.kind = W_VHOST_LISTEN;
        b->w_vhost_conn.kind = W_VHOST_CONN;
        b->w_kick[0].kind = W_KICK_RX;
        b->w_kick[1].kind = W_KICK_TX;
        b->w_uds_listen.kind = W_UDS_LISTEN;
        b->w_dev.kind = W_DEV;
        b->vhost_path = strdup(cfg->vhost_path);
        b->uds_path = strdup(cfg->uds_path);
        if (!b->vhost_path || !b->uds_path) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        struct vsock_dev_config dc = { .guest_cid = cfg->guest_cid, .connect_timeout_ms = cfg->connect_timeout_ms };
        r = vsock_dev_new(&dc, &dev_ops, b, &b->dev);
        if (r < 0) {
                ak_error_errno(err, r, "vsock device for guest CID %llu", (unsigned long long)cfg->guest_cid);
                goto fail;
        }
        b->be = (struct vhost_user_backend){
                /* Linux uses indirect descriptors for its two-part tx
                 * packets when offered, and event idx saves notifications. */
                .features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
                            (1ull << VIRTIO_RING_F_EVENT_IDX),
                .n_queues = 2, /* rx, tx; QEMU itself serves the event queue */
                .config_size = VSOCK_DEV_CONFIG_SIZE,
                .get_config = be_get_config,
        };
        r = vhost_user_new(&b->be, b, &b->vu);
        if (r < 0) {
                ak_error_errno(err, r, "vhost-user state");
                goto fail;
        }
        b->epfd = epoll_create1(EPOLL_CLOEXEC);
        b->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (b->epfd < 0 || b->stop_fd < 0) {
                r = ak_error_errno(err, -errno, "epoll/eventfd");
                goto fail;
        }
        if ((r = listen_unix(b->vhost_path, &b->vhost_listen_fd, err)) < 0)
                goto fail;
        if ((r = listen_unix(b->uds_path, &b->uds_listen_fd, err)) < 0)
                goto fail;
        if ((r = ep_add(b, b->stop_fd, EPOLLIN, &b->w_stop)) < 0 ||
            (r = ep_add(b, b->vhost_listen_fd, EPOLLIN, &b->w_vhost_listen)) < 0 ||
            (r = ep_add(b, b->uds_listen_fd, EPOLLIN, &b->w_uds_listen)) < 0 ||
            (r = ep_add(b, vsock_dev_fd(b->dev), EPOLLIN, &b->w_dev)) < 0) {
                ak_error_errno(err, r, "epoll_ctl");
                goto fail;
        }
        *ret = b;
        return 0;
fail:
        vsock_bridge_free(b);
        return r;
}

static void line_free(struct vsock_bridge *b, struct line_conn *l)
{
        if (l->prev)
                l->prev->next = l->next;
        else
                b->lines = l->next;
        if (l->next)
                l->next->prev = l->prev;
        if (l->fd >= 0)
                close(l->fd);
        b->n_lines--;
        free(l);
}

static void vhost_disconnect(struct vsock_bridge *b)
{
        if (b->vhost_fd >= 0)
                close(b->vhost_fd);
        b->vhost_fd = -1;
        vhost_user_reset(b->vu);
        vsock_dev_set_queues(b->dev, NULL, NULL);
        b->kick_watched[0] = b->kick_watched[1] = 0;
}

/* After each vhost-user message: hand the rings to the device and watch
 * the current kick fds (closing an fd took the old one out of epoll). */
static void sync_queues(struct vsock_bridge *b)
{
        for (unsigned q = 0; q < 2; q++) {
                unsigned gen;
                int fd = vhost_user_kick_fd(b->vu, q, &gen);
                if (b->kick_watched[q] && b->kick_gen[q] == gen)
                        continue;
                b->kick_watched[q] = 0;
                b->kick_gen[q] = gen;
                if (fd >= 0 && ep_add(b, fd, EPOLLIN, &b->w_kick[q]) == 0)
                        b->kick_watched[q] = 1;
        }
        vsock_dev_set_queues(b->dev, vhost_user_queue(b->vu, VSOCK_QUEUE_RX), vhost_user_queue(b->vu, VSOCK_QUEUE_TX));
        /* Buffers may be waiting already. */
        if (vsock_dev_running(b->dev)) {
                vsock_dev_process_tx(b->dev);
                vsock_dev_process_rx(b->dev);
        }
}

static void on_vhost_listen(struct vsock_bridge *b)
{
        int fd = accept4(b->vhost_listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                return;
        if (b->vhost_fd >= 0) { /* one front-end at a time */
                close(fd);
                return;
        }
        /* A front-end that stops mid-message must not wedge the loop. */
        struct timeval tv = { 5, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        b->vhost_fd = fd;
        if (ep_add(b, fd, EPOLLIN, &b->w_vhost_conn) < 0)
                vhost_disconnect(b);
}

static void on_vhost_conn(struct vsock_bridge *b)
{
        if (vhost_user_serve_one(b->vu, b->vhost_fd) < 0)
                vhost_disconnect(b);
        sync_queues(b);
}

static void on_kick(struct vsock_bridge *b, unsigned q)
{
        uint64_t v;
        int fd = vhost_user_kick_fd(b->vu, q, NULL);

        if (fd >= 0)
                (void)!read(fd, &v, sizeof(v));
        if (!vsock_dev_running(b->dev))
                return;
        if (q == VSOCK_QUEUE_TX)
                vsock_dev_process_tx(b->dev);
        else
                vsock_dev_process_rx(b->dev);
}

static void on_uds_listen(struct vsock_bridge *b)
{
        for (;;) {
                int fd = accept4(b->uds_listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0)
                        return;
                struct line_conn *l = NULL;
                if (b->n_lines >= VSOCK_BRIDGE_MAX_PENDING || !(l = calloc(1, sizeof(*l)))) {
                        close(fd);
                        continue;
                }
                l->w.kind = W_LINE;
                l->fd = fd;
                l->deadline_ms = ak_mono_ms() + VSOCK_BRIDGE_LINE_TIMEOUT_MS;
                l->next = b->lines;
                if (b->lines)
                        b->lines->prev = l;
                b->lines = l;
                b->n_lines++;
                if (ep_add(b, fd, EPOLLIN, &l->w) < 0)
                        line_free(b, l);
        }
}

/* "CONNECT <port>\n", the port in decimal without sign or leading zeros. */
static int parse_connect(const char *s, uint32_t *ret_port)
{
        if (strncmp(s, "CONNECT ", 8) != 0)
                return -EINVAL;
        s += 8;
        if (!*s || (s[0] == '0' && s[1] != '\n'))
                return -EINVAL;
        uint64_t v = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
                v = v * 10 + (uint64_t)(*s - '0');
                if (v > UINT32_MAX)
                        return -EINVAL;
        }
        if (s[0] != '\n' || s[1])
                return -EINVAL;
        *ret_port = (uint32_t)v;
        return 0;
}

/* Reads the CONNECT line without taking a byte past its newline: what
 * follows belongs to the guest. */
static void on_line(struct vsock_bridge *b, struct line_conn *l)
{
        char peek[LINE_MAX_LEN];
        size_t room = LINE_MAX_LEN - l->len;
        ssize_t n = recv(l->fd, peek, room, MSG_PEEK);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                line_free(b, l);
                return;
        }
        char *nl = memchr(peek, '\n', (size_t)n);
        size_t take = nl ? (size_t)(nl - peek) + 1 : (size_t)n;
        if (recv(l->fd, l->buf + l->len, take, 0) != (ssize_t)take) {
                line_free(b, l);
                return;
        }
        l->len += take;
        l->buf[l->len] = 0;
        if (!nl) {
                if (l->len >= LINE_MAX_LEN)
                        line_free(b, l); /* no newline in 32 bytes: not our protocol */
                return;
        }
        uint32_t port;
        int fd = l->fd;
        if (parse_connect(l->buf, &port) < 0) {
                line_free(b, l);
                return;
        }
        /* The device watches the fd from now on. */
        epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, NULL);
        l->fd = -1;
        line_free(b, l);
        if (vsock_dev_host_connect(b->dev, fd, port) < 0)
                close(fd);
}

static int loop_timeout(struct vsock_bridge *b)
{
        int t = vsock_dev_timeout_ms(b->dev);
        if (b->lines) {
                uint64_t now = ak_mono_ms();
                for (struct line_conn *l = b->lines; l; l = l->next) {
                        int left = l->deadline_ms <= now ? 0 : (int)(l->deadline_ms - now);
                        if (t < 0 || left < t)
                                t = left;
                }
        }
        return t;
}

static void expire_lines(struct vsock_bridge *b)
{
        uint64_t now = ak_mono_ms();
        struct line_conn *l = b->lines;
        while (l) {
                struct line_conn *next = l->next;
                if (l->deadline_ms <= now)
                        line_free(b, l);
                l = next;
        }
}

static void publish(struct vsock_bridge *b)
{
        pthread_mutex_lock(&b->lock);
        vsock_dev_get_stats(b->dev, &b->stats);
        b->running = vsock_dev_running(b->dev);
        pthread_mutex_unlock(&b->lock);
}

static void *bridge_main(void *arg)
{
        struct vsock_bridge *b = arg;
        struct epoll_event evs[32];

        atomic_store(&b->tid, (pid_t)syscall(SYS_gettid));

        for (;;) {
                int n = epoll_wait(b->epfd, evs, 32, loop_timeout(b));
                if (n < 0 && errno != EINTR)
                        break;
                for (int i = 0; i < n; i++) {
                        struct watch *w = evs[i].data.ptr;
                        switch (w->kind) {
                        case W_STOP:
                                return NULL;
                        case W_VHOST_LISTEN:
                                on_vhost_listen(b);
                                break;
                        case W_VHOST_CONN:
                                if (b->vhost_fd >= 0)
                                        on_vhost_conn(b);
                                break;
                        case W_KICK_RX:
                                on_kick(b, VSOCK_QUEUE_RX);
                                break;
                        case W_KICK_TX:
                                on_kick(b, VSOCK_QUEUE_TX);
                                break;
                        case W_UDS_LISTEN:
                                on_uds_listen(b);
                                break;
                        case W_DEV:
                                vsock_dev_host_events(b->dev);
                                break;
                        case W_LINE:
                                on_line(b, (struct line_conn *)w);
                                /* Later events of this batch may name a freed line:
                                 * lines are only freed here, so stop the batch. */
                                i = n;
                                break;
                        }
                }
                expire_lines(b);
                vsock_dev_tick(b->dev);
                publish(b);
        }
        return NULL;
}

int vsock_bridge_start(struct vsock_bridge *b, struct ak_error *err)
{
        int r = pthread_create(&b->thread, NULL, bridge_main, b);
        if (r)
                return ak_error_errno(err, -r, "start the vsock bridge thread");
        b->started = true;
        /* Its id, for callers that confine it (a cgroup): known at once. */
        struct timespec ms = { 0, 1000 * 1000 };
        while (!atomic_load(&b->tid))
                nanosleep(&ms, NULL);
        return 0;
}

pid_t vsock_bridge_tid(struct vsock_bridge *b)
{
        return atomic_load(&b->tid);
}

void vsock_bridge_free(struct vsock_bridge *b)
{
        if (!b)
                return;
        if (b->started) {
                uint64_t one = 1;
                (void)!write(b->stop_fd, &one, sizeof(one));
                pthread_join(b->thread, NULL);
        }
        while (b->lines)
                line_free(b, b->lines);
        vsock_dev_free(b->dev);
        vhost_user_free(b->vu);
        if (b->vhost_fd >= 0)
                close(b->vhost_fd);
        if (b->vhost_listen_fd >= 0) {
                close(b->vhost_listen_fd);
                unlink(b->vhost_path);
        }
        if (b->uds_listen_fd >= 0) {
                close(b->uds_listen_fd);
                unlink(b->uds_path);
        }
        if (b->stop_fd >= 0)
                close(b->stop_fd);
        if (b->epfd >= 0)
                close(b->epfd);
        pthread_mutex_destroy(&b->lock);
        free(b->vhost_path);
        free(b->uds_path);
        free(b);
}

void vsock_bridge_get_stats(struct vsock_bridge *b, struct vsock_dev_stats *ret)
{
        pthread_mutex_lock(&b->lock);
        *ret = b->stats;
        pthread_mutex_unlock(&b->lock);
}

int vsock_bridge_device_running(struct vsock_bridge *b)
{
        pthread_mutex_lock(&b->lock);
        int r = b->running;
        pthread_mutex_unlock(&b->lock);
        return r;
}
