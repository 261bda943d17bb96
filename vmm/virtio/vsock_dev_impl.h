/* vsock_dev's insides, shared by vsock_dev.c (connections, lifecycle) and
 * vsock_dev_io.c (packets to and from the guest, host sockets). Private to
 * the device. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmm/virtio/vsock_dev.h"

#define HASH_SIZE 1024u
#define TX_BATCH 512u
#define FIRST_LOCAL_PORT (1u << 30)

enum conn_state { CONN_CONNECTING, CONN_ESTABLISHED };

/* Packets a connection owes the guest, sent in this order. */
enum {
        TODO_REQUEST = 1u << 0,
        TODO_RESPONSE = 1u << 1,
        TODO_CREDIT = 1u << 2,
        TODO_SHUTDOWN = 1u << 3,
        TODO_RST = 1u << 4,
};

struct conn {
        struct conn *hnext;            /* hash chain */
        struct conn *pnext, *pprev;    /* pending list (owes the guest a packet) */
        bool pending;
        bool dead;                     /* freed at the end of the current entry point */
        struct conn *dnext;
        uint32_t local_port, peer_port;
        int fd;
        enum conn_state state;
        bool request_sent;
        bool aborting;                 /* only the RST is left to send */
        unsigned todo;
        uint32_t shutdown_flags;       /* for TODO_SHUTDOWN */
        uint32_t shutdown_sent;        /* VSOCK_SHUTDOWN_* flags the guest has had */
        uint64_t deadline_ms;          /* CONN_CONNECTING */
        /* Host socket. */
        bool in_epoll, hup;
        uint32_t ep_events;
        bool want_read;                /* may have bytes for the guest */
        bool host_eof;                 /* read gave 0 */
        bool host_closed;              /* the host closed (not only half-closed) */
        bool host_wr_shut;             /* we shut down writing to it */
        /* Guest side. */
        bool peer_shut_rcv, peer_shut_send;
        uint32_t peer_buf_alloc, peer_fwd_cnt;
        uint32_t rx_cnt;               /* payload bytes sent to the guest */
        uint32_t guest_tx_cnt;         /* payload bytes received from the guest */
        uint32_t fwd_cnt;              /* of those, written to the host socket */
        uint32_t last_fwd_sent;        /* fwd_cnt as last told to the guest */
        uint8_t *buf;                  /* guest bytes the host socket has not taken yet */
        uint32_t buf_head, buf_len;
};

struct rst_entry {
        uint32_t src_port, dst_port; /* as sent: src is the host side */
};

struct vsock_dev {
        struct vsock_dev_config cfg;
        const struct vsock_dev_ops *ops;
        void *userdata;
        int epfd;
        struct vq *rx, *tx;
        bool running;
        bool tx_more;
        struct conn *hash[HASH_SIZE];
        struct conn *phead, *ptail;
        struct conn *dead;
        unsigned n_conns, n_connecting;
        uint32_t next_local_port;
        struct rst_entry *rsts;        /* ring of RSTs for unknown connections */
        unsigned rst_head, rst_len, rst_cap;
        struct vsock_dev_stats stats;
};

struct conn *vsock_conn_find(struct vsock_dev *d, uint32_t local, uint32_t peer);
struct conn *vsock_conn_new(struct vsock_dev *d, int fd, uint32_t local, uint32_t peer);
void vsock_conn_destroy(struct vsock_dev *d, struct conn *c);
void vsock_conn_abort(struct vsock_dev *d, struct conn *c);
void vsock_conn_check(struct vsock_dev *d, struct conn *c);
void vsock_conn_update_epoll(struct vsock_dev *d, struct conn *c);
void vsock_pending_add(struct vsock_dev *d, struct conn *c);
void vsock_pending_remove(struct vsock_dev *d, struct conn *c);
void vsock_queue_rst(struct vsock_dev *d, uint32_t src_port, uint32_t dst_port);
void vsock_reap_dead(struct vsock_dev *d);
uint32_t vsock_conn_peer_free(const struct conn *c);
bool vsock_conn_data_allowed(const struct conn *c);
bool vsock_conn_has_work(const struct conn *c);
