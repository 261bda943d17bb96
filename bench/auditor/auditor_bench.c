/* bench/auditor: acknowledged (durable) events per second through the real
 * service (lib/rpc client -> ak.v1.Auditor/Emit on loopback -> spool
 * fdatasync), with 1 and 16 concurrent emitters sending batches of 1 and 10,
 * beside the floor measured in the same run on the same filesystem: as
 * many writers as emitters, each appending the same record bytes and calling
 * fdatasync once per group of the same size. Prints Emit p50/p99 and the webhook delivery rate
 * to a local HTTP sink.
 *
 * bazel run -c opt //bench/auditor -- [--seconds N] [--dir DIR]
 * (DIR: where the spool and the floor's file live; default /var/tmp) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/fs.h"
#include "lib/base/time.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/auditor.pb-c.h"
#include "services/auditor/auditor.h"
#include "services/auditor/server.h"
#include "services/auditor/testing/http_sink.h"

static double seconds = 2.0;
static const char *base_dir = "/var/tmp";

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

__attribute__((noreturn)) static void die(const char *what, const char *msg)
{
        fprintf(stderr, "bench/auditor: %s: %s\n", what, msg);
        exit(1);
}

static char *make_dir(const char *name)
{
        char *p;
        if (asprintf(&p, "%s/akbench-%s.XXXXXX", base_dir, name) < 0 || !mkdtemp(p))
                die("mkdtemp", strerror(errno));
        return p;
}

static void remove_dir(const char *dir)
{
        if (ak_rm_rf(dir) < 0)
                fprintf(stderr, "bench/auditor: could not remove %s\n", dir);
}

/* The event every emitter sends: what an executor reports for a new sandbox. */
static void fill_event(Ak__V1__AuditEvent *e, Ak__V1__ResourceInfo *r, Ak__V1__ActorInfo *a)
{
        Ak__V1__AuditEvent ei = AK__V1__AUDIT_EVENT__INIT;
        Ak__V1__ResourceInfo ri = AK__V1__RESOURCE_INFO__INIT;
        Ak__V1__ActorInfo ai = AK__V1__ACTOR_INFO__INIT;
        *e = ei;
        *r = ri;
        *a = ai;
        r->resource_type = (char *)"sandbox";
        r->resource_id_opt_case = AK__V1__RESOURCE_INFO__RESOURCE_ID_OPT_RESOURCE_ID;
        r->resource_id = (char *)"ci-job-18342";
        r->attributes_json = (char *)"{\"image\":\"python:3.12-slim\",\"profile\":\"restrictive\",\"vcpus\":2}";
        a->user_id_opt_case = AK__V1__ACTOR_INFO__USER_ID_OPT_USER_ID;
        a->user_id = (char *)"ci-runner";
        e->type_name = (char *)"sandbox_created";
        e->action = (char *)"create";
        e->outcome = AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT;
        e->resource = r;
        e->actor = a;
}

/* The bytes the spool stores for that event (header + agentkernel JSON). */
static size_t record_size(void)
{
        Ak__V1__AuditEvent e;
        Ak__V1__ResourceInfo r;
        Ak__V1__ActorInfo a;
        struct audit_event *ev;
        struct ak_error err;
        char *json;
        size_t len;

        fill_event(&e, &r, &a);
        if (audit_event_from_pb(&e, &ev, &err) < 0 || audit_event_to_json(ev, &json, &len) < 0)
                die("event", err.msg);
        audit_event_free(ev);
        free(json);
        return SPOOL_RECORD_HEADER + len;
}

/* ---- the floor ------------------------------------------------------------ */

struct floor_writer {
        int fd;
        size_t len, slot, slots; /* !append: this writer's slots of len bytes in the file */
        unsigned group;
        bool append;
        uint64_t end, events;
        char *buf;
};

static void *floor_writer_run(void *arg)
{
        struct floor_writer *w = arg;
        size_t off = w->slot * w->len, step = w->slots * w->len;
        const size_t prealloc = 8u << 20;
        while (ak_mono_ns() < w->end) {
                if (!w->append && off + w->len > prealloc)
                        off = w->slot * w->len;
                ssize_t n = w->append ? write(w->fd, w->buf, w->len) : pwrite(w->fd, w->buf, w->len, (off_t)off);
                if (n != (ssize_t)w->len || fdatasync(w->fd) < 0)
                        die("floor write", strerror(errno));
                off += step;
                w->events += w->group;
        }
        return NULL;
}

/* `writers` threads at once (the service's emitters: the same
 * concurrency), each writing `group` records of `rec` bytes then calling
 * fdatasync, for `secs`, on one file.
 * append: to the end of a growing file (the floor the issue names).
 * !append: over a file zero-filled and synced beforehand (what the spool's
 * preallocated segments do), each writer in its own slots, wrapping around
 * at its end. */
static double floor_rate(size_t rec, unsigned group, double secs, bool append, unsigned writers)
{
        const size_t prealloc = 8u << 20;
        char *dir = make_dir("floor"), path[600];
        size_t len = rec * group;
        char *buf = malloc(len > prealloc ? len : prealloc);
        struct floor_writer w[16];
        pthread_t th[16];
        uint64_t events = 0, t0;
        int fd;

        if (!buf || writers < 1 || writers > 16 || len * writers > prealloc)
                die("floor", "out of memory or too many writers");
        snprintf(path, sizeof(path), "%s/floor.log", dir);
        fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : 0) | O_CLOEXEC, 0600);
        if (fd < 0)
                die(path, strerror(errno));
        if (!append) {
                memset(buf, 0, prealloc);
                if (write(fd, buf, prealloc) != (ssize_t)prealloc || fdatasync(fd) < 0)
                        die("floor prealloc", strerror(errno));
        }
        memset(buf, 'x', len);
        t0 = ak_mono_ns();
        for (unsigned i = 0; i < writers; i++) {
                w[i] = (struct floor_writer){ .fd = fd, .len = len, .slot = i, .slots = writers, .group = group,
                                              .append = append, .end = t0 + (uint64_t)(secs * 1e9), .buf = buf };
                if (pthread_create(&th[i], NULL, floor_writer_run, &w[i]) != 0)
                        die("floor", "pthread_create failed");
        }
        for (unsigned i = 0; i < writers; i++) {
                pthread_join(th[i], NULL);
                events += w[i].events;
        }
        double rate = (double)events / ((double)(ak_mono_ns() - t0) / 1e9);
        close(fd);
        free(buf);
        remove_dir(dir);
        free(dir);
        return rate;
}

/* ---- the service ---------------------------------------------------------- */

struct service {
        char *dir;
        struct auditor *a;
        struct rpc_server *srv;
        char target[64];
};

static void service_start(struct service *s, const char *config, bool deliver)
{
        struct audit_config *c;
        struct ak_error err;
        int port = 0;

        s->dir = make_dir("spool");
        if (audit_config_parse(config, strlen(config), "bench", &c, &err) < 0 ||
            auditor_new(c, s->dir, &s->a, &err) < 0 || rpc_server_new(NULL, &s->srv, &err) < 0 ||
            rpc_server_listen(s->srv, "127.0.0.1:0", NULL, &port, &err) < 0 ||
            auditor_server_add(s->srv, s->a, &err) < 0 || rpc_server_start(s->srv, &err) < 0 ||
            (deliver && auditor_start(s->a, &err) < 0))
                die("start", err.msg);
        snprintf(s->target, sizeof(s->target), "127.0.0.1:%d", port);
}

static void service_stop(struct service *s)
{
        rpc_server_shutdown(s->srv, 1000);
        auditor_free(s->a);
        remove_dir(s->dir);
        free(s->dir);
}

struct emitter {
        const char *target;
        unsigned batch;
        uint64_t end;
        uint64_t *lat;
        size_t n_lat, cap_lat;
        uint64_t events;
};

static void *emit_loop(void *arg)
{
        struct emitter *em = arg;
        Ak__V1__AuditEvent ev[10];
        Ak__V1__ResourceInfo res[10];
        Ak__V1__ActorInfo act[10];
        Ak__V1__AuditEvent *ptrs[10];
        Ak__V1__EmitRequest req = AK__V1__EMIT_REQUEST__INIT;
        struct rpc_call_options opts = { .timeout_ms = 30000 };
        struct rpc_channel *ch;
        struct ak_error err;

        for (unsigned i = 0; i < em->batch; i++) {
                fill_event(&ev[i], &res[i], &act[i]);
                ptrs[i] = &ev[i];
        }
        req.n_events = em->batch;
        req.events = ptrs;
        if (rpc_channel_new(em->target, NULL, &ch, &err) < 0)
                die("channel", err.msg);
        while (ak_mono_ns() < em->end) {
                ProtobufCMessage *resp;
                uint64_t t = ak_mono_ns();
                if (rpc_unary(ch, &ak__v1__auditor__descriptor, "Emit", &req.base, &opts, &resp, &err) != RPC_OK)
                        die("Emit", err.msg);
                protobuf_c_message_free_unpacked(resp, NULL);
                if (em->n_lat == em->cap_lat) {
                        em->cap_lat = em->cap_lat ? 2 * em->cap_lat : 4096;
                        em->lat = realloc(em->lat, em->cap_lat * sizeof(*em->lat));
                        if (!em->lat)
                                die("latency", "out of memory");
                }
                em->lat[em->n_lat++] = ak_mono_ns() - t;
                em->events += em->batch;
        }
        rpc_channel_free(ch);
        return NULL;
}

struct ingest {
        double rate, p50_us, p99_us, group;
};

static struct ingest ingest(unsigned emitters, unsigned batch, double secs)
{
        /* Delivery is not started: this measures acknowledgement alone. */
        static const char config[] =
                "{\"destination\":{\"type\":\"http_webhook\",\"url\":\"http://127.0.0.1:9/\"}}";
        struct emitter em[16];
        pthread_t th[16];
        struct service s;
        struct spool_stats st;
        struct ingest out;
        uint64_t t0, events = 0;
        size_t n = 0;

        service_start(&s, config, false);
        memset(em, 0, sizeof(em));
        t0 = ak_mono_ns();
        for (unsigned i = 0; i < emitters; i++) {
                em[i].target = s.target;
                em[i].batch = batch;
                em[i].end = t0 + (uint64_t)(secs * 1e9);
                pthread_create(&th[i], NULL, emit_loop, &em[i]);
        }
        for (unsigned i = 0; i < emitters; i++) {
                pthread_join(th[i], NULL);
                events += em[i].events;
                n += em[i].n_lat;
        }
        double took = (double)(ak_mono_ns() - t0) / 1e9;
        uint64_t *all = malloc(n * sizeof(*all));
        size_t k = 0;
        for (unsigned i = 0; i < emitters; i++) {
                memcpy(all + k, em[i].lat, em[i].n_lat * sizeof(*all));
                k += em[i].n_lat;
                free(em[i].lat);
        }
        qsort(all, n, sizeof(*all), cmp_u64);
        spool_stats(auditor_spool(s.a), &st);
        out.rate = (double)events / took;
        out.p50_us = (double)all[n / 2] / 1e3;
        out.p99_us = (double)all[n * 99 / 100] / 1e3;
        out.group = st.commits ? (double)st.committed_records / (double)st.commits : 0;
        free(all);
        service_stop(&s);
        return out;
}

/* auditor_append from one thread, without gRPC: what the spool itself costs. */
static double direct(unsigned batch, double secs)
{
        static const char config[] =
                "{\"destination\":{\"type\":\"http_webhook\",\"url\":\"http://127.0.0.1:9/\"}}";
        Ak__V1__AuditEvent e;
        Ak__V1__ResourceInfo r;
        Ak__V1__ActorInfo a;
        struct audit_event *evs[10];
        struct service s;
        struct ak_error err;
        uint64_t first, events = 0, t0, end;

        service_start(&s, config, false);
        fill_event(&e, &r, &a);
        t0 = ak_mono_ns();
        end = t0 + (uint64_t)(secs * 1e9);
        while (ak_mono_ns() < end) {
                for (unsigned k = 0; k < batch; k++)
                        if (audit_event_from_pb(&e, &evs[k], &err) < 0)
                                die("event", err.msg);
                if (auditor_append(s.a, evs, batch, &first, &err) < 0)
                        die("append", err.msg);
                for (unsigned k = 0; k < batch; k++)
                        audit_event_free(evs[k]);
                events += batch;
        }
        double rate = (double)events / ((double)(ak_mono_ns() - t0) / 1e9);
        service_stop(&s);
        return rate;
}

/* Events stored first, then the deliveries started: events/s to the sink. */
static double delivery(unsigned batch_size, unsigned n_events, unsigned *ret_requests)
{
        struct http_sink *sink;
        struct service s;
        char config[512];
        Ak__V1__AuditEvent e;
        Ak__V1__ResourceInfo r;
        Ak__V1__ActorInfo a;
        struct audit_event *evs[100];
        struct auditor_status st;
        struct ak_error err;
        uint64_t first, t0;

        if (http_sink_start(&sink) < 0)
                die("sink", "cannot listen");
        snprintf(config, sizeof(config),
                 "{\"destination\":{\"type\":\"http_webhook\",\"url\":\"http://127.0.0.1:%d/audit\"},"
                 "\"batch_size\":%u,\"flush_interval_secs\":0}",
                 http_sink_port(sink), batch_size);
        service_start(&s, config, false);
        fill_event(&e, &r, &a);
        for (unsigned i = 0; i < n_events; i += 100) {
                for (int k = 0; k < 100; k++)
                        if (audit_event_from_pb(&e, &evs[k], &err) < 0)
                                die("event", err.msg);
                if (auditor_append(s.a, evs, 100, &first, &err) < 0)
                        die("append", err.msg);
                for (int k = 0; k < 100; k++)
                        audit_event_free(evs[k]);
        }
        t0 = ak_mono_ns();
        if (auditor_start(s.a, &err) < 0)
                die("start", err.msg);
        for (;;) {
                if (auditor_status(s.a, &st) < 0)
                        die("status", "out of memory");
                uint64_t done = st.dests[0].delivered_position;
                auditor_status_free(&st);
                if (done >= n_events)
                        break;
                usleep(1000);
        }
        double rate = n_events / ((double)(ak_mono_ns() - t0) / 1e9);
        *ret_requests = (unsigned)http_sink_requests(sink);
        service_stop(&s);
        http_sink_stop(sink);
        return rate;
}

#define ROUNDS 3

int main(int argc, char **argv)
{
        static const unsigned emitters[] = { 1, 16 }, batches[] = { 1, 10 };

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
                        seconds = atof(argv[++i]);
                else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
                        base_dir = argv[++i];
                else
                        die("usage", "bench/auditor [--seconds N] [--dir DIR]");
        }
        size_t rec = record_size();
        printf("bench/auditor: Emit acknowledged once fdatasync'ed; %zu-byte records; %.1f s per cell in %d\n"
               "interleaved rounds (the disk is shared: floor and service are measured turn about);\n"
               "spool and floors in %s; %ld cores\n\n",
               rec, seconds, ROUNDS, base_dir, sysconf(_SC_NPROCESSORS_ONLN));
        printf("floor:     as many writers as emitters (one for direct), each appending the same records to\n"
               "           one file with one fdatasync per group of the batch size\n");
        printf("floor-pre: the same, overwriting a zero-filled, synced file (as the spool's segments)\n\n");
        printf("%-9s %-6s %10s %10s %7s %10s %7s %9s %9s %7s\n", "emitters", "batch", "events/s", "floor",
               "ratio", "floor-pre", "ratio", "p50 us", "p99 us", "group");
        for (size_t b = 0; b < 2; b++)
                for (size_t e = 0; e < 2; e++) {
                        double fl = 0, flp = 0, rate = 0, p50 = 0, p99 = 0, group = 0;
                        for (int k = 0; k < ROUNDS; k++) {
                                double d = seconds / ROUNDS;
                                fl += floor_rate(rec, batches[b], d, true, emitters[e]) / ROUNDS;
                                struct ingest r = ingest(emitters[e], batches[b], d);
                                flp += floor_rate(rec, batches[b], d, false, emitters[e]) / ROUNDS;
                                rate += r.rate / ROUNDS;
                                p50 += r.p50_us / ROUNDS;
                                p99 = r.p99_us > p99 ? r.p99_us : p99;
                                group += r.group / ROUNDS;
                        }
                        printf("%-9u %-6u %10.0f %10.0f %6.0f%% %10.0f %6.0f%% %9.0f %9.0f %7.1f\n", emitters[e],
                               batches[b], rate, fl, 100.0 * rate / fl, flp, 100.0 * rate / flp, p50, p99, group);
                }
        for (size_t b = 0; b < 2; b++) {
                double fl = 0, flp = 0, rate = 0;
                for (int k = 0; k < ROUNDS; k++) {
                        double d = seconds / ROUNDS;
                        fl += floor_rate(rec, batches[b], d, true, 1) / ROUNDS;
                        rate += direct(batches[b], d) / ROUNDS;
                        flp += floor_rate(rec, batches[b], d, false, 1) / ROUNDS;
                }
                printf("%-9s %-6u %10.0f %10.0f %6.0f%% %10.0f %6.0f%%   (in process, no gRPC)\n", "direct",
                       batches[b], rate, fl, 100.0 * rate / fl, flp, 100.0 * rate / flp);
        }
        printf("\ntarget: events/s >= 80%% of the floor. group: records per fdatasync the spool achieved\n"
               "(group commit across emitters). p50: mean of the rounds' medians; p99: the worst round's.\n\n");

        unsigned req;
        for (unsigned bs = 10; bs <= 100; bs *= 10) {
                double rate = delivery(bs, 20000, &req);
                printf("webhook delivery to a local sink: batch_size %u: %.0f events/s (%u POSTs for 20000 "
                       "events, cursor fsync'ed every 200 ms)\n",
                       bs, rate, req);
        }
        return 0;
}
