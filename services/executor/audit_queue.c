#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/time.h"
#include "lib/base/uuid.h"
#include "lib/receipt/receipt.h"
#include "protos/ak/v1/auditor.pb-c.h"
#include "services/executor/audit_disk.h"
#include "services/executor/audit_queue.h"

#define item audit_disk_record

struct audit_queue {
        struct rpc_channel *ch;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct item *ring;            /* in memory */
        size_t cap, head, n;
        struct audit_disk *disk;      /* on disk (then no ring) */
        bool stop;
        int64_t drain_until;
        struct audit_queue_stats st;
};

static void wait_ms(struct audit_queue *q, int ms)
{
        struct timespec ts = ak_timespec_after(CLOCK_REALTIME, ms);
        pthread_cond_timedwait(&q->cond, &q->lock, &ts);
}

/* Sends k serialized events in one Emit; 0 when acknowledged. */
static int send_items(struct audit_queue *q, const struct item *items, size_t k, char *why, size_t why_size)
{
        Ak__V1__AuditEvent *evs[AUDIT_QUEUE_BATCH] = { 0 };
        Ak__V1__EmitRequest req = AK__V1__EMIT_REQUEST__INIT;
        size_t got = 0;
        int r = 0;

        for (; got < k; got++) {
                evs[got] = ak__v1__audit_event__unpack(NULL, items[got].len, items[got].data);
                if (!evs[got])
                        break;
        }
        req.events = evs;
        req.n_events = got;
        ProtobufCMessage *resp = NULL;
        struct ak_error err = { 0 };
        struct rpc_call_options o = { .timeout_ms = 5000 };
        r = rpc_unary(q->ch, &ak__v1__auditor__descriptor, "Emit", &req.base, &o, &resp, &err);
        if (r == RPC_OK)
                protobuf_c_message_free_unpacked(resp, NULL);
        else
                snprintf(why, why_size, "%.*s", (int)why_size - 1, err.msg);
        for (size_t i = 0; i < got; i++)
                ak__v1__audit_event__free_unpacked(evs[i], NULL);
        return r == RPC_OK ? 0 : -EIO;
}

/* Sends the first k events of the ring; 0 when acknowledged. */
static int send_batch(struct audit_queue *q, size_t k, char *why, size_t why_size)
{
        struct item items[AUDIT_QUEUE_BATCH];

        /* Only the sender pops, so the first k stay put meanwhile. */
        pthread_mutex_lock(&q->lock);
        for (size_t i = 0; i < k; i++)
                items[i] = q->ring[(q->head + i) % q->cap];
        pthread_mutex_unlock(&q->lock);
        return send_items(q, items, k, why, why_size);
}

/* The sender of the queue on disk: a batch is read back once and sent
 * until the auditor takes it, then the cursor moves past it. */
static void *disk_sender(struct audit_queue *q)
{
        struct item recs[AUDIT_QUEUE_BATCH];
        size_t n = 0;
        uint64_t last = 0;
        char why[256];

        for (;;) {
                pthread_mutex_lock(&q->lock);
                bool stop = q->stop, late = ak_mono_ms() >= q->drain_until;
                pthread_mutex_unlock(&q->lock);
                if (stop && (late || (n == 0 && audit_disk_waiting(q->disk) == 0)))
                        break;
                if (n == 0) {
                        int r = audit_disk_next_batch(q->disk, AUDIT_QUEUE_BATCH, stop ? 0 : 1000, recs, &n, &last);
                        if (r < 0) {
                                pthread_mutex_lock(&q->lock);
                                snprintf(q->st.last_error, sizeof(q->st.last_error), "read the queue: %s",
                                         strerror(-r));
                                wait_ms(q, 1000);
                                pthread_mutex_unlock(&q->lock);
                        }
                        if (n == 0 && stop)
                                break;
                        if (n == 0)
                                continue;
                }
                int r = send_items(q, recs, n, why, sizeof(why));
                struct ak_error err = { 0 };
                if (r == 0 && audit_disk_ack(q->disk, last, &err) < 0)
                        /* Sent: after a restart it goes again, the sinks drop it by uid. */
                        snprintf(why, sizeof(why), "store the auditor's acknowledgement: %.200s", err.msg);
                pthread_mutex_lock(&q->lock);
                if (r == 0) {
                        q->st.sent += n;
                        snprintf(q->st.last_error, sizeof(q->st.last_error), "%s", err.code ? why : "");
                        while (n > 0)
                                free(recs[--n].data);
                } else {
                        snprintf(q->st.last_error, sizeof(q->st.last_error), "%s", why);
                        if (!q->stop)
                                wait_ms(q, 1000);
                        else if (ak_mono_ms() < q->drain_until)
                                wait_ms(q, 200);
                }
                pthread_mutex_unlock(&q->lock);
        }
        while (n > 0)
                free(recs[--n].data);
        return NULL;
}

static void *sender(void *arg)
{
        struct audit_queue *q = arg;
        char why[256];

        if (q->disk)
                return disk_sender(q);
        pthread_mutex_lock(&q->lock);
        for (;;) {
                while (!q->stop && q->n == 0)
                        wait_ms(q, 1000);
                if (q->n == 0 || (q->stop && ak_mono_ms() >= q->drain_until))
                        break;
                size_t k = q->n < AUDIT_QUEUE_BATCH ? q->n : AUDIT_QUEUE_BATCH;
                pthread_mutex_unlock(&q->lock);
                int r = send_batch(q, k, why, sizeof(why));
                pthread_mutex_lock(&q->lock);
                if (r == 0) {
                        for (size_t i = 0; i < k; i++) {
                                free(q->ring[q->head].data);
                                q->head = (q->head + 1) % q->cap;
                                q->n--;
                        }
                        q->st.sent += k;
                        q->st.last_error[0] = 0;
                } else {
                        snprintf(q->st.last_error, sizeof(q->st.last_error), "%s", why);
                        if (!q->stop)
                                wait_ms(q, 1000);
                        else if (ak_mono_ms() < q->drain_until)
                                wait_ms(q, 200);
                }
        }
        pthread_mutex_unlock(&q->lock);
        return NULL;
}

int audit_queue_new(struct rpc_channel *ch, const struct audit_queue_config *cfg, struct audit_queue **ret,
                    struct ak_error *err)
{
        size_t capacity = cfg && cfg->capacity ? cfg->capacity : AUDIT_QUEUE_DEFAULT_CAPACITY;
        bool on_disk = ch && cfg && cfg->dir;
        int r;

        if (capacity > 1000000)
                return ak_error_set(err, -EINVAL, "audit queue capacity %zu: out of range 1..1000000", capacity);
        struct audit_queue *q = calloc(1, sizeof(*q));
        if (!q || (!on_disk && !(q->ring = calloc(capacity, sizeof(*q->ring))))) {
                free(q);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        if (on_disk && (r = audit_disk_open(cfg->dir, cfg->max_bytes, &q->disk, err)) < 0) {
                free(q);
                return r;
        }
        q->ch = ch;
        q->cap = capacity;
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->cond, NULL);
        if (ch) {
                r = pthread_create(&q->thread, NULL, sender, q);
                if (r) {
                        audit_disk_free(q->disk);
                        free(q->ring);
                        free(q);
                        return ak_error_errno(err, -r, "start the audit sender thread");
                }
        }
        *ret = q;
        return 0;
}

bool audit_queue_durable(const struct audit_queue *q)
{
        return q->disk != NULL;
}

void audit_queue_free(struct audit_queue *q, int drain_ms)
{
        if (!q)
                return;
        pthread_mutex_lock(&q->lock);
        q->stop = true;
        q->drain_until = ak_mono_ms() + drain_ms;
        pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->lock);
        if (q->ch)
                pthread_join(q->thread, NULL);
        for (size_t i = 0; i < q->n; i++)
                free(q->ring[(q->head + i) % q->cap].data);
        free(q->ring);
        audit_disk_free(q->disk);
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->cond);
        free(q);
}

/* On disk: stored (fsynced) before returning, or refused. */
static int push_disk(struct audit_queue *q, const uint8_t *data, size_t len, struct ak_error *err)
{
        struct ak_error e = { 0 };
        int r = audit_disk_append(q->disk, data, len, &e);

        pthread_mutex_lock(&q->lock);
        if (r < 0) {
                q->st.refused++;
                snprintf(q->st.last_refusal, sizeof(q->st.last_refusal), "%.511s", e.msg);
        }
        pthread_mutex_unlock(&q->lock);
        if (r < 0)
                ak_error_set(err, r, "%s", e.msg);
        return r;
}

int audit_queue_push(struct audit_queue *q, const Ak__V1__AuditEvent *ev, struct ak_error *err)
{
        char uid[37];
        Ak__V1__AuditEvent copy = *ev;
        if (!ev->uid || !ev->uid[0]) {
                if (ak_uuid7(uid) < 0)
                        return ak_error_set(err, -EIO, "audit event: no uid (randomness failed)");
                copy.uid = uid;
        }
        pthread_mutex_lock(&q->lock);
        if (!q->ch) {
                q->st.unsent++;
                pthread_mutex_unlock(&q->lock);
                return ak_error_set(err, -ENOTCONN, "no auditor");
        }
        if (!q->disk && (q->n == q->cap || q->stop)) {
                q->st.dropped++;
                pthread_mutex_unlock(&q->lock);
                return ak_error_set(err, -ENOSPC, "audit queue full: event dropped");
        }
        pthread_mutex_unlock(&q->lock);
        size_t len = ak__v1__audit_event__get_packed_size(&copy);
        uint8_t *data = malloc(len ? len : 1);
        if (!data)
                return ak_error_set(err, -ENOMEM, "out of memory");
        ak__v1__audit_event__pack(&copy, data);
        if (q->disk) {
                int r = push_disk(q, data, len, err);
                free(data);
                return r;
        }
        pthread_mutex_lock(&q->lock);
        if (q->n == q->cap) {
                q->st.dropped++;
                pthread_mutex_unlock(&q->lock);
                free(data);
                return ak_error_set(err, -ENOSPC, "audit queue full: event dropped");
        }
        q->ring[(q->head + q->n) % q->cap] = (struct item){ data, len };
        q->n++;
        pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->lock);
        return 0;
}

void audit_queue_stats(struct audit_queue *q, struct audit_queue_stats *ret)
{
        pthread_mutex_lock(&q->lock);
        *ret = q->st;
        ret->queued = q->disk ? audit_disk_waiting(q->disk) : q->n;
        pthread_mutex_unlock(&q->lock);
}
