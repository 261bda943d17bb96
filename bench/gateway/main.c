/* bench/gateway: what ak-gateway adds over the scheduler's gRPC, on the
 * whole local stack as `ak up` starts it (real microVMs, the gateway on
 * 127.0.0.1 with a free port), in one run with same-run baselines:
 *   1. POST /sandboxes/{n}/exec of `true` through the gateway vs the same
 *      Exec over gRPC to the scheduler, one client (interleaved) and 16
 *      clients at once (two alternating rounds each): p50, p99, and the p50
 *      the gateway adds (target: at most 1 ms);
 *   2. GET /health requests/s through ak-gateway vs a bare libmicrohttpd
 *      server in this process (epoll, answering in its event thread), 1 and
 *      16 clients on keep-alive connections;
 *   3. SSE time to first byte: POST /run/stream of `echo hi` (a warm VM
 *      each: the pool is waited for before every run), to the stream's first
 *      byte and to its first output event, vs the same Scheduler.Run over
 *      gRPC to its first message and first stdout chunk, alternated.
 * Supervised like bench/e2e (its pieces): however the measuring child ends,
 * the stack is stopped and the temporary $AK_HOME removed.
 *
 *   bazel run -c opt //bench/gateway -- [--iterations N] [--clients N]
 *       [--per-client N] [--health-s S] [--sse-runs N] */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bench/e2e/e2e.h"
#include "bench/gateway/http.h"
#include "cli/stack.h"
#include "lib/base/parse.h"
#include "lib/base/time.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "protos/ak/v1/scheduler.pb-c.h"

#define SANDBOX "gw-bench"
#define TARGET_ADDED_MS 1.0
#define EXEC_BODY "{\"command\":[\"true\"]}"
#define RUN_BODY "{\"command\":[\"echo\",\"hi\"]}"
#define POOL_TIMEOUT_MS 600000

struct opts {
        int iterations, clients, per_client, health_s, sse_runs;
};

static char g_home[64];

static double now_ms(void)
{
        return (double)ak_mono_ns() / 1e6;
}

struct gw {
        uint16_t port;
        const char *key;
};

static int gw_exec(struct bhc *c, const struct gw *g, struct ak_error *err)
{
        int status = 0;
        int r = bhc_request(c, "POST", "/sandboxes/" SANDBOX "/exec", g->key, EXEC_BODY, &status, err);
        if (r == 0 && status != 200)
                r = ak_error_set(err, -EIO, "POST /sandboxes/%s/exec answered %d", SANDBOX, status);
        return r;
}

/* ---- concurrent clients ------------------------------------------------- */

enum kind { K_GW_EXEC, K_GRPC_EXEC, K_HEALTH };

struct worker {
        enum kind kind;
        const struct gw *g;
        uint16_t port;                  /* K_HEALTH: the server */
        const struct e2e_target *t;     /* K_GRPC_EXEC */
        int n;                          /* calls; K_HEALTH: 0 = until deadline */
        double deadline;
        struct samples lat;
        long done;
        struct ak_error err;
        int rc;
};

static void *work(void *arg)
{
        struct worker *w = arg;
        struct bhc *c = NULL;
        struct rpc_channel *ch = NULL;
        if (w->kind == K_GRPC_EXEC) {
                w->rc = rpc_channel_new(w->t->address, NULL, &ch, &w->err);
        } else {
                c = malloc(sizeof(*c));
                w->rc = c ? bhc_connect(w->kind == K_HEALTH ? w->port : w->g->port, c, &w->err) : -ENOMEM;
        }
        for (int i = 0; w->rc == 0 && (w->n ? i < w->n : now_ms() < w->deadline); i++) {
                double t0 = now_ms();
                int status = 0;
                if (w->kind == K_GRPC_EXEC)
                        w->rc = e2e_exec_true(ch, w->t, SANDBOX, &w->err);
                else if (w->kind == K_GW_EXEC)
                        w->rc = gw_exec(c, w->g, &w->err);
                else if ((w->rc = bhc_request(c, "GET", "/health", NULL, NULL, &status, &w->err)) == 0 &&
                         status != 200)
                        w->rc = ak_error_set(&w->err, -EIO, "GET /health answered %d", status);
                if (w->kind != K_HEALTH)
                        samples_add(&w->lat, now_ms() - t0);
                w->done++;
        }
        if (c) {
                bhc_close(c);
                free(c);
        }
        rpc_channel_free(ch);
        return NULL;
}

/* `clients` workers of `proto` at once; latencies into lat (may be NULL),
 * calls per second into *ret_rate. */
static int crowd(const struct worker *proto, int clients, struct samples *lat, double *ret_rate,
                 struct ak_error *err)
{
        struct worker *w = calloc((size_t)clients, sizeof(*w));
        pthread_t *th = calloc((size_t)clients, sizeof(*th));
        int r = 0, started = 0;
        long total = 0;
        if (!w || !th) {
                free(w);
                free(th);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        double t0 = now_ms();
        for (int i = 0; i < clients; i++) {
                w[i] = *proto;
                memset(&w[i].lat, 0, sizeof(w[i].lat));
                if (pthread_create(&th[i], NULL, work, &w[i]) != 0)
                        break;
                started++;
        }
        for (int i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        double secs = (now_ms() - t0) / 1e3;
        for (int i = 0; i < started; i++) {
                if (w[i].rc < 0 && r == 0) {
                        r = w[i].rc;
                        *err = w[i].err;
                }
                total += w[i].done;
                for (size_t k = 0; lat && k < w[i].lat.n; k++)
                        samples_add(lat, w[i].lat.v[k]);
                samples_free(&w[i].lat);
        }
        if (started < clients && r == 0)
                r = ak_error_set(err, -EAGAIN, "pthread_create: %d of %d threads", started, clients);
        *ret_rate = secs > 0 ? (double)total / secs : 0;
        free(w);
        free(th);
        return r;
}

/* ---- the run -------------------------------------------------------------- */

struct figures {
        struct samples gw1, grpc1, gwn, grpcn;
        double rate_gwn, rate_grpcn, health_gw[2], health_bare[2];
        struct samples sse_first, sse_output, grpc_first, grpc_output;
        double up_s;
};

static int create_sandbox(struct rpc_channel *ch, const char *token, struct ak_error *err)
{
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.name = (char *)SANDBOX;
        spec.persistent = true;
        Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        req.spec = &spec;
        struct rpc_call_options o = { .timeout_ms = 300000, .bearer_token = token };
        ProtobufCMessage *sb = NULL;
        if (rpc_unary(ch, &ak__v1__scheduler__descriptor, "CreateSandbox", &req.base, &o, &sb, err) != RPC_OK)
                return -EIO;
        protobuf_c_message_free_unpacked(sb, NULL);
        return 0;
}

static int measure_exec(const struct opts *o, const struct gw *g, const struct e2e_target *sched,
                        struct figures *f, struct ak_error *err)
{
        struct bhc *c = malloc(sizeof(*c));
        struct rpc_channel *ch = NULL;
        int r = c ? bhc_connect(g->port, c, err) : -ENOMEM;
        if (r == 0)
                r = rpc_channel_new(sched->address, NULL, &ch, err);
        /* Warm both paths, then interleave so drift hits both alike. */
        for (int i = 0; r == 0 && i < 5; i++)
                if ((r = gw_exec(c, g, err)) == 0)
                        r = e2e_exec_true(ch, sched, SANDBOX, err);
        for (int i = 0; r == 0 && i < o->iterations; i++) {
                double t0 = now_ms();
                if ((r = gw_exec(c, g, err)) < 0)
                        break;
                double t1 = now_ms();
                samples_add(&f->gw1, t1 - t0);
                if ((r = e2e_exec_true(ch, sched, SANDBOX, err)) < 0)
                        break;
                samples_add(&f->grpc1, now_ms() - t1);
        }
        if (c && c->fd >= 0)
                bhc_close(c);
        free(c);
        rpc_channel_free(ch);
        int n = (o->per_client + 1) / 2;
        struct worker pg = { .kind = K_GW_EXEC, .g = g, .n = n };
        struct worker pr = { .kind = K_GRPC_EXEC, .t = sched, .n = n };
        for (int round = 0; round < 2 && r == 0; round++) {
                double rate = 0;
                if ((r = crowd(&pg, o->clients, &f->gwn, &rate, err)) == 0) {
                        f->rate_gwn += rate / 2;
                        r = crowd(&pr, o->clients, &f->grpcn, &rate, err);
                        f->rate_grpcn += rate / 2;
                }
        }
        return r;
}

static int measure_health(const struct opts *o, const struct gw *g, struct figures *f, struct ak_error *err)
{
        struct bare *b = NULL;
        uint16_t bport = 0;
        int r = bare_start(&b, &bport, err);
        const int clients[2] = { 1, o->clients };
        for (int k = 0; k < 2 && r == 0; k++) {
                struct worker pg = { .kind = K_HEALTH, .port = g->port, .deadline = now_ms() + o->health_s * 1000.0 };
                if ((r = crowd(&pg, clients[k], NULL, &f->health_gw[k], err)) < 0)
                        break;
                struct worker pb = { .kind = K_HEALTH, .port = bport, .deadline = now_ms() + o->health_s * 1000.0 };
                r = crowd(&pb, clients[k], NULL, &f->health_bare[k], err);
        }
        bare_stop(b);
        return r;
}

/* Scheduler.Run of `echo hi` (a new sandbox, as POST /run/stream makes):
 * ms to the first message and to the first stdout chunk. */
static int grpc_run(const struct e2e_target *sched, double *ret_first, double *ret_output, struct ak_error *err)
{
        char *argv[] = { (char *)"echo", (char *)"hi" };
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        Ak__V1__RunRequest req = AK__V1__RUN_REQUEST__INIT;
        struct rpc_channel *ch = NULL;
        struct rpc_stream *st = NULL;
        ProtobufCMessage *m;
        double first = -1, output = -1;
        bool done = false;

        req.spec = &spec;
        req.argv = argv;
        req.n_argv = 2;
        int r = rpc_channel_new(sched->address, NULL, &ch, err);
        if (r < 0)
                return r;
        struct rpc_call_options co = { .timeout_ms = 300000, .bearer_token = sched->token };
        double t0 = now_ms();
        if (rpc_stream_open(ch, &ak__v1__scheduler__descriptor, "Run", &req.base, &co, &st, err) != RPC_OK) {
                rpc_channel_free(ch);
                return -EIO;
        }
        while ((r = rpc_stream_next(st, &m, err)) == 1) {
                double t = now_ms() - t0;
                Ak__V1__OutputChunk *c = (Ak__V1__OutputChunk *)m;
                if (first < 0)
                        first = t;
                if (output < 0 && c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT)
                        output = t;
                done |= c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT;
                protobuf_c_message_free_unpacked(m, NULL);
        }
        rpc_stream_free(st);
        rpc_channel_free(ch);
        if (r < 0)
                return -EIO;
        if (!done)
                return ak_error_set(err, -EIO, "Scheduler.Run ended without a result");
        *ret_first = first;
        *ret_output = output;
        return 0;
}

static int measure_sse(const struct opts *o, const struct gw *g, const struct e2e_target *sched,
                       const struct e2e_target *exe, struct figures *f, struct ak_error *err)
{
        struct e2e_pool pool;
        double a, b;
        int r = 0;

        for (int i = 0; r == 0 && i < o->sse_runs; i++) {
                if ((r = e2e_pool_wait_placeable(sched, exe, POOL_TIMEOUT_MS, &pool, err)) < 0 ||
                    (r = bhc_sse(g->port, "/run/stream", g->key, RUN_BODY, &a, &b, err)) < 0)
                        break;
                samples_add(&f->sse_first, a);
                samples_add(&f->sse_output, b);
                if ((r = e2e_pool_wait_placeable(sched, exe, POOL_TIMEOUT_MS, &pool, err)) < 0 ||
                    (r = grpc_run(sched, &a, &b, err)) < 0)
                        break;
                samples_add(&f->grpc_first, a);
                samples_add(&f->grpc_output, b);
        }
        return r;
}

static int measure(const struct opts *o, struct figures *f, struct ak_error *err)
{
        double t0 = now_ms();
        struct stack st;
        int r = stack_prepare_image(NULL, err);
        if (r < 0)
                return r;
        struct stack_up_options up = { .min_warm = 1, .progress = isatty(2), .gateway_listen = "127.0.0.1:0" };
        if ((r = stack_up(&st, &up, err)) < 0)
                return r;
        if (!st.pid[STACK_GATEWAY])
                return ak_error_set(err, -ECHILD, "ak-gateway did not start: %s", up.gateway_error);
        f->up_s = (now_ms() - t0) / 1e3;
        const char *colon = strrchr(st.addr[STACK_GATEWAY], ':');
        struct gw g = { .port = (uint16_t)atoi(colon ? colon + 1 : "0") };
        struct rpc_channel *ch = NULL;
        struct rpc_call_options copts;
        if ((r = stack_client(false, &ch, &copts, err)) < 0)
                return r;
        g.key = copts.bearer_token;   /* ak up: the stack's token is the gateway's API key */
        struct e2e_target sched = { st.addr[STACK_SCHEDULER], &ak__v1__scheduler__descriptor, copts.bearer_token };
        struct e2e_target exe = { st.addr[STACK_EXECUTOR], &ak__v1__executor__descriptor, copts.bearer_token };
        if ((r = create_sandbox(ch, copts.bearer_token, err)) == 0 && (r = measure_exec(o, &g, &sched, f, err)) == 0 &&
            (r = measure_health(o, &g, f, err)) == 0)
                r = measure_sse(o, &g, &sched, &exe, f, err);
        rpc_channel_free(ch);
        return r;
}

static void row(const char *what, struct samples *s, const char *note)
{
        printf("  %-44s %9.3f %9.3f  %s\n", what, samples_pct(s, 0.5), samples_pct(s, 0.99), note);
}

static void report(const struct opts *o, struct figures *f)
{
        char what[96], note[64];
        printf("bench/gateway: the local stack as ak up starts it (ak-gateway on 127.0.0.1, real microVMs); "
               "up in %.1f s\n\n", f->up_s);
        printf("  %-44s %9s %9s\n", "exec `true`, one warm persistent sandbox", "p50 ms", "p99 ms");
        snprintf(what, sizeof(what), "POST /sandboxes/%s/exec, 1 client", SANDBOX);
        row(what, &f->gw1, "");
        snprintf(what, sizeof(what), "gRPC Exec to ak-scheduler, 1 client (%d)", o->iterations);
        row(what, &f->grpc1, "baseline, interleaved");
        snprintf(what, sizeof(what), "POST .../exec, %d clients at once", o->clients);
        snprintf(note, sizeof(note), "%.0f calls/s", f->rate_gwn);
        row(what, &f->gwn, note);
        snprintf(what, sizeof(what), "gRPC Exec to ak-scheduler, %d clients", o->clients);
        snprintf(note, sizeof(note), "%.0f calls/s, baseline", f->rate_grpcn);
        row(what, &f->grpcn, note);
        double add1 = samples_pct(&f->gw1, 0.5) - samples_pct(&f->grpc1, 0.5);
        double addn = samples_pct(&f->gwn, 0.5) - samples_pct(&f->grpcn, 0.5);
        printf("  %-44s %9.3f %9s  target <= %.0f ms: %s\n", "gateway adds, p50, 1 client", add1, "",
               TARGET_ADDED_MS, add1 <= TARGET_ADDED_MS ? "met" : "MISSED");
        snprintf(what, sizeof(what), "gateway adds, p50, %d clients", o->clients);
        printf("  %-44s %9.3f %9s  target <= %.0f ms: %s\n\n", what, addn, "", TARGET_ADDED_MS,
               addn <= TARGET_ADDED_MS ? "met" : "MISSED");
        printf("  %-44s %12s %12s\n", "GET /health, keep-alive, for " , "ak-gateway", "bare MHD");
        printf("  %-44s %10.0f/s %10.0f/s\n", "1 client", f->health_gw[0], f->health_bare[0]);
        snprintf(what, sizeof(what), "%d clients", o->clients);
        printf("  %-44s %10.0f/s %10.0f/s\n\n", what, f->health_gw[1], f->health_bare[1]);
        snprintf(what, sizeof(what), "run `echo hi`, a warm VM each (%d runs)", o->sse_runs);
        printf("  %-44s %9s %9s\n", what, "p50 ms", "max ms");
        printf("  %-44s %9.3f %9.3f\n", "POST /run/stream: first byte", samples_pct(&f->sse_first, 0.5),
               samples_pct(&f->sse_first, 1.0));
        printf("  %-44s %9.3f %9.3f\n", "POST /run/stream: first output event", samples_pct(&f->sse_output, 0.5),
               samples_pct(&f->sse_output, 1.0));
        printf("  %-44s %9.3f %9.3f  baseline\n", "gRPC Scheduler.Run: first message", samples_pct(&f->grpc_first, 0.5),
               samples_pct(&f->grpc_first, 1.0));
        printf("  %-44s %9.3f %9.3f  baseline\n", "gRPC Scheduler.Run: first stdout chunk",
               samples_pct(&f->grpc_output, 0.5), samples_pct(&f->grpc_output, 1.0));
}

static int run(const struct opts *o)
{
        struct figures f = { 0 };
        struct ak_error err = { 0 };
        int r = measure(o, &f, &err);
        if (r < 0)
                fprintf(stderr, "gateway_bench: %s (logs in %s/logs)\n", err.msg, g_home);
        else
                report(o, &f);
        samples_free(&f.gw1);
        samples_free(&f.grpc1);
        samples_free(&f.gwn);
        samples_free(&f.grpcn);
        samples_free(&f.sse_first);
        samples_free(&f.sse_output);
        samples_free(&f.grpc_first);
        samples_free(&f.grpc_output);
        fflush(NULL);
        return r < 0 ? 1 : 0;
}

static int parse_int(const char *flag, const char *v, int lo, int hi, int *ret)
{
        unsigned n;
        if (ak_parse_uint(v, (unsigned)lo, (unsigned)hi, &n) < 0) {
                fprintf(stderr, "gateway_bench: %s %s: want a number from %d to %d\n", flag, v, lo, hi);
                return -1;
        }
        *ret = (int)n;
        return 0;
}

int main(int argc, char **argv)
{
        struct opts o = { .iterations = 200, .clients = 16, .per_client = 24, .health_s = 3, .sse_runs = 5 };
        for (int i = 1; i < argc; i += 2) {
                int bad = i + 1 >= argc;
                if (!bad && strcmp(argv[i], "--iterations") == 0)
                        bad = parse_int(argv[i], argv[i + 1], 1, 100000, &o.iterations);
                else if (!bad && strcmp(argv[i], "--clients") == 0)
                        bad = parse_int(argv[i], argv[i + 1], 1, 256, &o.clients);
                else if (!bad && strcmp(argv[i], "--per-client") == 0)
                        bad = parse_int(argv[i], argv[i + 1], 2, 10000, &o.per_client);
                else if (!bad && strcmp(argv[i], "--health-s") == 0)
                        bad = parse_int(argv[i], argv[i + 1], 1, 600, &o.health_s);
                else if (!bad && strcmp(argv[i], "--sse-runs") == 0)
                        bad = parse_int(argv[i], argv[i + 1], 1, 100, &o.sse_runs);
                else
                        bad = 1;
                if (bad) {
                        fprintf(stderr, "usage: gateway [--iterations N (200)] [--clients N (16)] "
                                        "[--per-client N (24)] [--health-s S (3)] [--sse-runs N (5)]\n");
                        return 2;
                }
        }
        char tmpl[] = "/tmp/akgwb.XXXXXX";
        if (!mkdtemp(tmpl)) {
                perror("gateway_bench: mkdtemp");
                return 1;
        }
        snprintf(g_home, sizeof(g_home), "%s", tmpl);
        setenv("AK_HOME", g_home, 1);
        unsetenv("AK_SCHEDULER");
        unsetenv("AK_TOKEN");
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                perror("gateway_bench: PR_SET_CHILD_SUBREAPER (left-over processes may escape)");
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGCHLD);
        sigprocmask(SIG_BLOCK, &set, &old);
        fflush(NULL);
        pid_t child = fork();
        if (child < 0) {
                perror("gateway_bench: fork");
                e2e_cleanup(g_home);
                return 1;
        }
        if (child == 0) {
                setpgid(0, 0);
                sigprocmask(SIG_SETMASK, &old, NULL);
                signal(SIGPIPE, SIG_IGN);
                _exit(run(&o));
        }
        setpgid(child, child);
        int code = e2e_supervise(child, &set, g_home);
        e2e_cleanup(g_home);
        return code;
}
