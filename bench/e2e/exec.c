/* Exec round trips of `true` on one warm sandbox, through the scheduler or
 * straight to the executor, one client at a time or many at once. */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/e2e/e2e.h"
#include "lib/base/time.h"
#include "protos/ak/v1/sandbox.pb-c.h"

#define EXEC_DEADLINE_MS 60000
#define MAX_CLIENTS 256

void samples_add(struct samples *s, double ms)
{
        if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 1024;
                s->v = realloc(s->v, s->cap * sizeof(*s->v));
                if (!s->v)
                        abort();
        }
        s->v[s->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

double samples_pct(struct samples *s, double q)
{
        if (s->n == 0)
                return 0;
        qsort(s->v, s->n, sizeof(*s->v), cmp_double);
        size_t i = (size_t)(q * (double)(s->n - 1) + 0.5);
        return s->v[i];
}

void samples_free(struct samples *s)
{
        free(s->v);
        s->v = NULL;
        s->n = s->cap = 0;
}

int e2e_exec_true(struct rpc_channel *ch, const struct e2e_target *t, const char *sandbox,
                  struct ak_error *err)
{
        char *argv[] = { (char *)"true" };
        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
        req.sandbox = (char *)sandbox;
        req.argv = argv;
        req.n_argv = 1;
        struct rpc_call_options o = { .timeout_ms = EXEC_DEADLINE_MS, .bearer_token = t->token };
        struct rpc_stream *st = NULL;
        if (rpc_stream_open(ch, t->service, "Exec", &req.base, &o, &st, err) != RPC_OK) {
                ak_error_wrap(err, "exec true in %s via %s", sandbox, t->address);
                return -EIO;
        }
        int exit_code = -1, r;
        ProtobufCMessage *m = NULL;
        while ((r = rpc_stream_next(st, &m, err)) > 0) {
                const Ak__V1__OutputChunk *c = (const Ak__V1__OutputChunk *)m;
                if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT)
                        exit_code = c->result->exit_code;
                protobuf_c_message_free_unpacked(m, NULL);
        }
        rpc_stream_free(st);
        if (r < 0) {
                ak_error_wrap(err, "exec true in %s via %s", sandbox, t->address);
                return -EIO;
        }
        if (exit_code != 0)
                return ak_error_set(err, -EIO, "exec true in %s via %s: exit code %d", sandbox, t->address,
                                    exit_code);
        return 0;
}

int e2e_exec_interleaved(const struct e2e_target *a, const struct e2e_target *b, const char *sandbox,
                         int n, struct samples *ra, struct samples *rb, struct ak_error *err)
{
        struct rpc_channel *ca = NULL, *cb = NULL;
        int r = rpc_channel_new(a->address, NULL, &ca, err);
        if (r == 0)
                r = rpc_channel_new(b->address, NULL, &cb, err);
        for (int i = 0; r == 0 && i < 5; i++) {  /* connect and warm both paths */
                r = e2e_exec_true(ca, a, sandbox, err);
                if (r == 0)
                        r = e2e_exec_true(cb, b, sandbox, err);
        }
        /* Alternate which path goes first in each pair: the second call
         * follows a guest still tidying up after the first. */
        for (int i = 0; r == 0 && i < n; i++) {
                bool a_first = i % 2 == 0;
                double ms_a = 0, ms_b = 0;
                for (int k = 0; r == 0 && k < 2; k++) {
                        bool is_a = (k == 0) == a_first;
                        double t0 = ((double)ak_mono_ns() / 1e6);
                        r = e2e_exec_true(is_a ? ca : cb, is_a ? a : b, sandbox, err);
                        *(is_a ? &ms_a : &ms_b) = ((double)ak_mono_ns() / 1e6) - t0;
                }
                if (r < 0)
                        break;
                samples_add(ra, ms_a);
                samples_add(rb, ms_b);
        }
        rpc_channel_free(ca);
        rpc_channel_free(cb);
        return r;
}

/* Holds every client until all are connected, then lets them go at once. */
struct gate {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int state;   /* 0: wait, 1: go, -1: stop */
};

struct client {
        const struct e2e_target *t;
        const char *sandbox;
        int n;
        struct gate *gate;
        struct rpc_channel *ch;
        struct samples lat;
        int r;
        struct ak_error err;
};

static void *client_main(void *arg)
{
        struct client *c = arg;
        pthread_mutex_lock(&c->gate->lock);
        while (c->gate->state == 0)
                pthread_cond_wait(&c->gate->cond, &c->gate->lock);
        bool go = c->gate->state > 0;
        pthread_mutex_unlock(&c->gate->lock);
        for (int i = 0; go && i < c->n && c->r == 0; i++) {
                double t0 = ((double)ak_mono_ns() / 1e6);
                c->r = e2e_exec_true(c->ch, c->t, c->sandbox, &c->err);
                if (c->r == 0)
                        samples_add(&c->lat, ((double)ak_mono_ns() / 1e6) - t0);
        }
        return NULL;
}

static void gate_open(struct gate *g, int state)
{
        pthread_mutex_lock(&g->lock);
        g->state = state;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
}

int e2e_exec_concurrent(const struct e2e_target *t, const char *sandbox, int clients, int per_client,
                        struct samples *ret, double *ret_rate, struct ak_error *err)
{
        if (clients < 1 || clients > MAX_CLIENTS)
                return ak_error_set(err, -EINVAL, "clients: %d, between 1 and %d", clients, MAX_CLIENTS);
        struct client *cs = calloc((size_t)clients, sizeof(*cs));
        pthread_t *tids = calloc((size_t)clients, sizeof(*tids));
        struct gate gate = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
        int r = 0, started = 0;
        if (!cs || !tids) {
                free(cs);
                free(tids);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        for (int i = 0; i < clients && r == 0; i++) {
                cs[i] = (struct client){ .t = t, .sandbox = sandbox, .n = per_client, .gate = &gate };
                r = rpc_channel_new(t->address, NULL, &cs[i].ch, err);
                /* Connected before the clock starts. */
                if (r == 0)
                        r = e2e_exec_true(cs[i].ch, t, sandbox, err);
        }
        for (int i = 0; i < clients && r == 0; i++) {
                int e = pthread_create(&tids[i], NULL, client_main, &cs[i]);
                if (e != 0)
                        r = ak_error_errno(err, -e, "start client thread");
                else
                        started++;
        }
        double t0 = ((double)ak_mono_ns() / 1e6);
        gate_open(&gate, r == 0 ? 1 : -1);
        for (int i = 0; i < started; i++)
                pthread_join(tids[i], NULL);
        double wall = ((double)ak_mono_ns() / 1e6) - t0;
        size_t calls = 0;
        for (int i = 0; i < clients; i++) {
                if (r == 0 && cs[i].r < 0) {
                        r = cs[i].r;
                        *err = cs[i].err;
                }
                for (size_t k = 0; k < cs[i].lat.n; k++)
                        samples_add(ret, cs[i].lat.v[k]);
                calls += cs[i].lat.n;
                samples_free(&cs[i].lat);
                rpc_channel_free(cs[i].ch);
        }
        if (r == 0 && ret_rate)
                *ret_rate = wall > 0 ? (double)calls * 1000.0 / wall : 0;
        free(cs);
        free(tids);
        return r;
}
