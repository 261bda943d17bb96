#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "vmm/virtio/vhost_user.h"

/* Protocol features this back-end implements. */
#define SUPPORTED_PROTOCOL_FEATURES                                                                  \
        ((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |           \
         (1ull << VHOST_USER_PROTOCOL_F_CONFIG))

struct vu_queue {
        uint16_t num;
        bool addr_set;
        uint64_t desc_uva, avail_uva, used_uva;
        uint16_t base;        /* last_avail_idx from SET_VRING_BASE */
        int kick_fd, call_fd, err_fd;
        unsigned kick_gen;
        bool enabled;
        bool started;         /* mapped and processing */
        struct vq vq;
};

struct vhost_user {
        const struct vhost_user_backend *be;
        void *userdata;
        struct guest_mem *mem;
        uint64_t features;          /* acked by SET_FEATURES */
        uint64_t protocol_features; /* acked by SET_PROTOCOL_FEATURES */
        bool owner;
        struct vu_queue q[VHOST_USER_MAX_QUEUES];
};

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static void queue_clear(struct vu_queue *q)
{
        close_fd(&q->kick_fd);
        close_fd(&q->call_fd);
        close_fd(&q->err_fd);
        unsigned gen = q->kick_gen + 1;
        memset(q, 0, sizeof(*q));
        q->kick_fd = q->call_fd = q->err_fd = -1;
        q->kick_gen = gen;
}

int vhost_user_new(const struct vhost_user_backend *be, void *userdata, struct vhost_user **ret)
{
        if (be->n_queues == 0 || be->n_queues > VHOST_USER_MAX_QUEUES || be->config_size > VHOST_USER_MAX_CONFIG)
                return -EINVAL;
        struct vhost_user *vu = calloc(1, sizeof(*vu));
        if (!vu)
                return -ENOMEM;
        int r = guest_mem_new(&vu->mem);
        if (r < 0) {
                free(vu);
                return r;
        }
        vu->be = be;
        vu->userdata = userdata;
        for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++)
                vu->q[i].kick_fd = vu->q[i].call_fd = vu->q[i].err_fd = -1;
        *ret = vu;
        return 0;
}

void vhost_user_reset(struct vhost_user *vu)
{
        for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++)
                queue_clear(&vu->q[i]);
        guest_mem_set_table(vu->mem, NULL, NULL, 0);
        vu->features = 0;
        vu->protocol_features = 0;
        vu->owner = false;
}

void vhost_user_free(struct vhost_user *vu)
{
        if (!vu)
                return;
        for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++)
                queue_clear(&vu->q[i]);
        guest_mem_free(vu->mem);
        free(vu);
}

const char *vhost_user_request_name(uint32_t request)
{
        static const char *const names[] = {
                [VHOST_USER_GET_FEATURES] = "GET_FEATURES",
                [VHOST_USER_SET_FEATURES] = "SET_FEATURES",
                [VHOST_USER_SET_OWNER] = "SET_OWNER",
                [VHOST_USER_RESET_OWNER] = "RESET_OWNER",
                [VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
                [VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
                [VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
                [VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
                [VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
                [VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
                [VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
                [VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
                [VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
                [VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
                [VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
                [VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
                [VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
                [VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
                [VHOST_USER_GET_CONFIG] = "GET_CONFIG",
                [VHOST_USER_SET_CONFIG] = "SET_CONFIG",
        };
        if (request < AK_ARRAY_SIZE(names) && names[request])
                return names[request];
        return "UNKNOWN";
}

/* The rest of a message: 0, -EPROTO when it stops short (end of file, or
 * timed out mid-message), or -errno. */
static int read_rest(int fd, void *buf, size_t len)
{
        ssize_t n = ak_read_full(fd, buf, len);

        if (n == -EAGAIN || (n >= 0 && (size_t)n < len))
                return -EPROTO;
        return n < 0 ? (int)n : 0;
}

int vhost_user_recv(int fd, struct vhost_user_msg *ret_msg, int *ret_fds, unsigned *ret_nfds)
{
        union {
                char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
                struct cmsghdr align;
        } control;
        struct iovec iov = { ret_msg, VHOST_USER_HDR_SIZE };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        ssize_t n;

        *ret_nfds = 0;
        do
                n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0)
                return -ECONNRESET;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                unsigned k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (unsigned i = 0; i < k; i++) {
                        int f;
                        memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (*ret_nfds < VHOST_USER_MAX_FDS)
                                ret_fds[(*ret_nfds)++] = f;
                        else
                                close(f);
                }
        }
        if (mh.msg_flags & MSG_CTRUNC)
                return -EPROTO;
        if ((size_t)n < VHOST_USER_HDR_SIZE) {
                int r = read_rest(fd, (uint8_t *)ret_msg + n, VHOST_USER_HDR_SIZE - (size_t)n);
                if (r < 0)
                        return r;
        }
        if ((ret_msg->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION)
                return -EPROTO;
        if (ret_msg->size > VHOST_USER_MAX_PAYLOAD)
                return -EPROTO;
        if (ret_msg->size) {
                int r = read_rest(fd, (uint8_t *)ret_msg + VHOST_USER_HDR_SIZE, ret_msg->size);
                if (r < 0)
                        return r;
        }
        return 0;
}

int vhost_user_send(int fd, const struct vhost_user_msg *msg)
{
        size_t len = VHOST_USER_HDR_SIZE + msg->size, done = 0;

        if (msg->size > VHOST_USER_MAX_PAYLOAD)
                return -EINVAL;
        while (done < len) {
                ssize_t n = send(fd, (const uint8_t *)msg + done, len - done, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                done += (size_t)n;
        }
        return 0;
}

static uint64_t offered_features(const struct vhost_user *vu)
{
        return vu->be->features | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
}

static bool has_protocol(const struct vhost_user *vu, unsigned bit)
{
        return vu->protocol_features & (1ull << bit);
}

static void reply_u64(const struct vhost_user_msg *msg, struct vhost_user_msg *reply, uint64_t v)
{
        reply->request = msg->request;
        reply->flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
        reply->size = sizeof(uint64_t);
        reply->payload.u64 = v;
}

/* Maps a queue whose configuration is complete; stops it otherwise. */
static void queue_try_start(struct vhost_user *vu, struct vu_queue *q)
{
        q->started = false;
        if (!q->num || !q->addr_set || q->kick_fd < 0 || guest_mem_n_regions(vu->mem) == 0)
                return;
        bool indirect = vu->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
        bool event_idx = vu->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
        if (vq_map_uva(&q->vq, vu->mem, q->num, q->desc_uva, q->avail_uva, q->used_uva, q->base, indirect,
                       event_idx) < 0)
                return;
        q->started = true;
}

static int set_mem_table(struct vhost_user *vu, const struct vhost_user_msg *msg, int *fds, unsigned nfds)
{
        struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
        uint32_t n = msg->payload.mem.nregions;

        if (msg->size < 8 || n == 0 || n > GUEST_MEM_MAX_REGIONS || msg->size != 8 + n * sizeof(regions[0]) ||
            nfds != n)
                return -EINVAL;
        for (unsigned i = 0; i < n; i++) {
                struct vhost_user_region_msg m;
                memcpy(&m, (const uint8_t *)msg + VHOST_USER_HDR_SIZE + 8 + i * sizeof(m), sizeof(m));
                regions[i] = (struct guest_mem_region){ m.gpa, m.size, m.uva, m.mmap_offset };
        }
        /* The rings point into the old mapping: remember where each was. */
        uint16_t last[VHOST_USER_MAX_QUEUES];
        for (unsigned i = 0; i < vu->be->n_queues; i++)
                last[i] = vu->q[i].started ? vu->q[i].vq.last_avail_idx : vu->q[i].base;
        int r = guest_mem_set_table(vu->mem, regions, fds, n);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < vu->be->n_queues; i++) {
                vu->q[i].base = last[i];
                queue_try_start(vu, &vu->q[i]);
        }
        return 0;
}

static struct vu_queue *state_queue(struct vhost_user *vu, const struct vhost_user_msg *msg)
{
        if (msg->size != sizeof(msg->payload.state) || msg->payload.state.index >= vu->be->n_queues)
                return NULL;
        return &vu->q[msg->payload.state.index];
}

/* SET_VRING_KICK/CALL/ERR: the u64 carries the index and the NOFD flag. */
static int set_vring_fd(struct vhost_user *vu, const struct vhost_user_msg *msg, int *fds, unsigned nfds)
{
        if (msg->size != sizeof(uint64_t))
                return -EINVAL;
        uint64_t v = msg->payload.u64;
        unsigned idx = v & VHOST_USER_VRING_IDX_MASK;
        bool nofd = v & VHOST_USER_VRING_NOFD_MASK;
        if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK))
                return -EINVAL;
        if (idx >= vu->be->n_queues || nfds != (nofd ? 0u : 1u))
                return -EINVAL;
        struct vu_queue *q = &vu->q[idx];
        int fd = nofd ? -1 : fds[0];
        switch (msg->request) {
        case VHOST_USER_SET_VRING_KICK:
                close_fd(&q->kick_fd);
                q->kick_fd = fd;
                q->kick_gen++;
                queue_try_start(vu, q);
                break;
        case VHOST_USER_SET_VRING_CALL:
                close_fd(&q->call_fd);
                q->call_fd = fd;
                break;
        default:
                close_fd(&q->err_fd);
                q->err_fd = fd;
                break;
        }
        return 0;
}

static int get_config(struct vhost_user *vu, const struct vhost_user_msg *msg, struct vhost_user_msg *reply)
{
        uint8_t cfg[VHOST_USER_MAX_CONFIG] = { 0 };
        uint32_t off = msg->payload.config.offset, len = msg->payload.config.size;

        /* Failure is a reply with an empty payload (the spec's way). */
        reply->request = msg->request;
        reply->flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
        reply->size = 0;
        if (!has_protocol(vu, VHOST_USER_PROTOCOL_F_CONFIG) || msg->size < VHOST_USER_CONFIG_HDR_SIZE ||
            len > VHOST_USER_MAX_CONFIG || msg->size != VHOST_USER_CONFIG_HDR_SIZE + len ||
            off > vu->be->config_size || len > vu->be->config_size - off)
                return -EINVAL;
        vu->be->get_config(vu->userdata, cfg);
        reply->payload.config.offset = off;
        reply->payload.config.size = len;
        reply->payload.config.flags = msg->payload.config.flags;
        memcpy(reply->payload.config.payload, cfg + off, len);
        reply->size = VHOST_USER_CONFIG_HDR_SIZE + len;
        return 0;
}

/* The message proper. Returns 0 / -errno; *has_reply when it wrote one.
 * Long on purpose: one case per vhost-user request, each checking its own
 * size and payload, read side by side with the spec's message list. */
static int dispatch(struct vhost_user *vu, const struct vhost_user_msg *msg, int *fds, unsigned nfds,
                    unsigned *used_fds, struct vhost_user_msg *reply, bool *has_reply)
{
        struct vu_queue *q;

        /* Only these messages carry fds; they take them on success. */
        if (nfds && msg->request != VHOST_USER_SET_MEM_TABLE && msg->request != VHOST_USER_SET_VRING_KICK &&
            msg->request != VHOST_USER_SET_VRING_CALL && msg->request != VHOST_USER_SET_VRING_ERR)
                return -EINVAL;

        switch (msg->request) {
        case VHOST_USER_GET_FEATURES:
                if (msg->size != 0)
                        return -EINVAL;
                reply_u64(msg, reply, offered_features(vu));
                *has_reply = true;
                return 0;
        case VHOST_USER_SET_FEATURES:
                if (msg->size != sizeof(uint64_t) || (msg->payload.u64 & ~offered_features(vu)))
                        return -EINVAL;
                vu->features = msg->payload.u64;
                /* Without protocol features rings start enabled (spec, "Ring states"). */
                if (!(vu->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
                        for (unsigned i = 0; i < vu->be->n_queues; i++)
                                vu->q[i].enabled = true;
                return 0;
        case VHOST_USER_GET_PROTOCOL_FEATURES:
                if (msg->size != 0)
                        return -EINVAL;
                reply_u64(msg, reply, SUPPORTED_PROTOCOL_FEATURES);
                *has_reply = true;
                return 0;
        case VHOST_USER_SET_PROTOCOL_FEATURES:
                if (msg->size != sizeof(uint64_t) || (msg->payload.u64 & ~SUPPORTED_PROTOCOL_FEATURES))
                        return -EINVAL;
                vu->protocol_features = msg->payload.u64;
                return 0;
        case VHOST_USER_SET_OWNER:
                if (msg->size != 0)
                        return -EINVAL;
                vu->owner = true;
                return 0;
        case VHOST_USER_RESET_OWNER:
                /* Deprecated; the spec's advice: disable all rings. */
                if (msg->size != 0)
                        return -EINVAL;
                for (unsigned i = 0; i < vu->be->n_queues; i++)
                        vu->q[i].started = vu->q[i].enabled = false;
                return 0;
        case VHOST_USER_GET_QUEUE_NUM:
                if (msg->size != 0 || !has_protocol(vu, VHOST_USER_PROTOCOL_F_MQ))
                        return -EINVAL;
                reply_u64(msg, reply, vu->be->n_queues);
                *has_reply = true;
                return 0;
        case VHOST_USER_SET_MEM_TABLE:
                /* The mappings hold their own references: the fds are closed. */
                return set_mem_table(vu, msg, fds, nfds);
        case VHOST_USER_SET_VRING_NUM:
                if (!(q = state_queue(vu, msg)))
                        return -EINVAL;
                if (msg->payload.state.num == 0 || msg->payload.state.num > VQ_MAX_SIZE ||
                    (msg->payload.state.num & (msg->payload.state.num - 1)))
                        return -EINVAL;
                q->num = (uint16_t)msg->payload.state.num;
                q->started = false;
                return 0;
        case VHOST_USER_SET_VRING_ADDR:
                if (msg->size != sizeof(msg->payload.addr) || msg->payload.addr.index >= vu->be->n_queues)
                        return -EINVAL;
                /* Dirty logging (flags bit 0) is never offered. */
                if (msg->payload.addr.flags)
                        return -EINVAL;
                q = &vu->q[msg->payload.addr.index];
                q->desc_uva = msg->payload.addr.desc;
                q->avail_uva = msg->payload.addr.avail;
                q->used_uva = msg->payload.addr.used;
                q->addr_set = true;
                if (q->started) {
                        q->base = q->vq.last_avail_idx;
                        queue_try_start(vu, q);
                }
                return 0;
        case VHOST_USER_SET_VRING_BASE:
                if (!(q = state_queue(vu, msg)) || msg->payload.state.num > UINT16_MAX)
                        return -EINVAL;
                q->base = (uint16_t)msg->payload.state.num;
                q->started = false;
                return 0;
        case VHOST_USER_GET_VRING_BASE:
                if (!(q = state_queue(vu, msg)))
                        return -EINVAL;
                /* Stops the ring; the front-end restarts it with new SETs. */
                if (q->started)
                        q->base = q->vq.last_avail_idx;
                q->started = false;
                close_fd(&q->kick_fd);
                q->kick_gen++;
                reply->request = msg->request;
                reply->flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
                reply->size = sizeof(reply->payload.state);
                reply->payload.state.index = msg->payload.state.index;
                reply->payload.state.num = q->base;
                *has_reply = true;
                return 0;
        case VHOST_USER_SET_VRING_KICK:
        case VHOST_USER_SET_VRING_CALL:
        case VHOST_USER_SET_VRING_ERR: {
                int r = set_vring_fd(vu, msg, fds, nfds);
                if (r == 0)
                        *used_fds = 0; /* kept by the queue */
                return r;
        }
        case VHOST_USER_SET_VRING_ENABLE:
                if (!(q = state_queue(vu, msg)) || msg->payload.state.num > 1 ||
                    !(vu->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
                        return -EINVAL;
                q->enabled = msg->payload.state.num;
                return 0;
        case VHOST_USER_GET_CONFIG: {
                int r = get_config(vu, msg, reply);
                *has_reply = true;
                return r;
        }
        default:
                /* SET_CONFIG included: the config space is read-only. */
                return -EOPNOTSUPP;
        }
}

int vhost_user_handle(struct vhost_user *vu, const struct vhost_user_msg *msg, int *fds, unsigned nfds,
                      struct vhost_user_msg *ret_reply, bool *ret_has_reply)
{
        unsigned used_fds = nfds; /* how many of fds are still ours to close */
        bool has_reply = false;
        int r;

        memset(ret_reply, 0, VHOST_USER_HDR_SIZE + sizeof(uint64_t));
        if (nfds > VHOST_USER_MAX_FDS || msg->size > VHOST_USER_MAX_PAYLOAD)
                r = -EINVAL;
        else
                r = dispatch(vu, msg, fds, nfds, &used_fds, ret_reply, &has_reply);
        if (r < 0 || used_fds)
                for (unsigned i = 0; i < nfds && i < VHOST_USER_MAX_FDS; i++)
                        close(fds[i]);
        /* REPLY_ACK: a u64 status where the request has no reply of its own. */
        if (!has_reply && has_protocol(vu, VHOST_USER_PROTOCOL_F_REPLY_ACK) &&
            (msg->flags & VHOST_USER_FLAG_NEED_REPLY)) {
                reply_u64(msg, ret_reply, r < 0 ? 1 : 0);
                has_reply = true;
        }
        *ret_has_reply = has_reply;
        return r;
}

int vhost_user_serve_one(struct vhost_user *vu, int fd)
{
        struct vhost_user_msg msg, reply;
        int fds[VHOST_USER_MAX_FDS];
        unsigned nfds = 0;
        bool has_reply = false;

        int r = vhost_user_recv(fd, &msg, fds, &nfds);
        if (r < 0) {
                for (unsigned i = 0; i < nfds; i++)
                        close(fds[i]);
                return r;
        }
        r = vhost_user_handle(vu, &msg, fds, nfds, &reply, &has_reply);
        if (has_reply) {
                int s = vhost_user_send(fd, &reply);
                if (s < 0 && r == 0)
                        r = s;
        }
        return r;
}

struct vq *vhost_user_queue(struct vhost_user *vu, unsigned idx)
{
        if (idx >= vu->be->n_queues)
                return NULL;
        struct vu_queue *q = &vu->q[idx];
        if (!q->started || !q->enabled || q->vq.broken)
                return NULL;
        return &q->vq;
}

int vhost_user_kick_fd(const struct vhost_user *vu, unsigned idx, unsigned *ret_gen)
{
        if (idx >= vu->be->n_queues)
                return -1;
        if (ret_gen)
                *ret_gen = vu->q[idx].kick_gen;
        return vu->q[idx].kick_fd;
}

void vhost_user_notify(struct vhost_user *vu, unsigned idx)
{
        if (idx >= vu->be->n_queues)
                return;
        struct vu_queue *q = &vu->q[idx];
        if (!q->started || q->call_fd < 0 || !vq_should_notify(&q->vq))
                return;
        uint64_t one = 1;
        /* An eventfd write fails only when the counter would overflow. */
        (void)!write(q->call_fd, &one, sizeof(one));
}

uint64_t vhost_user_features(const struct vhost_user *vu)
{
        return vu->features;
}
