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
#include "services/executor/audit_queue.h"

struct item {
        uint8_t *data;
        size_t len;
};

struct audit_queue {
        struct rpc_channel *ch;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct item *ring;
        size_t cap, head, n;
        bool stop;
        int64_t drain_until;
        struct audit_queue_stats st;
};

static void wait_ms(struct audit_queue *q, int ms)
{
        struct timespec ts = ak_timespec_after(CLOCK_REALTIME, ms);
        pthread_cond_timedwait(&q->cond, &q->lock, &ts);
}

/* Sends the first k events of the ring; 0 when acknowledged. */
static int send_batch(struct audit_queue *q, size_t k, char *why, size_t why_size)
{
        Ak__V1__AuditEvent *evs[AUDIT_QUEUE_BATCH] = { 0 };
        Ak__V1__EmitRequest req = AK__V1__EMIT_REQUEST__INIT;
        size_t got = 0;
        int r = 0;

        for (; got < k; got++) {
                pthread_mutex_lock(&q->lock);
                struct item it = q->ring[(q->head + got) % q->cap];
                pthread_mutex_unlock(&q->lock);
                evs[got] = ak__v1__audit_event__unpack(NULL, it.len, it.data);
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

static void *sender(void *arg)
{
        struct audit_queue *q = arg;
        char why[256];

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
                        /* Only the sender pops, so the first k are still ours. */
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

int audit_queue_new(struct rpc_channel *ch, size_t capacity, struct audit_queue **ret, struct ak_error *err)
{
        if (capacity == 0 || capacity > 1000000)
                return ak_error_set(err, -EINVAL, "audit queue capacity %zu: out of range 1..1000000", capacity);
        struct audit_queue *q = calloc(1, sizeof(*q));
        if (!q || !(q->ring = calloc(capacity, sizeof(*q->ring)))) {
                free(q);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        q->ch = ch;
        q->cap = capacity;
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->cond, NULL);
        if (ch) {
                int r = pthread_create(&q->thread, NULL, sender, q);
                if (r) {
                        free(q->ring);
                        free(q);
                        return ak_error_errno(err, -r, "start the audit sender thread");
                }
        }
        *ret = q;
        return 0;
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
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->cond);
        free(q);
}

int audit_queue_push(struct audit_queue *q, const Ak__V1__AuditEvent *ev)
{
        char uid[37];
        Ak__V1__AuditEvent copy = *ev;
        if (!ev->uid || !ev->uid[0]) {
                if (ak_uuid7(uid) < 0)
                        return -EIO;
                copy.uid = uid;
        }
        pthread_mutex_lock(&q->lock);
        if (!q->ch) {
                q->st.unsent++;
                pthread_mutex_unlock(&q->lock);
                return -ENOTCONN;
        }
        if (q->n == q->cap || q->stop) {
                q->st.dropped++;
                pthread_mutex_unlock(&q->lock);
                return -ENOSPC;
        }
        pthread_mutex_unlock(&q->lock);
        size_t len = ak__v1__audit_event__get_packed_size(&copy);
        uint8_t *data = malloc(len ? len : 1);
        if (!data)
                return -ENOMEM;
        ak__v1__audit_event__pack(&copy, data);
        pthread_mutex_lock(&q->lock);
        if (q->n == q->cap) {
                q->st.dropped++;
                pthread_mutex_unlock(&q->lock);
                free(data);
                return -ENOSPC;
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
        ret->queued = q->n;
        pthread_mutex_unlock(&q->lock);
}
