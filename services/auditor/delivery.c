/* One destination's delivery thread. See delivery.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lib/audit/event.h"
#include "lib/base/cleanup.h"
#include "lib/base/time.h"
#include "lib/json/writer.h"
#include "lib/spool/cursor.h"
#include "services/auditor/delivery.h"
#include "services/auditor/dest.h"
#include "services/auditor/ocsf.h"

#define MAX_BATCH_BYTES (8u << 20)
#define POLL_MS 200
#define PERSIST_EVERY_MS 200

struct delivery {
        const struct audit_config *c;
        const struct audit_dest_config *dc;
        const struct dest_ops *ops;
        void *state;
        struct spool *spool;
        int dir_fd;
        struct deadletter *dl;
        delivery_progress_fn progress;
        void *userdata;
        struct spool_reader *reader;
        pthread_t thread;
        bool started;
        int stop;

        pthread_mutex_t mu;   /* the status below, and wake */
        pthread_cond_t wake;
        uint64_t delivered;
        uint64_t persisted;
        uint64_t dead_lettered;
        uint64_t delivered_events;
        char last_error[512];
        uint64_t last_persist_ms;

        /* the batch being delivered */
        struct iovec *raw;       /* copies of the stored records */
        struct iovec *out;       /* formatted (== raw for agentkernel) */
        size_t n;
        uint64_t last_pos;
};

const struct dest_ops *dest_ops_for(enum audit_dest_type type)
{
        switch (type) {
        case AUDIT_DEST_HTTP_WEBHOOK:
                return &dest_webhook_ops;
        case AUDIT_DEST_FILE:
                return &dest_file_ops;
        default:
                return &dest_stdout_ops;
        }
}

static bool stopped(struct delivery *d)
{
        return __atomic_load_n(&d->stop, __ATOMIC_RELAXED) != 0;
}

/* Sleeps up to ms, or until stopped. */
static void nap(struct delivery *d, uint64_t ms)
{
        struct timespec until = ak_timespec_after(CLOCK_MONOTONIC, ms);
        pthread_mutex_lock(&d->mu);
        while (!stopped(d))
                if (pthread_cond_timedwait(&d->wake, &d->mu, &until) == ETIMEDOUT)
                        break;
        pthread_mutex_unlock(&d->mu);
}

/* Printable ASCII only: status strings travel in protobuf `string`s. */
static void set_error(struct delivery *d, const char *msg)
{
        size_t i;

        pthread_mutex_lock(&d->mu);
        for (i = 0; msg[i] && i + 1 < sizeof(d->last_error); i++)
                d->last_error[i] = msg[i] >= 0x20 && msg[i] < 0x7f ? msg[i] : '?';
        d->last_error[i] = '\0';
        pthread_mutex_unlock(&d->mu);
}

static void persist(struct delivery *d)
{
        struct ak_error err;
        uint64_t pos;

        pthread_mutex_lock(&d->mu);
        pos = d->delivered;
        pthread_mutex_unlock(&d->mu);
        if (pos == d->persisted)
                return;
        if (cursor_store(d->dir_fd, d->dc->name, pos, &err) < 0) {
                set_error(d, err.msg); /* delivered again after a restart: duplicates, not loss */
                return;
        }
        pthread_mutex_lock(&d->mu);
        d->persisted = pos;
        pthread_mutex_unlock(&d->mu);
        d->last_persist_ms = ak_mono_ms();
        if (d->progress)
                d->progress(d->userdata);
}

static void clear_batch(struct delivery *d)
{
        for (size_t i = 0; i < d->n; i++) {
                if (d->out[i].iov_base != d->raw[i].iov_base)
                        free(d->out[i].iov_base);
                free(d->raw[i].iov_base);
        }
        d->n = 0;
}

/* Reads up to batch_size stored records into the batch. */
static int collect(struct delivery *d)
{
        size_t bytes = 0;

        while (d->n < d->c->batch_size && bytes < MAX_BATCH_BYTES) {
                const char *data;
                size_t len;
                uint64_t pos;
                int r = spool_reader_next(d->reader, &pos, &data, &len);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                void *copy = malloc(len);
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, data, len);
                d->raw[d->n] = (struct iovec){ copy, len };
                d->out[d->n] = d->raw[d->n];
                d->n++;
                d->last_pos = pos;
                bytes += len;
        }
        return 0;
}

static void format_batch(struct delivery *d)
{
        if (d->dc->format != AUDIT_FORMAT_OCSF)
                return;
        for (size_t i = 0; i < d->n; i++) {
                struct audit_event *e;
                char *json;
                size_t len;
                /* Stored records are events this auditor wrote: a failure here
                 * means damage, and the stored text is sent as it is. */
                if (audit_event_from_json(d->raw[i].iov_base, d->raw[i].iov_len, &e, NULL) < 0)
                        continue;
                if (ocsf_event_to_json(e, &json, &len) == 0)
                        d->out[i] = (struct iovec){ json, len };
                audit_event_free(e);
        }
}

/* The response as valid UTF-8 (invalid bytes become U+FFFD). */
static char *lossy_utf8(const char *s, size_t len)
{
        char *out = malloc(len * 3 + 1), *o = out;
        size_t i = 0;

        if (!out)
                return NULL;
        while (i < len) {
                size_t k;
                for (k = 1; k <= 4 && i + k <= len; k++)
                        if (audit_utf8_valid(s + i, k))
                                break;
                if (k <= 4 && i + k <= len) {
                        memcpy(o, s + i, k);
                        o += k;
                        i += k;
                } else {
                        memcpy(o, "\xef\xbf\xbd", 3);
                        o += 3;
                        i++;
                }
        }
        *o = '\0';
        return out;
}

/* One line per rejected batch: {"time","destination","http_status","response","events"}. */
static int dead_letter(struct delivery *d, const struct dest_outcome *o, struct ak_error *err)
{
        const char *path = d->dl->path;
        _cleanup_free_ char *resp = lossy_utf8(o->response ? o->response : "", o->response_len);
        _cleanup_free_ char *line = NULL;
        _cleanup_close_ int fd = -1;
        struct json_writer *w;
        char now[AUDIT_TIME_MAX];
        size_t len;
        int r;

        if (!resp || json_writer_new(0, 0, &w) < 0)
                return ak_error_errno(err, -ENOMEM, "dead-letter %s", path);
        audit_time_now(now);
        json_writer_begin_object(w);
        json_writer_key(w, "time", 4);
        json_writer_string(w, now, strlen(now));
        json_writer_key(w, "destination", 11);
        json_writer_string(w, d->dc->name, strlen(d->dc->name));
        json_writer_key(w, "http_status", 11);
        json_writer_u64(w, (uint64_t)o->http_status);
        json_writer_key(w, "response", 8);
        json_writer_string(w, resp, strlen(resp));
        json_writer_key(w, "events", 6);
        json_writer_begin_array(w);
        for (size_t i = 0; i < d->n; i++)
                json_writer_raw(w, d->out[i].iov_base, d->out[i].iov_len);
        json_writer_end_array(w);
        json_writer_end_object(w);
        r = json_writer_finish(w, &line, &len);
        json_writer_free(w);
        if (r < 0)
                return ak_error_errno(err, r, "dead-letter %s", path);
        struct iovec iov = { line, len };
        pthread_mutex_lock(&d->dl->mu);
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        r = fd < 0 ? -errno : dest_write_lines(fd, &iov, 1);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        pthread_mutex_unlock(&d->dl->mu);
        if (r < 0)
                return ak_error_errno(err, r, "dead-letter %s", path);
        return 0;
}

static uint64_t backoff_ms(struct delivery *d, unsigned attempt)
{
        uint64_t base = d->c->backoff_initial_ms;
        uint32_t rnd = 0;

        for (unsigned i = 1; i < attempt && base < d->c->backoff_max_ms; i++)
                base *= 2;
        if (base > d->c->backoff_max_ms)
                base = d->c->backoff_max_ms;
        if (getrandom(&rnd, sizeof(rnd), 0) < 0)
                rnd = (uint32_t)ak_mono_ms();
        /* "Equal jitter": half fixed, half random. */
        return base / 2 + (base / 2 ? rnd % (base / 2 + 1) : 0);
}

static void delivered(struct delivery *d, size_t n, const char *note)
{
        pthread_mutex_lock(&d->mu);
        d->delivered = d->last_pos;
        d->delivered_events += n;
        pthread_mutex_unlock(&d->mu);
        set_error(d, note);
}

/* Delivers the batch, retrying until it is taken, dead-lettered, or the
 * delivery stops (-ECANCELED). retry=false: one attempt only. */
static int deliver_batch(struct delivery *d, bool retry)
{
        unsigned attempt = 0;

        format_batch(d);
        for (;;) {
                struct dest_outcome o = { 0 };
                struct ak_error err;
                char msg[1024];

                d->ops->deliver(d->state, d->out, d->n, &d->stop, &o);
                if (o.result == DEST_OK) {
                        free(o.response);
                        delivered(d, d->n, "");
                        return 0;
                }
                if (o.result == DEST_REJECTED) {
                        if (dead_letter(d, &o, &err) == 0) {
                                snprintf(msg, sizeof(msg), "%.500s; %zu events written to the dead-letter file %.400s",
                                         o.message, d->n, d->dl->path);
                                free(o.response);
                                pthread_mutex_lock(&d->mu);
                                d->dead_lettered += d->n;
                                pthread_mutex_unlock(&d->mu);
                                delivered(d, 0, msg);
                                return 0;
                        }
                        snprintf(o.message, sizeof(o.message), "%.500s", err.msg); /* kept; retried */
                }
                free(o.response);
                attempt++;
                uint64_t wait;
                if (o.retry_after_ms) {
                        wait = o.retry_after_ms;
                } else if (attempt > d->c->max_retries) {
                        wait = d->c->backoff_max_ms; /* a round is over: rest, then another */
                        attempt = 0;
                } else {
                        wait = backoff_ms(d, attempt);
                }
                snprintf(msg, sizeof(msg), "%.500s (retrying in %llu ms)", o.message, (unsigned long long)wait);
                set_error(d, msg);
                if (!retry || stopped(d))
                        return -ECANCELED;
                nap(d, wait);
                if (stopped(d))
                        return -ECANCELED;
        }
}

static void *run(void *arg)
{
        struct delivery *d = arg;
        uint64_t pending_since = 0;

        while (!stopped(d)) {
                struct spool_stats st;
                uint64_t pos = spool_reader_position(d->reader), avail;

                spool_stats(d->spool, &st);
                avail = st.next_position > pos ? st.next_position - pos : 0;
                if (avail == 0) {
                        pending_since = 0;
                        persist(d);
                        spool_wait(d->spool, pos, POLL_MS);
                        continue;
                }
                if (avail < d->c->batch_size && d->c->flush_interval_ms > 0) {
                        uint64_t now = ak_mono_ms();
                        if (!pending_since)
                                pending_since = now;
                        if (now - pending_since < d->c->flush_interval_ms) {
                                uint64_t left = d->c->flush_interval_ms - (now - pending_since);
                                spool_wait(d->spool, pos + d->c->batch_size - 1, left < POLL_MS ? (int)left : POLL_MS);
                                continue;
                        }
                }
                pending_since = 0;
                int r = collect(d);
                if (r < 0) {
                        char msg[128];
                        snprintf(msg, sizeof(msg), "read spool: %s", strerror(-r));
                        set_error(d, msg);
                        clear_batch(d);
                        nap(d, 1000);
                        continue;
                }
                if (d->n == 0) {
                        spool_wait(d->spool, spool_reader_position(d->reader), POLL_MS);
                        continue;
                }
                r = deliver_batch(d, true);
                clear_batch(d);
                if (r < 0)
                        break;
                if (ak_mono_ms() - d->last_persist_ms >= PERSIST_EVERY_MS)
                        persist(d);
        }
        return NULL;
}

/* At shutdown, a local destination takes what is stored (one attempt). */
static void drain(struct delivery *d)
{
        struct spool_reader *r;
        uint64_t from;

        pthread_mutex_lock(&d->mu);
        from = d->delivered + 1;
        pthread_mutex_unlock(&d->mu);
        if (spool_reader_new(d->spool, from, &r) < 0)
                return;
        spool_reader_free(d->reader);
        d->reader = r;
        for (;;) {
                if (collect(d) < 0 || d->n == 0 || deliver_batch(d, false) < 0)
                        break;
                clear_batch(d);
        }
        clear_batch(d);
}

int delivery_new(const struct audit_config *c, const struct audit_dest_config *dc, struct spool *spool, int dir_fd,
                 struct deadletter *dl, delivery_progress_fn progress, void *userdata, struct delivery **ret,
                 struct ak_error *err)
{
        struct delivery *d = calloc(1, sizeof(*d));
        pthread_condattr_t ca;
        uint64_t pos;
        int r;

        if (!d)
                return ak_error_errno(err, -ENOMEM, "destination %s", dc->name);
        d->c = c;
        d->dc = dc;
        d->ops = dest_ops_for(dc->type);
        d->spool = spool;
        d->dir_fd = dir_fd;
        d->dl = dl;
        d->progress = progress;
        d->userdata = userdata;
        pthread_mutex_init(&d->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&d->wake, &ca);
        pthread_condattr_destroy(&ca);
        d->raw = calloc(c->batch_size, sizeof(*d->raw));
        d->out = calloc(c->batch_size, sizeof(*d->out));
        if (!d->raw || !d->out) {
                r = ak_error_errno(err, -ENOMEM, "destination %s", dc->name);
                goto fail;
        }
        r = cursor_load(dir_fd, dc->name, &pos, err);
        if (r == -EBADMSG)
                pos = 0; /* deliver everything kept again: duplicates, never loss */
        else if (r < 0)
                goto fail;
        d->delivered = d->persisted = pos;
        r = spool_reader_new(spool, pos + 1, &d->reader);
        if (r < 0) {
                r = ak_error_errno(err, r, "destination %s", dc->name);
                goto fail;
        }
        r = d->ops->open(dc, c, &d->state, err);
        if (r < 0)
                goto fail;
        *ret = d;
        return 0;
fail:
        delivery_free(d);
        return r;
}

int delivery_start(struct delivery *d, struct ak_error *err)
{
        int r = pthread_create(&d->thread, NULL, run, d);

        if (r != 0)
                return ak_error_errno(err, -r, "destination %s: start thread", d->dc->name);
        d->started = true;
        return 0;
}

void delivery_free(struct delivery *d)
{
        if (!d)
                return;
        if (d->started) {
                pthread_mutex_lock(&d->mu);
                __atomic_store_n(&d->stop, 1, __ATOMIC_RELAXED);
                pthread_cond_broadcast(&d->wake);
                pthread_mutex_unlock(&d->mu);
                pthread_join(d->thread, NULL);
                clear_batch(d);
                if (d->ops->local)
                        drain(d);
                persist(d);
        }
        if (d->state)
                d->ops->close(d->state);
        spool_reader_free(d->reader);
        free(d->raw);
        free(d->out);
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->mu);
        free(d);
}

void delivery_status(struct delivery *d, struct delivery_status *ret)
{
        pthread_mutex_lock(&d->mu);
        ret->name = d->dc->name;
        ret->delivered_position = d->delivered;
        ret->persisted_position = d->persisted;
        ret->dead_lettered = d->dead_lettered;
        ret->delivered_events = d->delivered_events;
        snprintf(ret->last_error, sizeof(ret->last_error), "%s", d->last_error);
        pthread_mutex_unlock(&d->mu);
}
